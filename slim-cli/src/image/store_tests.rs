//! The layer store's reader on layers made here: an archive, its tar-split record (every
//! byte but file content, as the engine records it) and its directory of files (as the
//! engine unpacks it). The index read through the record must equal the archive's, and
//! content read from the directory must be the archive's or an error.

use std::io::{Read, Write};
use std::path::Path;

use base64::Engine as _;
use flate2::Compression;
use flate2::write::GzEncoder;
use slim_test_kit::{ScratchDir, TarWriter};

use super::*;
use crate::image::index::{FsIndex, LayerSource, NodeKind};

/// The tar-split record of `archive`: segments of raw bytes around each regular file's
/// content, which is given by size and CRC-64 only.
fn record_of(archive: &[u8]) -> Vec<u8> {
    let mut lines = Vec::new();
    let mut cursor = 0usize;
    let mut reader = tar::Archive::new(archive);
    let segment = |bytes: &[u8], lines: &mut Vec<u8>| {
        let payload = base64::engine::general_purpose::STANDARD.encode(bytes);
        writeln!(lines, r#"{{"type":2,"payload":"{payload}","position":0}}"#).unwrap();
    };
    for entry in reader.entries().unwrap() {
        let entry = entry.unwrap();
        let regular = matches!(
            entry.header().entry_type(),
            tar::EntryType::Regular | tar::EntryType::Continuous
        );
        let start = usize::try_from(entry.raw_file_position()).unwrap();
        let size = if regular { entry.size() } else { 0 };
        segment(&archive[cursor..start], &mut lines);
        let content = &archive[start..start + size as usize];
        let payload = if size > 0 {
            let mut crc = Crc64::new();
            crc.update(content);
            format!(
                r#""{}""#,
                base64::engine::general_purpose::STANDARD.encode(crc.value().to_be_bytes())
            )
        } else {
            "null".to_string()
        };
        writeln!(
            lines,
            r#"{{"type":1,"name":"x","size":{size},"payload":{payload},"position":0}}"#
        )
        .unwrap();
        cursor = start + size as usize;
    }
    segment(&archive[cursor..], &mut lines);
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&lines).unwrap();
    gz.finish().unwrap()
}

/// Writes every regular file of the archive's index where the engine unpacks it.
fn unpack_like_the_engine(index: &FsIndex, diff: &Path) {
    fs_err::create_dir_all(diff).unwrap();
    for (path, node) in index.iter() {
        let at = diff.join(String::from_utf8_lossy(&path[1..]).as_ref());
        match node.kind {
            NodeKind::Dir => fs_err::create_dir_all(&at).unwrap(),
            NodeKind::File { .. } => {
                fs_err::create_dir_all(at.parent().unwrap()).unwrap();
                let mut content = Vec::new();
                index.open(node).unwrap().read_to_end(&mut content).unwrap();
                fs_err::write(&at, content).unwrap();
            }
            _ => {}
        }
    }
}

/// A layer, as an archive index and as a store index over the same bytes.
fn both(scratch: &ScratchDir, layer: TarWriter) -> (FsIndex, FsIndex) {
    let bytes = layer.finish();
    let tar = scratch.write("layer.tar", &bytes);
    let from_archive = FsIndex::from_layers(&[tar]).unwrap();
    let record = scratch.write("tar-split.json.gz", record_of(&bytes));
    let diff = scratch.join("diff");
    unpack_like_the_engine(&from_archive, &diff);
    let stored = StoredLayer::new(diff, record).unwrap();
    let from_store = FsIndex::from_sources(vec![LayerSource::Store(stored)]).unwrap();
    (from_archive, from_store)
}

fn content(index: &FsIndex, path: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    index
        .open(index.get(path).unwrap())?
        .read_to_end(&mut out)?;
    Ok(out)
}

fn layer() -> TarWriter {
    TarWriter::new()
        .dir("etc")
        .file("etc/hostname", "original\n")
        .file("etc/empty", "")
        .hard_link("etc/hostname-again", "etc/hostname")
        .symlink("etc/localtime", "/usr/share/zoneinfo/UTC")
        .dir("usr/share/zoneinfo")
        .file("usr/share/zoneinfo/UTC", vec![7u8; 70_000])
        .file(format!("opt/{}/long-name", "d".repeat(120)), "long")
        .entry(
            slim_test_kit::Entry::file("usr/bin/ping", "ping")
                .mode(0o4755)
                .xattr("security.capability", b"\x01\x00\x00\x02"),
        )
        .fifo("run/fifo")
        .whiteout("var/gone")
}

#[test]
fn crc64_is_the_engines_iso_checksum() {
    let mut crc = Crc64::new();
    crc.update(b"123456789");
    assert_eq!(crc.value(), 0xb909_56c7_75a4_1001);
    // Eight bytes at a step and byte by byte give the same value, split anywhere.
    let bytes: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
    let mut whole = Crc64::new();
    whole.update(&bytes);
    let mut pieces = Crc64::new();
    for piece in bytes.chunks(7) {
        pieces.update(piece);
    }
    assert_eq!(whole.value(), pieces.value());
}

#[test]
fn the_record_indexes_like_the_archive_and_reads_the_same_content() {
    let scratch = ScratchDir::new("store-same");
    let (from_archive, from_store) = both(&scratch, layer());
    let archive: Vec<_> = from_archive.iter().collect();
    let store: Vec<_> = from_store.iter().collect();
    assert_eq!(archive, store);
    for (path, node) in from_archive.iter() {
        if matches!(node.kind, NodeKind::File { .. }) {
            assert_eq!(
                content(&from_archive, path).unwrap(),
                content(&from_store, path).unwrap(),
                "{}",
                String::from_utf8_lossy(path)
            );
        }
    }
}

#[test]
fn the_rebuilt_archive_is_the_archive_byte_for_byte() {
    let scratch = ScratchDir::new("store-rebuilt");
    let (_, from_store) = both(&scratch, layer());
    let mut rebuilt = Vec::new();
    from_store
        .rebuilt_layer(0)
        .unwrap()
        .unwrap()
        .read_to_end(&mut rebuilt)
        .unwrap();
    assert!(rebuilt == layer().finish(), "the rebuilt archive differs");
}

#[test]
fn content_changed_after_indexing_is_an_error_never_a_substitute() {
    let scratch = ScratchDir::new("store-changed");
    let (_, from_store) = both(&scratch, layer());
    // Same size, other bytes: only the checksum tells.
    fs_err::write(scratch.join("diff/etc/hostname"), "0riginal\n").unwrap();
    let error = content(&from_store, b"/etc/hostname").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("changed since the image was indexed"),
        "{error}"
    );
    // The hard link reads the same file, so it fails the same way.
    assert!(content(&from_store, b"/etc/hostname-again").is_err());
    // Another size: refused before reading.
    fs_err::write(scratch.join("diff/usr/share/zoneinfo/UTC"), "short").unwrap();
    let error = content(&from_store, b"/usr/share/zoneinfo/UTC").unwrap_err();
    assert!(
        error.to_string().contains("not the recorded 70000"),
        "{error}"
    );
}

#[test]
fn a_symlink_in_the_layer_directory_is_never_followed() {
    let scratch = ScratchDir::new("store-symlink");
    let (_, from_store) = both(&scratch, layer());
    // A directory on the way replaced by a link to a host directory holding the same name.
    let host = scratch.join("host");
    fs_err::create_dir_all(&host).unwrap();
    fs_err::write(host.join("hostname"), "original\n").unwrap();
    fs_err::remove_dir_all(scratch.join("diff/etc")).unwrap();
    fs_err::os::unix::fs::symlink(&host, scratch.join("diff/etc")).unwrap();
    let error = content(&from_store, b"/etc/hostname").unwrap_err();
    assert!(
        error
            .to_string()
            .contains("Too many levels of symbolic links"),
        "{error}"
    );
    // The file itself replaced by a link: refused the same way.
    fs_err::write(
        scratch.join("diff/usr/share/zoneinfo/real"),
        vec![7u8; 70_000],
    )
    .unwrap();
    fs_err::remove_file(scratch.join("diff/usr/share/zoneinfo/UTC")).unwrap();
    fs_err::os::unix::fs::symlink("real", scratch.join("diff/usr/share/zoneinfo/UTC")).unwrap();
    assert!(content(&from_store, b"/usr/share/zoneinfo/UTC").is_err());
}

#[test]
fn the_record_never_serves_content_and_only_moves_forward() {
    let bytes = TarWriter::new().file("a", "content").finish();
    let record = record_of(&bytes);
    let lines = BufReader::new(GzDecoder::new(std::io::Cursor::new(record)));
    let mut recorded = RecordedArchive::new(Box::new(lines));
    let mut header = [0u8; 512];
    recorded.read_exact(&mut header).unwrap();
    assert_eq!(&header[..], &bytes[..512]);
    let mut byte = [0u8; 1];
    let error = recorded.read(&mut byte).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::Unsupported);
    assert!(recorded.seek(SeekFrom::Start(0)).is_err());
    assert_eq!(recorded.seek(SeekFrom::Current(512)).unwrap(), 1024);
}
