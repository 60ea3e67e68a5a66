//! The operator's domain lists (`FLOODGATE_LINK_DENY`, `FLOODGATE_LINK_ALLOW`) as a typed value:
//! parsed by `config`, matched against hosts by `engine::links`. Below both, so that config
//! does not depend on the engine. Finding links in text is the engine's, not this module's.

use unicode_normalization::UnicodeNormalization;

/// A comma-separated list of domains, each kept in ASCII, lowercase, without a trailing dot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DomainList(Vec<String>);

impl DomainList {
    /// Parses `example.com, 例え.jp`; an entry that is not a domain is an error naming it.
    pub fn parse(text: &str) -> Result<DomainList, String> {
        let mut domains = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let ascii = ascii_domain(entry)
                .filter(|d| d.contains('.'))
                .ok_or_else(|| format!("`{entry}` is not a domain such as example.com"))?;
            domains.push(ascii);
        }
        Ok(DomainList(domains))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `host` (ASCII, lowercase) is a listed domain or a subdomain of one.
    pub fn contains(&self, host: &str) -> bool {
        self.covers(host).is_some()
    }

    /// The length of the longest listed domain that `host` is or is a subdomain of: the more
    /// specific of a denied and an allowed domain wins.
    pub fn covers(&self, host: &str) -> Option<usize> {
        self.0
            .iter()
            .filter(|domain| {
                host == domain.as_str()
                    || host
                        .strip_suffix(domain.as_str())
                        .is_some_and(|rest| rest.ends_with('.'))
            })
            .map(String::len)
            .max()
    }
}

/// A domain in the form hosts are compared in: ASCII (punycode), lowercase, no trailing dot.
/// The URL parser does the IDNA mapping, the same one that reads the hosts of links.
fn ascii_domain(domain: &str) -> Option<String> {
    let domain: String = domain.nfkc().collect();
    if domain.contains(['/', ':', '@', ' ']) {
        return None;
    }
    let url = url::Url::parse(&format!("http://{}", domain.trim_end_matches('.'))).ok()?;
    let host = url.host_str()?.trim_end_matches('.');
    (!host.is_empty()).then(|| host.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_entry_that_is_not_a_domain_is_refused() {
        for bad in ["localhost", "http://x.com/path", "a b.com", "user@x.com"] {
            assert!(DomainList::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(DomainList::parse(" ,, ").unwrap(), DomainList::default());
    }

    #[test]
    fn entries_are_kept_in_the_form_hosts_are_compared_in() {
        let list = DomainList::parse(" Example.COM., 例え.jp ").unwrap();
        assert!(list.contains("example.com"));
        assert!(list.contains("www.example.com"));
        assert!(list.contains("xn--r8jz45g.jp"));
        assert!(!list.contains("notexample.com"));
        assert_eq!(list.covers("a.b.example.com"), Some("example.com".len()));
    }
}
