//! Keeps the keyword list in force in step with `FLOODGATE_KEYWORDS_FILE`: read at start (a
//! file that cannot be read or parsed stops start-up), then again within [`CHECK_EVERY`] of a
//! change and on SIGHUP. A reload that fails keeps the list in force, logs why (the file and
//! the line) and is counted; requests never wait for any of it.

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
        };
        file.load()?;
        Ok(file)
    }

    /// Reads the file again whatever its stamp (SIGHUP); a failure keeps the list in force.
    pub fn reload(&self, why: &str) {
        match self.load() {
            Ok(entries) => {
                self.metrics.reload("ok");
                tracing::info!(file = %self.path.display(), entries, why, "keyword list reloaded");
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

    fn load(&self) -> Result<usize, String> {
        let before = stamp(&self.path).map_err(|error| format!("cannot read it: {error}"))?;
        let text = std::fs::read_to_string(&self.path)
            .map_err(|error| format!("cannot read it: {error}"))?;
        let list = KeywordList::parse(&text).map_err(|error| error.to_string())?;
        let entries = list.len();
        self.rules.replace_keywords(list);
        *self.loaded.lock() = Some(before);
        Ok(entries)
    }
}

fn stamp(path: &Path) -> std::io::Result<Stamp> {
    let metadata = std::fs::metadata(path)?;
    Ok((metadata.modified().ok(), metadata.len()))
}
