//! The operator's own webhook service behind floodgate (`FLOODGATE_UPSTREAM_URL`).
//!
//! OpenIM has one webhook URL for every callback, so floodgate must not take hooks away from an
//! operator who already runs a webhook service: what floodgate does not judge, and what it
//! allows, is passed on byte for byte and the upstream's answer is relayed unchanged. This module
//! owns the pooled keep-alive client (http or https, HTTP Basic from the URL) and what counts as
//! the upstream failing; the webhook handler decides what to answer then (the fail mode).
//!
//! The URL's credentials reach the wire only as a sensitive `Authorization` header: request URIs
//! are built from a base without them, so no error or log line can carry them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::{FailMode, UpstreamConfig};
use crate::metrics::Metrics;

/// The largest reply relayed: far above any callback reply (a rewritten message included),
/// small enough that a runaway upstream cannot make a replica buffer without bound.
pub const MAX_REPLY: usize = 4 * 1024 * 1024;

/// OpenIM's operation ID header, as Go's `Header.Set` writes it (`Operationid`).
const OPERATION_ID: &str = "operationid";

/// Why the upstream's answer cannot be used; the `kind` label of
/// `floodgate_upstream_errors_total`.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no answer within FLOODGATE_UPSTREAM_TIMEOUT")]
    Timeout,
    #[error("cannot reach the upstream: {0}")]
    Connection(String),
    #[error("the upstream's reply is not usable: {0}")]
    Invalid(String),
}

impl UpstreamError {
    pub fn kind(&self) -> &'static str {
        match self {
            UpstreamError::Timeout => "timeout",
            UpstreamError::Connection(_) => "connection",
            UpstreamError::Invalid(_) => "invalid",
        }
    }
}

/// The upstream's reply, relayed to OpenIM as it came.
#[derive(Debug)]
pub struct Relayed {
    pub status: StatusCode,
    pub content_type: Option<HeaderValue>,
    pub body: Bytes,
}

/// The upstream could not be set up at start (the TLS client).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the client for FLOODGATE_UPSTREAM_URL: {0}")]
pub struct SetupError(String);

/// No `Debug`: it holds the `Authorization` header.
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    base: String,
    query: Option<String>,
    authorization: Option<HeaderValue>,
    timeout: Duration,
    pub fail_mode: FailMode,
    metrics: Metrics,
}

impl Upstream {
    pub fn new(config: &UpstreamConfig, metrics: Metrics) -> Result<Upstream, SetupError> {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(config.timeout));
        connector.set_keepalive(Some(Duration::from_secs(60)));
        // The TLS layer below decides the scheme; the TCP connector must let https through.
        connector.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config(config)?)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        // Pooled keep-alive connections, reused across callbacks. A request that meets a
        // connection the upstream has just closed is retried by the client on a new one.
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(https);
        let authorization = match &config.authorization {
            Some(secret) => {
                let mut value = HeaderValue::from_str(secret.expose())
                    .map_err(|_| SetupError("the credentials do not make a header value".into()))?;
                // Shown as `Sensitive` by `Debug`, should anything ever print the request.
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Upstream {
            client,
            base: config.base.clone(),
            query: config.query.clone(),
            authorization,
            timeout: config.timeout,
            fail_mode: config.fail_mode,
            metrics,
        })
    }

    /// `<base>/<command>`, then the URL's own query and the callback's, in that order: a
    /// parameter the operator put in the URL comes first, which is the one most servers read
    /// when a name appears twice.
    fn uri(&self, command: &str, incoming: Option<&str>) -> String {
        let incoming = incoming.filter(|q| !q.is_empty());
        match (self.query.as_deref(), incoming) {
            (Some(own), Some(incoming)) => format!("{}/{command}?{own}&{incoming}", self.base),
            (Some(query), None) | (None, Some(query)) => {
                format!("{}/{command}?{query}", self.base)
            }
            (None, None) => format!("{}/{command}", self.base),
        }
    }

    /// POSTs `body` to `<base>/<command>[?query]` with OpenIM's `Content-Type` and
    /// `Operationid`, and returns the reply if it is a JSON object. Counted and timed here; the
    /// caller logs and applies the fail mode.
    pub async fn forward(
        &self,
        command: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Relayed, UpstreamError> {
        let started = Instant::now();
        let uri = self.uri(command, query);
        let result = tokio::time::timeout(self.timeout, self.call(uri, headers, body))
            .await
            .unwrap_or(Err(UpstreamError::Timeout));
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.metrics
            .upstream_seconds(outcome)
            .observe(started.elapsed().as_secs_f64());
        if let Err(error) = &result {
            self.metrics.upstream_error(error.kind());
        }
        result
    }

    async fn call(
        &self,
        uri: String,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Relayed, UpstreamError> {
        let mut request = Request::builder().method(Method::POST).uri(uri);
        for name in [header::CONTENT_TYPE.as_str(), OPERATION_ID] {
            if let Some(value) = headers.get(name) {
                request = request.header(name, value);
            }
        }
        if let Some(authorization) = &self.authorization {
            request = request.header(header::AUTHORIZATION, authorization.clone());
        }
        let request = request.body(Full::new(body)).map_err(|error| {
            UpstreamError::Invalid(format!("cannot build the request: {error}"))
        })?;
        let response = self.client.request(request).await.map_err(|error| {
            let detail = std::error::Error::source(&error)
                .map_or_else(|| error.to_string(), |source| source.to_string());
            UpstreamError::Connection(detail)
        })?;
        let status = response.status();
        // A load balancer in front of floodgate would retry a relayed 5xx, judging the message
        // again on another replica: an upstream 5xx is the upstream failing, whatever its body.
        if status.is_server_error() {
            return Err(UpstreamError::Invalid(format!("HTTP {status}")));
        }
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let body = Limited::new(response.into_body(), MAX_REPLY)
            .collect()
            .await
            .map_err(|error| {
                if error.is::<http_body_util::LengthLimitError>() {
                    UpstreamError::Invalid(format!("the reply is larger than {MAX_REPLY} bytes"))
                } else {
                    UpstreamError::Connection(format!("the reply broke off: {error}"))
                }
            })?
            .to_bytes();
        if !is_json_object(&body) {
            return Err(UpstreamError::Invalid(format!(
                "HTTP {status}, and the body is not a JSON object"
            )));
        }
        Ok(Relayed {
            status,
            content_type,
            body,
        })
    }
}

/// The system's roots, plus `FLOODGATE_UPSTREAM_CA`'s. The system store is read only for an
/// https upstream; a plain http one never opens a TLS session.
fn tls_config(config: &UpstreamConfig) -> Result<rustls::ClientConfig, SetupError> {
    let mut roots = rustls::RootCertStore::empty();
    if config.base.starts_with("https://") {
        let native = rustls_native_certs::load_native_certs();
        for error in &native.errors {
            tracing::warn!(%error, "a system CA certificate could not be read");
        }
        let (added, unusable) = roots.add_parsable_certificates(native.certs);
        tracing::debug!(added, unusable, "system CA certificates for the upstream");
    }
    for certificate in &config.extra_roots {
        roots
            .add(certificate.clone())
            .map_err(|error| SetupError(format!("FLOODGATE_UPSTREAM_CA: {error}")))?;
    }
    if config.base.starts_with("https://") && roots.is_empty() {
        tracing::warn!(
            "no CA certificate to check the https upstream against (no system roots, \
             FLOODGATE_UPSTREAM_CA unset): every call to it will fail"
        );
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| SetupError(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// OpenIM reads the reply as a JSON object; anything else would fail the callback (90007).
fn is_json_object(body: &[u8]) -> bool {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    first == Some(&b'{') && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok()
}

/// A command name is a path segment of the upstream URL only if it is a plain identifier; a body
/// could name anything.
pub fn is_forwardable(command: &str) -> bool {
    !command.is_empty()
        && command.len() <= 128
        && command
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_objects_are_usable_replies() {
        assert!(is_json_object(b" {\"actionCode\":0}\n"));
        assert!(!is_json_object(b"null"));
        assert!(!is_json_object(b"[]"));
        assert!(!is_json_object(b"404 page not found"));
        assert!(!is_json_object(b"{\"actionCode\":"));
        assert!(!is_json_object(b""));
    }

    #[test]
    fn only_identifiers_become_a_path_segment() {
        assert!(is_forwardable("callbackBeforeSendSingleMsgCommand"));
        assert!(!is_forwardable("../admin"));
        assert!(!is_forwardable("a b"));
        assert!(!is_forwardable(""));
    }
}
