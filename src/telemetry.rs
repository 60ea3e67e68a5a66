//! Log set-up: `FLOODGATE_LOG` as a tracing filter, text or JSON lines on stderr, written by a
//! thread of their own through a bounded, lossy queue.
//!
//! Why lossy: during a flood every rejection logs a line. Written on the request path, a slow
//! stderr reader (a log shipper that falls behind, a full pipe) would stall tokio's workers, and
//! their decisions would time out as if Redis were slow. A dropped log line costs nothing; a
//! stalled callback costs a message. Dropped lines are counted
//! (`floodgate_log_lines_dropped_total`).

use std::io::{self, Write};

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Lines waiting for the writer thread at most; past it new lines are dropped.
const QUEUED_LINES: usize = 16_384;

/// Keeps the writer thread alive (it flushes what is queued when dropped) and counts drops.
pub struct Logging {
    _writer: WorkerGuard,
    dropped: ErrorCounter,
}

impl Logging {
    /// Log lines dropped so far because the queue was full.
    pub fn dropped_lines(&self) -> u64 {
        self.dropped.dropped_lines() as u64
    }

    /// The counter of dropped lines, to read from elsewhere (the metrics).
    pub fn dropped_counter(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let dropped = self.dropped.clone();
        move || dropped.dropped_lines() as u64
    }
}

/// Installs the global subscriber; call once, from `main`, and keep the result until exit.
pub fn init(config: &Config) -> Logging {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("floodgate-log")
        .finish(LossyStderr);
    let dropped = writer.error_counter();
    // The filter was validated when the config was parsed.
    let filter = EnvFilter::try_new(&config.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
    Logging {
        _writer: guard,
        dropped,
    }
}

/// stderr that drops what it cannot write. A log line is never worth a callback: when the log
/// collector goes away (a closed pipe), requests must still be answered.
struct LossyStderr;

impl Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = io::stderr().write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let _ = io::stderr().flush();
        Ok(())
    }
}
