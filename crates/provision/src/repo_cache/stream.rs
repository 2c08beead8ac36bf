//! A tar sent while it is produced: the git walk writes into a [`ChunkWriter`] on a worker
//! thread, and the chunks arrive on a bounded channel, so the tree is never whole in memory
//! and its transfer overlaps its production.

use std::io::{self, Write};

use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use slipway_core::{Error, Result};
use tokio::sync::mpsc;

/// Bytes per chunk sent.
const CHUNK: usize = 256 * 1024;
/// Chunks in flight between the walk and the consumer.
const IN_FLIGHT: usize = 8;

/// Buffers writes and sends them in [`CHUNK`]s; a gone receiver is a broken pipe.
pub(crate) struct ChunkWriter {
    buffer: Vec<u8>,
    sender: mpsc::Sender<Result<Vec<u8>>>,
}

impl ChunkWriter {
    /// A writer and the stream of what it sends.
    pub(crate) fn channel() -> (Self, BoxStream<'static, Result<Vec<u8>>>) {
        let (sender, receiver) = mpsc::channel(IN_FLIGHT);
        let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|chunk| (chunk, receiver))
        });
        (
            Self {
                buffer: Vec::with_capacity(CHUNK),
                sender,
            },
            stream.boxed(),
        )
    }

    fn send(&mut self, item: Result<Vec<u8>>) -> io::Result<()> {
        self.sender
            .blocking_send(item)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the tar's reader went away"))
    }

    /// Ends the stream with `error` (the walk failed).
    pub(crate) fn fail(mut self, error: Error) {
        let _ = self.send(Err(error));
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.send(Ok(chunk))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn chunks_arrive_in_order_and_an_error_ends_the_stream() {
        let (mut writer, stream) = ChunkWriter::channel();
        let worker = std::thread::spawn(move || {
            for i in 0..1000u32 {
                writer.write_all(&[(i % 251) as u8; 1000]).unwrap();
            }
            writer.flush().unwrap();
            writer.fail(Error::backend("walk failed"));
        });
        let items: Vec<Result<Vec<u8>>> = stream.collect().await;
        worker.join().unwrap();
        let (bytes, error) = items.split_at(items.len() - 1);
        let bytes: Vec<u8> = bytes
            .iter()
            .flat_map(|c| c.as_ref().unwrap().clone())
            .collect();
        assert_eq!(bytes.len(), 1_000_000);
        assert!(bytes
            .chunks(1000)
            .enumerate()
            .all(|(i, c)| c[0] == (i % 251) as u8));
        assert!(error[0].is_err());
        // A writer whose reader is gone fails instead of blocking.
        let (mut orphan, stream) = ChunkWriter::channel();
        drop(stream);
        let failed = std::thread::spawn(move || orphan.write_all(&vec![0; CHUNK]))
            .join()
            .unwrap();
        assert_eq!(failed.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    }
}
