//! The HTTP layer: the wire format, the two listeners and the client of the operator's own
//! webhook. The only place that knows axum and hyper.

pub mod act_wire;
pub mod admin;
pub mod commands;
pub mod connections;
pub mod console;
pub mod moderation;
pub mod server;
pub mod stream_reader;
pub mod upstream;
pub mod webhook;
pub mod wire;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, Uri, header};

use crate::config::Secret;
use crate::engine::Engine;
use crate::metrics::Metrics;

/// Shared by every handler, behind one `Arc` (axum clones the state for each request).
pub struct AppState {
    pub engine: Arc<Engine>,
    pub metrics: Metrics,
    pub auth_token: Option<Secret>,
    pub admin_token: Option<Secret>,
    pub max_body: usize,
    /// The operator's own webhook (`FLOODGATE_UPSTREAM_URL`), if any.
    pub upstream: Option<upstream::Upstream>,
}

impl AppState {
    /// With `FLOODGATE_AUTH_TOKEN` set, the token must be the path segment before the command
    /// (or the last one, for the legacy `?command=` form) or a Bearer header.
    fn authorised(&self, uri: &Uri, headers: &HeaderMap) -> bool {
        let Some(token) = &self.auth_token else {
            return true;
        };
        if bearer_token(headers).is_some_and(|presented| token.matches(presented.as_bytes())) {
            return true;
        }
        let mut segments = uri.path().trim_end_matches('/').rsplit('/');
        let last = segments.next().unwrap_or("");
        let before_last = segments.next().unwrap_or("");
        // Both compared, always, so timing does not tell which position matched.
        token.matches(last.as_bytes()) | token.matches(before_last.as_bytes())
    }
}

pub fn webhook_router(state: Arc<AppState>) -> Router {
    Router::new().fallback(webhook::handle).with_state(state)
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}
