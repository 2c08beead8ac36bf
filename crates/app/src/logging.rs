//! Logging for slipway's binaries: `RUST_LOG` (or a verbosity default) for what to show, and
//! a ceiling no filter can lift on the HTTP and engine client crates, which log request and
//! response bodies — environment values, secrets included — at debug and trace.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{EnvFilter, FilterFn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Crates whose logs stop at `info`, whatever `RUST_LOG` asks for.
pub const CAPPED_TARGETS: &[&str] = &[
    "bollard",
    "hyper",
    "hyper_util",
    "h2",
    "tonic",
    "tower",
    "reqwest",
    "rustls",
    "git2",
];

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Whether a log line from `metadata` may be written at all: the capped crates only up to
/// `info`.
pub fn allowed(metadata: &Metadata<'_>) -> bool {
    let target = metadata.target();
    let capped = CAPPED_TARGETS.iter().any(|crate_name| {
        target == *crate_name
            || target
                .strip_prefix(crate_name)
                .is_some_and(|rest| rest.starts_with("::"))
    });
    !capped || *metadata.level() <= Level::INFO
}

/// The filter for `rust_log` (the `RUST_LOG` value, if set) or the default for `verbose`
/// (0: warnings, 1: slipway's debug, 2+: everything's debug and slipway's trace).
pub fn filter(rust_log: Option<&str>, verbose: u8) -> EnvFilter {
    let default = match verbose {
        0 => "warn",
        1 => "info,slipway=debug",
        _ => "debug,slipway=trace",
    };
    rust_log
        .and_then(|directives| EnvFilter::try_new(directives).ok())
        .unwrap_or_else(|| EnvFilter::new(default))
}

/// Installs the global subscriber writing to stderr.
pub fn init(format: LogFormat, rust_log: Option<&str>, verbose: u8) {
    let ceiling = FilterFn::new(allowed);
    let filter = filter(rust_log, verbose);
    let registry = tracing_subscriber::registry();
    let result = match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
                    .with_filter(filter)
                    .with_filter(ceiling),
            )
            .try_init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_filter(filter)
                    .with_filter(ceiling),
            )
            .try_init(),
    };
    if let Err(e) = result {
        eprintln!("warning: logging was already set up: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn engine_client_debug_lines_are_dropped_even_at_trace() {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .with_writer(captured.clone())
                .with_filter(filter(Some("trace"), 0))
                .with_filter(FilterFn::new(allowed)),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "bollard::docker", "body {{\"Env\":[\"TOKEN=s3cr3t\"]}}");
            tracing::trace!(target: "hyper_util::client", "s3cr3t on the wire");
            tracing::info!(target: "bollard", "connected");
            tracing::trace!(target: "slipway_pool", "our own trace");
            tracing::trace!(target: "bollardish", "not the engine client");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(
            text.contains("connected") && text.contains("our own trace"),
            "{text}"
        );
        assert!(text.contains("not the engine client"), "{text}");
    }
}
