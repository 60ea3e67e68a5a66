//! floodgate: the anti-flood and anti-spam before-send webhook for OpenIM Server.
//!
//! OpenIM posts each chat message to floodgate before delivering it; floodgate answers "allow"
//! or "reject with errCode N" (README; OpenIM's side in docs/openim.md).
//!
//! # Layout
//! Dependencies point one way: `http` → `engine` → `store`, all speaking `policy`
//! (a test, `layering`, reads the source and fails on a lower module naming an upper one).
//! - [`app`]: builds everything from a [`config::Config`] and runs the two listeners.
//! - [`http`]: axum handlers, OpenIM's wire format, the admin API. The only axum code.
//! - [`engine`]: the decision — local rules, content extraction, fingerprints, and combining
//!   the store's answers. No axum, no Redis types.
//! - [`store`]: where windows, strikes, blocks and campaign sets live, behind one seam: the
//!   embedded [`store::MemoryStore`] and [`store::RedisStore`] (its scripts are in `lua/`).
//! - [`policy`]: rules, error codes, limits, modes and violations — the shared vocabulary.
//! - [`config`]: environment variables parsed once into typed values.
//! - [`domains`]: the operator's domain lists, parsed by `config` and matched by `engine`.
//! - [`clock`], [`metrics`], [`telemetry`]: injected time, the app-owned registry, logging.
//! - [`healthcheck`]: `floodgate healthcheck`, the container's probe of its own `/healthz`.
//! - [`keywords_file`]: the keyword list's file, read at start and again when it changes.

pub mod app;
pub mod catalogue;
pub mod clock;
pub mod config;
pub mod domains;
pub mod engine;
pub mod healthcheck;
pub mod http;
pub mod keywords_file;
#[cfg(test)]
mod layering;
pub mod metrics;
pub mod policy;
pub mod reply_text;
pub mod store;
pub mod telemetry;
