//! The load benchmark's baseline: a bare axum server that parses the same callback body
//! floodgate parses and answers OpenIM's allow object, with no rules at all.
//! `cargo run --release --example baseline -- 127.0.0.1:8090`

use axum::Router;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;
use floodgate::http::wire::{CallbackRequest, CallbackResponse};

/// The allocator the floodgate binary uses, so that the ratio measures floodgate's work and not
/// the choice of allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn answer(body: Bytes) -> impl IntoResponse {
    let allowed = CallbackRequest::parse(&body).is_ok();
    let reply = if allowed {
        CallbackResponse::ALLOW
    } else {
        CallbackResponse::invalid("invalid callback body", "")
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::to_vec(&reply).unwrap_or_default(),
    )
}

#[tokio::main]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8090".into());
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("bind");
    eprintln!("baseline serving on {addr}");
    axum::serve(listener, Router::new().fallback(answer))
        .await
        .expect("serve");
}
