//! Per-environment log buffers: every line (setup output, the container's stdout and
//! stderr) gets a sequence number and stays in a ring of a configured size, so a client
//! reconnecting with the last number it saw gets exactly what it missed, or hears how much
//! the ring no longer holds.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use serde::Serialize;
use slipway_core::{LogOptions, LogSource, Timestamp};
use tokio::sync::watch;

use crate::state::ApiState;

/// One buffered line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Entry {
    #[serde(skip)]
    pub(crate) seq: u64,
    pub(crate) line: String,
    /// Milliseconds since the epoch.
    pub(crate) timestamp: i64,
    /// `stdout`, `stderr` or `setup`.
    pub(crate) stream: &'static str,
}

/// What a reader gets from a buffer at once.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Read {
    /// Lines the ring dropped before the reader got them.
    pub(crate) missed: u64,
    /// The lines after the reader's position, in order.
    pub(crate) entries: Vec<Entry>,
}

/// One environment's ring.
pub(crate) struct Buffer {
    inner: Mutex<Ring>,
    /// Whether a task follows the container's output into the buffer.
    following: std::sync::atomic::AtomicBool,
    /// The last sequence number written (0: none) and whether the output ended.
    changed: watch::Sender<(u64, bool)>,
}

struct Ring {
    entries: VecDeque<Entry>,
    capacity: usize,
    next_seq: u64,
}

impl Buffer {
    fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Ring {
                entries: VecDeque::with_capacity(capacity.min(1024)),
                capacity,
                next_seq: 1,
            }),
            following: std::sync::atomic::AtomicBool::new(false),
            changed: watch::channel((0, false)).0,
        }
    }

    /// Appends a line.
    pub(crate) fn push(&self, stream: &'static str, line: String, timestamp: Timestamp) {
        let mut ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.entries.len() == ring.capacity {
            ring.entries.pop_front();
        }
        ring.entries.push_back(Entry {
            seq,
            line,
            timestamp: timestamp.unix_millis(),
            stream,
        });
        drop(ring);
        self.changed.send_modify(|(last, _)| *last = seq);
    }

    /// Marks the output as ended (the container stopped).
    pub(crate) fn end(&self) {
        self.changed.send_modify(|(_, ended)| *ended = true);
    }

    /// The lines after `after` (0: from the start of what is kept).
    pub(crate) fn read_after(&self, after: u64) -> Read {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = ring.entries.front().map_or(ring.next_seq, |e| e.seq);
        let missed = oldest.saturating_sub(after + 1);
        let entries = ring
            .entries
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect();
        Read { missed, entries }
    }

    /// The sequence number the last `n` lines start after.
    pub(crate) fn tail_start(&self, n: usize) -> u64 {
        let ring = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let last = ring.next_seq - 1;
        last.saturating_sub(n.min(ring.entries.len()) as u64)
    }

    /// Changes from now on: the last sequence number and whether the output ended.
    pub(crate) fn subscribe(&self) -> watch::Receiver<(u64, bool)> {
        self.changed.subscribe()
    }
}

/// Every environment's buffer in this process.
pub(crate) struct LogHub {
    buffers: Mutex<HashMap<String, Arc<Buffer>>>,
    capacity: usize,
}

impl LogHub {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            buffers: Mutex::default(),
            capacity: capacity.max(1),
        }
    }

    /// `id`'s buffer, made on first use.
    pub(crate) fn buffer(&self, id: &str) -> Arc<Buffer> {
        self.buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(id.to_owned())
            .or_insert_with(|| Arc::new(Buffer::new(self.capacity)))
            .clone()
    }

    /// Forgets `id`'s buffer (destroyed).
    pub(crate) fn forget(&self, id: &str) {
        if let Some(buffer) = self
            .buffers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
        {
            buffer.end();
        }
    }
}

impl ApiState {
    /// `id`'s buffer, following its container's output into it from the first call on.
    pub(crate) async fn logs_of(&self, id: &str) -> slipway_core::Result<Arc<Buffer>> {
        let container = self.services().environments()?.container(id).await?;
        let runtime = self.services().runtime()?;
        let buffer = self.log_hub().buffer(id);
        if buffer
            .following
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Ok(buffer);
        }
        let options = LogOptions {
            follow: true,
            ..LogOptions::default()
        };
        let mut lines = runtime.logs(&container, &options);
        let follower = buffer.clone();
        tokio::spawn(async move {
            while let Some(Ok(line)) = lines.next().await {
                let stream = match line.source {
                    LogSource::Stderr => "stderr",
                    LogSource::Stdout | LogSource::Console => "stdout",
                };
                let at = line.timestamp.unwrap_or_else(Timestamp::now);
                follower.push(stream, line.line, at);
            }
            follower.end();
        });
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(capacity: usize, lines: u64) -> Buffer {
        let buffer = Buffer::new(capacity);
        for n in 1..=lines {
            buffer.push(
                "stdout",
                format!("line {n}"),
                Timestamp::from_unix_millis(0),
            );
        }
        buffer
    }

    #[test]
    fn a_reader_gets_exactly_what_followed_its_last_line() {
        let buffer = filled(100, 10);
        let read = buffer.read_after(4);
        assert_eq!(read.missed, 0);
        let seqs: Vec<u64> = read.entries.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [5, 6, 7, 8, 9, 10]);
        assert!(buffer.read_after(10).entries.is_empty());
    }

    #[test]
    fn lines_the_ring_dropped_are_counted_as_missed() {
        let buffer = filled(5, 12);
        let read = buffer.read_after(3);
        assert_eq!(read.missed, 4, "lines 4-7 are gone");
        assert_eq!(read.entries.first().unwrap().seq, 8);
        assert_eq!(read.entries.len(), 5);
        assert_eq!(buffer.read_after(0).missed, 7);
    }

    #[test]
    fn tail_starts_n_lines_before_the_end() {
        let buffer = filled(100, 10);
        assert_eq!(buffer.tail_start(3), 7);
        assert_eq!(buffer.tail_start(50), 0);
        assert_eq!(Buffer::new(5).tail_start(3), 0);
    }
}
