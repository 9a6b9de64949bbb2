//! The rebuild stage: the kept paths of the original filesystem written as one
//! deterministic layer (`layer`), and the image config and archive that carry it into the
//! engine (`archive`), written and loaded into the engine as one stream (`load`).

pub mod archive;
pub mod layer;
pub mod load;

use std::fs::File;
use std::io::{self, Write};

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::engine::ArchiveStream;

/// Size of the chunks the archive is sent to the engine in.
const CHUNK: usize = 1 << 20;

/// A writer whose bytes become the returned stream, in chunks, for a blocking task to
/// write what an async request body reads. Writing fails with `BrokenPipe` once the stream
/// is dropped (the engine stopped reading).
pub fn archive_stream() -> (ChunkSender, ArchiveStream) {
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (Ok(chunk), rx))
    });
    (
        ChunkSender {
            tx,
            buf: Vec::with_capacity(CHUNK),
        },
        Box::pin(stream),
    )
}

/// The writing end of [`archive_stream`]; call from a blocking task only.
#[derive(Debug)]
pub struct ChunkSender {
    tx: mpsc::Sender<Bytes>,
    buf: Vec<u8>,
}

impl ChunkSender {
    fn send_buffered(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the engine stopped reading"))
    }
}

impl Write for ChunkSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send_buffered()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffered()
    }
}

/// The archive going to the engine and, when asked, to a file as well.
#[derive(Debug)]
pub struct Tee {
    engine: ChunkSender,
    file: Option<File>,
}

impl Tee {
    pub fn new(engine: ChunkSender, file: Option<File>) -> Tee {
        Tee { engine, file }
    }

    /// Sends what is buffered and makes sure the file is complete. Dropping the result
    /// ends the stream.
    pub fn finish(mut self) -> io::Result<()> {
        self.flush()
    }
}

impl Write for Tee {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.engine.write(data)?;
        if let Some(file) = &mut self.file {
            file.write_all(&data[..n])?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.engine.flush()?;
        if let Some(file) = &mut self.file {
            file.flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn the_stream_carries_every_byte_written_in_order() {
        let (sender, stream) = archive_stream();
        let writer = tokio::task::spawn_blocking(move || {
            let mut tee = Tee::new(sender, None);
            for i in 0..3 * CHUNK / 1000 + 7 {
                tee.write_all(&[(i % 251) as u8; 1000]).unwrap();
            }
            tee.finish().unwrap();
        });
        let received: Vec<u8> = stream
            .map(|chunk| chunk.unwrap().to_vec())
            .collect::<Vec<_>>()
            .await
            .concat();
        writer.await.unwrap();
        assert_eq!(received.len(), (3 * CHUNK / 1000 + 7) * 1000);
        assert!(
            received
                .chunks(1000)
                .enumerate()
                .all(|(i, c)| c[0] == (i % 251) as u8)
        );
    }

    #[tokio::test]
    async fn writing_after_the_reader_is_gone_is_a_broken_pipe() {
        let (sender, stream) = archive_stream();
        drop(stream);
        let error = tokio::task::spawn_blocking(move || {
            let mut tee = Tee::new(sender, None);
            tee.write_all(&vec![0; 2 * CHUNK]).unwrap_err()
        })
        .await
        .unwrap();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
    }
}
