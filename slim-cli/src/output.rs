//! Where a trace goes: stdout, or a file that appears whole or not at all.
//!
//! A file is written to a temporary sibling and renamed over the target only once every
//! record is written and flushed; on any error, or if the run fails first, the temporary
//! file is removed and the target is left as it was. A target that exists and is not a
//! regular file (`/dev/null`, a FIFO, a terminal) is written in place: renaming over it
//! would replace the device or pipe with a file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::trace::TraceRecord;

/// Where the trace is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputTarget {
    Stdout,
    File(PathBuf),
}

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error(
        "cannot create the output file {path}: {source}\nhint: check that its directory \
         exists and is writable"
    )]
    Create { path: PathBuf, source: io::Error },
    #[error("cannot write the trace to {target}: {source}")]
    Write { target: String, source: io::Error },
}

/// An output opened before the run, so a bad `--output` fails before anything starts.
#[derive(Debug)]
pub enum TraceOutput {
    Stdout,
    File(PendingFile),
    /// A device, FIFO or socket, opened for writing as it is.
    Special {
        path: PathBuf,
        file: File,
    },
}

/// A temporary file that becomes `target` on [`PendingFile::persist`], and is removed if
/// dropped before.
#[derive(Debug)]
pub struct PendingFile {
    target: PathBuf,
    temp: PathBuf,
    file: Option<BufWriter<File>>,
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs_err::remove_file(&self.temp);
        }
    }
}

/// Whether `path` is an existing device, FIFO or socket: output that must appear whole is
/// written to it in place, since renaming a finished file over it would replace the node
/// itself (`--output /dev/null` once did).
pub fn is_written_in_place(path: &Path) -> bool {
    fs_err::metadata(path).is_ok_and(|meta| !meta.is_file() && !meta.is_dir())
}

fn temp_path_for(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trace".to_string());
    target.with_file_name(format!(".{name}.{}.slim-tmp", std::process::id()))
}

impl TraceOutput {
    /// Opens the output; for a file, creates its temporary sibling now.
    pub fn open(target: &OutputTarget) -> Result<TraceOutput, OutputError> {
        match target {
            OutputTarget::Stdout => Ok(TraceOutput::Stdout),
            OutputTarget::File(path) => {
                let create_error = |source| OutputError::Create {
                    path: path.clone(),
                    source,
                };
                if path.is_dir() {
                    return Err(create_error(io::Error::new(
                        io::ErrorKind::IsADirectory,
                        "it is a directory",
                    )));
                }
                if is_written_in_place(path) {
                    #[expect(
                        clippy::disallowed_methods,
                        reason = "the error it maps to names the file"
                    )]
                    let file = std::fs::OpenOptions::new()
                        .write(true)
                        .open(path)
                        .map_err(create_error)?;
                    return Ok(TraceOutput::Special {
                        path: path.clone(),
                        file,
                    });
                }
                let temp = temp_path_for(path);
                #[expect(
                    clippy::disallowed_methods,
                    reason = "the error it maps to names the file"
                )]
                let file = File::create(&temp).map_err(|source| OutputError::Create {
                    path: path.clone(),
                    source,
                })?;
                Ok(TraceOutput::File(PendingFile {
                    target: path.clone(),
                    temp,
                    file: Some(BufWriter::new(file)),
                }))
            }
        }
    }

    /// Writes the records as JSON Lines and, for a file, moves it into place.
    pub fn write_all(self, records: &[TraceRecord]) -> Result<(), OutputError> {
        match self {
            TraceOutput::Stdout => {
                let stdout = io::stdout();
                let mut out = BufWriter::new(stdout.lock());
                write_json_lines(&mut out, records)
                    .and_then(|()| out.flush())
                    .map_err(|source| OutputError::Write {
                        target: "stdout".into(),
                        source,
                    })
            }
            TraceOutput::Special { path, file } => {
                let mut out = BufWriter::new(file);
                write_json_lines(&mut out, records)
                    .and_then(|()| out.flush())
                    .map_err(|source| OutputError::Write {
                        target: path.display().to_string(),
                        source,
                    })
            }
            TraceOutput::File(mut pending) => {
                let result = pending.write_and_persist(records);
                result.map_err(|source| OutputError::Write {
                    target: pending.target.display().to_string(),
                    source,
                })
            }
        }
    }
}

impl PendingFile {
    fn write_and_persist(&mut self, records: &[TraceRecord]) -> io::Result<()> {
        let Some(mut out) = self.file.take() else {
            return Err(io::Error::other("the output was already written"));
        };
        let written = write_json_lines(&mut out, records)
            .and_then(|()| out.flush())
            .and_then(|()| out.get_ref().sync_all())
            .and_then(|()| fs_err::rename(&self.temp, &self.target));
        if written.is_err() {
            let _ = fs_err::remove_file(&self.temp);
        }
        written
    }
}

/// Writes one JSON object per record, each on its own line.
pub fn write_json_lines(out: &mut impl Write, records: &[TraceRecord]) -> io::Result<()> {
    for record in records {
        serde_json::to_writer(&mut *out, record)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_kit::record;
    use crate::trace::AccessKind;
    use slim_probe_ebpf::Syscall;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("slim-output-{name}-{}", std::process::id()));
        let _ = fs_err::remove_dir_all(&dir);
        fs_err::create_dir_all(&dir).unwrap();
        dir
    }

    fn stat(path: &str) -> TraceRecord {
        record(path)
            .of_kind(AccessKind::Stat)
            .via(Syscall::Statx)
            .by(1, "sh")
    }

    #[test]
    fn a_file_appears_whole_with_one_line_per_record() {
        let dir = scratch_dir("whole");
        let target = dir.join("trace.jsonl");
        let output = TraceOutput::open(&OutputTarget::File(target.clone())).unwrap();
        assert!(!target.exists());
        output.write_all(&[stat("/a"), stat("/b")]).unwrap();
        let text = fs_err::read_to_string(&target).unwrap();
        assert_eq!(text.lines().count(), 2);
        assert!(text.starts_with(r#"{"path":"/a","kind":"stat","syscall":"statx""#));
        assert_eq!(fs_err::read_dir(&dir).unwrap().count(), 1);
        fs_err::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_output_dropped_before_writing_leaves_nothing() {
        let dir = scratch_dir("dropped");
        let output = TraceOutput::open(&OutputTarget::File(dir.join("t.jsonl"))).unwrap();
        assert_eq!(fs_err::read_dir(&dir).unwrap().count(), 1);
        drop(output);
        assert_eq!(fs_err::read_dir(&dir).unwrap().count(), 0);
        fs_err::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_output_in_a_missing_directory_fails_when_opened() {
        let target = std::env::temp_dir().join("slim-no-such-dir/x/trace.jsonl");
        let err = TraceOutput::open(&OutputTarget::File(target)).unwrap_err();
        assert!(
            err.to_string().contains("slim-no-such-dir/x/trace.jsonl"),
            "{err}"
        );
    }

    /// `--output /dev/null` once renamed a file over the device node.
    #[test]
    fn a_fifo_target_is_written_in_place_and_stays_a_fifo() {
        use std::os::unix::fs::FileTypeExt;
        let dir = scratch_dir("fifo");
        let fifo = dir.join("trace.fifo");
        let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo on a NUL-terminated path we own.
        assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs_err::read_to_string(fifo).unwrap())
        };
        let output = TraceOutput::open(&OutputTarget::File(fifo.clone())).unwrap();
        output.write_all(&[stat("/a"), stat("/b")]).unwrap();
        assert_eq!(reader.join().unwrap().lines().count(), 2);
        assert!(fs_err::metadata(&fifo).unwrap().file_type().is_fifo());
        assert_eq!(fs_err::read_dir(&dir).unwrap().count(), 1);
        fs_err::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_directory_target_fails_when_opened() {
        let dir = scratch_dir("dir-target");
        let err = TraceOutput::open(&OutputTarget::File(dir.clone())).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        assert_eq!(fs_err::read_dir(&dir).unwrap().count(), 0);
        fs_err::remove_dir_all(dir).unwrap();
    }
}
