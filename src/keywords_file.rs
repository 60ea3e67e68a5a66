//! Keeps the keyword list in force in step with `FLOODGATE_KEYWORDS_FILE`: read at start (a
//! file that cannot be read or parsed stops start-up), then again within [`CHECK_EVERY`] of a
//! change and on SIGHUP. A reload that fails keeps the list in force, logs why (the file and
//! the line) and is counted; requests never wait for any of it.
//!
//! A reload also keeps the list in force when the file looks half-written — an editor that
//! truncates and then writes leaves it empty or cut short for a moment — and reads it again at
//! the next look (`mid_write` says exactly when). An intentionally empty list is a file with
//! a comment line (`# empty`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::Mutex;

use crate::engine::ContentRules;
use crate::engine::keywords::KeywordList;
use crate::metrics::Metrics;

/// How often the file is looked at (its size and modification time; it is read when they move).
pub const CHECK_EVERY: Duration = Duration::from_secs(2);

/// What identifies one version of the file without reading it.
type Stamp = (Option<SystemTime>, u64);

pub struct KeywordFile {
    path: PathBuf,
    rules: Arc<ContentRules>,
    metrics: Metrics,
    loaded: Mutex<Option<Stamp>>,
    /// The version last found half-written: logged and counted once, read again at each look.
    deferred: Mutex<Option<Stamp>>,
}

/// What a read of the file did.
enum Loaded {
    /// The list is in force, with this many entries.
    Entries(usize),
    /// The file looks half-written: the list in force stays, for the reason given.
    Deferred(Stamp, &'static str),
}

impl KeywordFile {
    /// Reads and puts the list in force; the error says what is wrong with the file.
    pub fn load_at_start(
        path: &Path,
        rules: Arc<ContentRules>,
        metrics: Metrics,
    ) -> Result<KeywordFile, String> {
        let file = KeywordFile {
            path: path.to_path_buf(),
            rules,
            metrics,
            loaded: Mutex::new(None),
            deferred: Mutex::new(None),
        };
        // Nothing is in force yet, so nothing can be lost: any file that parses is taken.
        file.load(false)?;
        Ok(file)
    }

    /// Reads the file again whatever its stamp (SIGHUP); a failure keeps the list in force.
    pub fn reload(&self, why: &str) {
        match self.load(true) {
            Ok(Loaded::Entries(entries)) => {
                self.metrics.reload("ok");
                tracing::info!(file = %self.path.display(), entries, why, "keyword list reloaded");
            }
            Ok(Loaded::Deferred(stamp, reason)) => {
                if self.deferred.lock().replace(stamp) != Some(stamp) {
                    self.metrics.reload("error"); // a bad reload to the contract's closed label set
                    tracing::warn!(
                        file = %self.path.display(),
                        reason,
                        why,
                        "keyword list not reloaded yet: the file looks half-written; the \
                         previous list stays in force and the file is read again in 2 s"
                    );
                }
            }
            Err(error) => {
                self.metrics.reload("error");
                tracing::warn!(
                    file = %self.path.display(),
                    %error,
                    why,
                    "keyword list not reloaded; the previous list stays in force"
                );
            }
        }
    }

    /// Reloads when the file's size or modification time moved since it was last read.
    pub fn reload_if_changed(&self) {
        let stamp = stamp(&self.path);
        if stamp.ok() != *self.loaded.lock() {
            self.reload("the file changed");
        }
    }

    /// Looks at the file every [`CHECK_EVERY`] until `stopped` resolves.
    pub async fn watch(self: Arc<Self>, stopped: impl std::future::Future<Output = ()>) {
        tokio::pin!(stopped);
        loop {
            tokio::select! {
                () = tokio::time::sleep(CHECK_EVERY) => {}
                () = &mut stopped => return,
            }
            // Reading a large list takes a moment: off the async workers.
            let file = self.clone();
            let _ = tokio::task::spawn_blocking(move || file.reload_if_changed()).await;
        }
    }

    /// Reads the file and puts its list in force — unless `guarded` and it looks half-written.
    fn load(&self, guarded: bool) -> Result<Loaded, String> {
        let before = stamp(&self.path).map_err(|error| format!("cannot read it: {error}"))?;
        let text = std::fs::read_to_string(&self.path)
            .map_err(|error| format!("cannot read it: {error}"))?;
        let list = KeywordList::parse(&text).map_err(|error| error.to_string())?;
        if guarded && let Some(reason) = mid_write(&text, list.len(), self.rules.keywords()) {
            return Ok(Loaded::Deferred(before, reason));
        }
        let entries = list.len();
        self.rules.replace_keywords(list);
        *self.loaded.lock() = Some(before);
        *self.deferred.lock() = None;
        Ok(Loaded::Entries(entries))
    }
}

/// Why a file read while a list of `in_force` entries is in force looks half-written, if it
/// does: it has no line but blank ones (an empty list needs a comment line, `# empty`), or its
/// last line has no newline and it has fewer than half the entries in force. A file cut short
/// at a line's end with more than half the entries, or a deliberate shrink saved with a final
/// newline, is taken as it is.
fn mid_write(text: &str, entries: usize, in_force: usize) -> Option<&'static str> {
    if text.trim().is_empty() {
        return Some("the file is empty (an empty list is a file with a comment line: # empty)");
    }
    if !text.ends_with('\n') && entries.saturating_mul(2) < in_force {
        return Some(
            "the last line has no newline and the file has fewer than half the entries in force",
        );
    }
    None
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.modified().ok(), metadata.len()))
}

#[cfg(test)]
mod tests {
    use super::mid_write;

    #[test]
    fn an_empty_or_cut_short_file_looks_half_written_and_a_deliberate_one_does_not() {
        assert!(mid_write("", 0, 3).is_some());
        assert!(
            mid_write(" \n\n", 0, 0).is_some(),
            "even with no list in force"
        );
        assert!(
            mid_write("# empty\n", 0, 3).is_none(),
            "an intentionally empty list"
        );
        assert!(
            mid_write("# empty", 0, 3).is_some(),
            "cut short: the newline is missing"
        );
        assert!(
            mid_write("alpha\nbet", 2, 5).is_some(),
            "cut mid-line, under half"
        );
        assert!(
            mid_write("alpha\nbeta\ngam", 3, 5).is_none(),
            "more than half"
        );
        assert!(
            mid_write("alpha\n", 1, 5).is_none(),
            "a shrink saved with a newline"
        );
        assert!(
            mid_write("alpha", 1, 1).is_none(),
            "no newline, nothing lost"
        );
    }
}
