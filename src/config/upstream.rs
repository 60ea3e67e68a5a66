//! `FLOODGATE_UPSTREAM_URL` and `FLOODGATE_UPSTREAM_CA`: where the operator's webhook is and
//! how to reach it, split at start-up into the parts a call needs. Calling it is `http::upstream`.
//!
//! The URL may be anything OpenIM's own `url` may be: `http://` or `https://`, with
//! `user:password@` (sent as HTTP Basic) and a query string. The credentials live only in a
//! [`Secret`]: the base kept for building request URIs, and hence every error and log line that
//! names a URI, has none.

use std::time::Duration;

use base64::Engine;
use percent_encoding::percent_decode_str;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::{FailMode, Secret};

/// The operator's own webhook service, behind floodgate (README "One webhook URL").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// `http[s]://host[:port][/prefix]`: no credentials, no query, no trailing slash. A call goes
    /// to `<base>/<command>`.
    pub base: String,
    /// The URL's own query string, sent before the one a callback arrives with.
    pub query: Option<String>,
    /// The `Authorization` header value (`Basic …`) made from the URL's userinfo.
    pub authorization: Option<Secret>,
    /// Trust anchors from `FLOODGATE_UPSTREAM_CA`, on top of the system's.
    pub extra_roots: Vec<CertificateDer<'static>>,
    pub timeout: Duration,
    /// `Open`: answer as if there were no upstream; `Closed`: reject judged commands with 5098.
    pub fail_mode: FailMode,
}

/// OpenIM's webhook client gives up on every call after 15 s, whatever the hook's `timeout`.
const OPENIM_CLIENT_CAP: Duration = Duration::from_secs(15);

/// An upstream budget that, with the decision's, reaches OpenIM's cap would never let the fail
/// mode answer: OpenIM would reject the message (90004) first.
pub(super) fn within_openims_cap(
    timeout: Duration,
    redis_timeout: Duration,
) -> Result<Duration, String> {
    if timeout + redis_timeout >= OPENIM_CLIENT_CAP {
        return Err(format!(
            "with FLOODGATE_REDIS_TIMEOUT ({redis_timeout:?}) it must stay under {}s: OpenIM's \
             webhook client gives up on every call after that, before floodgate could answer",
            OPENIM_CLIENT_CAP.as_secs()
        ));
    }
    Ok(timeout)
}

/// The parts of `FLOODGATE_UPSTREAM_URL` a call needs.
#[derive(Debug)]
pub(super) struct Target {
    pub(super) base: String,
    pub(super) query: Option<String>,
    pub(super) authorization: Option<Secret>,
}

/// Parses the upstream URL. The value may carry a password, so no message quotes any of it.
pub(super) fn target(text: &str) -> Result<Option<Target>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let url = url::Url::parse(text).map_err(|error| {
        format!("not a URL ({error}); use http[s]://[user:password@]host[:port]/prefix[?query]")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("use an http:// or https:// URL".into());
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err("the URL names no host".into());
    };
    // OpenIM appends `/<command>` to its URL string; after a `#` that would be a fragment, which
    // is never sent.
    if url.fragment().is_some() {
        return Err("the URL must not have a #fragment".into());
    }
    let authorization = basic_auth(&url)?;
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let base = format!(
        "{}://{host}{port}{}",
        url.scheme(),
        url.path().trim_end_matches('/')
    );
    let query = url.query().filter(|q| !q.is_empty()).map(str::to_string);
    Ok(Some(Target {
        base,
        query,
        authorization,
    }))
}

/// `user:password@` as Go's client sends it: the percent-decoded parts, Base64 in
/// `Authorization: Basic`.
fn basic_auth(url: &url::Url) -> Result<Option<Secret>, String> {
    if url.username().is_empty() && url.password().is_none() {
        return Ok(None);
    }
    let decode = |part: &str| {
        percent_decode_str(part)
            .decode_utf8()
            .map(|decoded| decoded.into_owned())
            .map_err(|_| "the URL's user or password is not UTF-8 once percent-decoded".to_string())
    };
    let user = decode(url.username())?;
    let password = decode(url.password().unwrap_or(""))?;
    if user.contains(':') {
        return Err("the URL's user name contains `:`, which HTTP Basic cannot carry".into());
    }
    let pair = format!("{user}:{password}");
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair.as_bytes());
    Ok(Some(Secret::new(format!("Basic {encoded}"))))
}

/// Reads `FLOODGATE_UPSTREAM_CA`: a PEM file holding at least one CA certificate, each usable
/// as a trust anchor. An empty value means the system's roots only.
pub(super) fn extra_roots(text: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let path = text.trim();
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let pem = std::fs::read(path).map_err(|error| format!("cannot read the file: {error}"))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("not a PEM file of certificates: {error}"))?;
    if certificates.is_empty() {
        return Err("the file holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    let mut store = rustls::RootCertStore::empty();
    for (n, certificate) in certificates.iter().enumerate() {
        store
            .add(certificate.clone())
            .map_err(|error| format!("certificate {} cannot be a trust anchor: {error}", n + 1))?;
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Target {
        target(text).unwrap().unwrap()
    }

    #[test]
    fn https_credentials_and_a_query_are_split_apart() {
        let t = parsed("https://hook:pa%40ss@example.com:8443/openim/?tenant=7&x=1");
        assert_eq!(t.base, "https://example.com:8443/openim");
        assert_eq!(t.query.as_deref(), Some("tenant=7&x=1"));
        // base64("hook:pa@ss")
        assert_eq!(t.authorization.unwrap().expose(), "Basic aG9vazpwYUBzcw==");
        let plain = parsed("http://10.0.0.7:10006");
        assert_eq!(plain.base, "http://10.0.0.7:10006");
        assert!(plain.query.is_none() && plain.authorization.is_none());
        assert_eq!(parsed("http://[::1]:80/x/").base, "http://[::1]/x");
    }

    #[test]
    fn refusals_never_quote_the_url() {
        for bad in [
            "ftp://u:hunter22@h/x",
            "http://u:hunter22@h/x#frag",
            "hunter22",
            "http://us%3Aer:hunter22@h/",
        ] {
            let reason = target(bad).map(|_| ()).unwrap_err();
            assert!(!reason.contains("hunter22"), "{reason}");
        }
    }

    #[test]
    fn an_upstream_budget_openim_would_never_wait_for_is_refused() {
        let config = |vars: &[(&str, &str)]| {
            crate::config::Config::from_vars(vars.iter().map(|(k, v)| (*k, *v)))
        };
        let error = config(&[("FLOODGATE_UPSTREAM_TIMEOUT", "15s")]).unwrap_err();
        assert_eq!(error.variable, "FLOODGATE_UPSTREAM_TIMEOUT");
        assert!(error.to_string().contains("15s"), "{error}");
        let error = config(&[
            ("FLOODGATE_UPSTREAM_TIMEOUT", "14s"),
            ("FLOODGATE_REDIS_TIMEOUT", "1s"),
        ])
        .unwrap_err();
        assert_eq!(error.variable, "FLOODGATE_UPSTREAM_TIMEOUT");
        assert!(config(&[("FLOODGATE_UPSTREAM_TIMEOUT", "14s")]).is_ok());
    }

    #[test]
    fn a_ca_file_must_hold_usable_certificates() {
        let dir = std::env::temp_dir().join(format!("floodgate-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        assert!(extra_roots(missing.to_str().unwrap()).is_err());
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        assert!(extra_roots(empty.to_str().unwrap()).is_err());
        let garbage = dir.join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(extra_roots(garbage.to_str().unwrap()).is_err());
        assert!(extra_roots("").unwrap().is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
