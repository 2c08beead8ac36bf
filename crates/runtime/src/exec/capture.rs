//! Collecting an exec's output: capped per stream, with the shim's first line taken off
//! stderr.

use bollard::container::LogOutput;
use futures_util::{Stream, StreamExt};
use slipway_core::{LogSource, OutputTap};

use super::kill::{ExecRoot, ROOT_PREFIX};

/// The most stderr held back while waiting for the shim's line to end.
const ROOT_LINE_LIMIT: usize = 4096;

/// Output captured so far, kept outside the collecting future so a timeout does not lose it.
#[derive(Default)]
pub(super) struct Captured {
    pub(super) stdout: Vec<u8>,
    pub(super) stderr: Vec<u8>,
    pub(super) truncated: bool,
    /// The command's root process, once the shim said it.
    pub(super) root: Option<ExecRoot>,
    /// Stderr held until the shim's line is complete; `None` once it was dealt with.
    head: Option<Vec<u8>>,
    /// Who else sees what is kept, as it arrives.
    tap: OutputTap,
}

impl Captured {
    /// For a command run through the shim: its first stderr line names the root. What is
    /// kept of the rest also goes to `tap`.
    pub(super) fn shimmed(tap: OutputTap) -> Self {
        Self {
            head: Some(Vec::new()),
            tap,
            ..Self::default()
        }
    }

    /// For a command run as it is.
    pub(super) fn plain() -> Self {
        Self::default()
    }

    pub(super) fn push(&mut self, chunk: LogOutput, limit: usize) {
        match chunk {
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                let kept = keep(&mut self.stdout, &message, limit, &mut self.truncated);
                self.tap.send(LogSource::Stdout, kept);
            }
            LogOutput::StdErr { message } => match self.head.as_mut() {
                Some(head) => {
                    head.extend_from_slice(&message);
                    self.settle_head(limit);
                }
                None => {
                    let kept = keep(&mut self.stderr, &message, limit, &mut self.truncated);
                    self.tap.send(LogSource::Stderr, kept);
                }
            },
            LogOutput::StdIn { .. } => {}
        }
    }

    /// Takes the shim's line off the held stderr once it is complete (or clearly isn't one).
    fn settle_head(&mut self, limit: usize) {
        let Some(head) = self.head.as_ref() else {
            return;
        };
        let rest = match head.iter().position(|&b| b == b'\n') {
            Some(end) => {
                let line = String::from_utf8_lossy(&head[..end]);
                match ExecRoot::parse(&line) {
                    Some(root) => {
                        self.root = Some(root);
                        head[end + 1..].to_vec()
                    }
                    None => head.clone(),
                }
            }
            None if head.len() >= ROOT_LINE_LIMIT
                || !ROOT_PREFIX
                    .as_bytes()
                    .starts_with(&head[..head.len().min(ROOT_PREFIX.len())]) =>
            {
                head.clone()
            }
            None => return,
        };
        self.head = None;
        let kept = keep(&mut self.stderr, &rest, limit, &mut self.truncated);
        self.tap.send(LogSource::Stderr, kept);
    }

    /// Gives back whatever stderr is still held (the stream ended mid-line).
    pub(super) fn finish(&mut self, limit: usize) {
        if let Some(head) = self.head.take() {
            let kept = keep(&mut self.stderr, &head, limit, &mut self.truncated);
            self.tap.send(LogSource::Stderr, kept);
        }
    }
}

/// Appends what fits under `limit` of `bytes` to `target` and returns that part.
fn keep<'a>(target: &mut Vec<u8>, bytes: &'a [u8], limit: usize, truncated: &mut bool) -> &'a [u8] {
    let room = limit.saturating_sub(target.len());
    if bytes.len() > room {
        *truncated = true;
    }
    let kept = &bytes[..bytes.len().min(room)];
    target.extend_from_slice(kept);
    kept
}

/// Reads `output` to its end into `captured`.
pub(super) async fn drain<S>(
    output: &mut S,
    captured: &mut Captured,
    limit: usize,
) -> Result<(), bollard::errors::Error>
where
    S: Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
{
    while let Some(chunk) = output.next().await {
        captured.push(chunk?, limit);
    }
    Ok(())
}

/// Reads `output` until the shim's line arrived (or the stream ended).
pub(super) async fn until_root<S>(
    output: &mut S,
    captured: &mut Captured,
    limit: usize,
) -> Result<(), bollard::errors::Error>
where
    S: Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
{
    while captured.head.is_some() {
        match output.next().await {
            Some(chunk) => captured.push(chunk?, limit),
            None => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> LogOutput {
        LogOutput::StdErr {
            message: text.as_bytes().to_vec().into(),
        }
    }

    #[test]
    fn the_shim_s_line_is_taken_off_stderr_even_when_split() {
        let mut captured = Captured::shimmed(OutputTap::default());
        captured.push(
            err("slipway-exec 7 (sh) S 0 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 "),
            100,
        );
        assert!(captured.root.is_none());
        captured.push(err("555 0\nreal error\n"), 100);
        captured.push(err("more\n"), 100);
        assert_eq!(
            captured.root,
            Some(ExecRoot {
                pid: 7,
                start_ticks: 555
            })
        );
        assert_eq!(captured.stderr, b"real error\nmore\n");
    }

    #[test]
    fn stderr_that_is_not_the_shim_s_is_kept_whole() {
        let mut captured = Captured::shimmed(OutputTap::default());
        captured.push(err("sh: can't open"), 100);
        captured.push(err(" /proc\n"), 100);
        assert_eq!(captured.root, None);
        assert_eq!(captured.stderr, b"sh: can't open /proc\n");

        let mut cut = Captured::shimmed(OutputTap::default());
        cut.push(err("slipway-exec 7 (sh"), 100);
        cut.finish(100);
        assert_eq!(
            cut.stderr, b"slipway-exec 7 (sh",
            "a cut line is given back"
        );
    }

    #[test]
    fn the_tap_sees_what_is_kept_and_not_the_shim_s_line() {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        let tap = OutputTap::new(move |source, bytes| {
            sink.lock().unwrap().push((source, bytes.to_vec()));
        });
        let mut captured = Captured::shimmed(tap);
        captured.push(
            err("slipway-exec 7 (sh) S 0 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 555 0\nwarn\n"),
            6,
        );
        captured.push(
            LogOutput::StdOut {
                message: b"hello world".to_vec().into(),
            },
            6,
        );
        captured.push(err("dropped"), 6);
        assert_eq!(
            *seen.lock().unwrap(),
            vec![
                (LogSource::Stderr, b"warn\n".to_vec()),
                (LogSource::Stdout, b"hello ".to_vec()),
                (LogSource::Stderr, b"d".to_vec()),
            ]
        );
    }

    #[test]
    fn each_stream_keeps_at_most_its_limit() {
        let mut captured = Captured::plain();
        captured.push(
            LogOutput::StdOut {
                message: vec![b'x'; 10].into(),
            },
            4,
        );
        captured.push(err("abcdef"), 4);
        assert_eq!((captured.stdout.len(), captured.stderr.len()), (4, 4));
        assert!(captured.truncated);
    }
}
