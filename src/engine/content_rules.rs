//! The content policy in force: the operator's keyword list (replaced whole on every reload)
//! and the link rules. Pure matching: reading the file is the app's business.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use super::folded::Folded;
use super::keywords::KeywordList;
use super::links::LinkRules;
use crate::policy::{Rule, Violation};

pub struct ContentRules {
    keywords: RwLock<Arc<KeywordList>>,
    links: LinkRules,
}

impl ContentRules {
    pub fn new(links: LinkRules) -> ContentRules {
        ContentRules {
            keywords: RwLock::new(Arc::new(KeywordList::empty())),
            links,
        }
    }

    /// Puts `list` in force; decisions under way finish with the list they started with.
    pub fn replace_keywords(&self, list: KeywordList) {
        *self.keywords.write() = Arc::new(list);
    }

    /// Entries of the keyword list in force.
    pub fn keywords(&self) -> usize {
        self.keywords.read().len()
    }

    /// Whether there is anything to check at all (the common case costs nothing then).
    pub fn is_empty(&self) -> bool {
        self.links.deny.is_empty() && self.keywords.read().is_empty()
    }

    /// Whether the keyword list in force has entries (only then is text folded for it).
    pub fn has_keywords(&self) -> bool {
        !self.keywords.read().is_empty()
    }

    /// What `text` (and its `folded` form, when the keyword list has entries) breaks: a
    /// keyword, a denied link, both or neither.
    pub fn violations(
        &self,
        text: &str,
        folded: Option<&Folded>,
    ) -> impl Iterator<Item = Violation> {
        let keywords = self.keywords.read();
        let keyword = folded
            .and_then(|folded| keywords.find(folded))
            .map(|entry| {
                let mut violation = Violation::new(Rule::Keyword, None, Duration::ZERO);
                violation.list_line = Some(entry.line);
                violation
            });
        let link = self
            .links
            .denied_host(text)
            .map(|_| Violation::new(Rule::Link, None, Duration::ZERO));
        keyword.into_iter().chain(link)
    }
}
