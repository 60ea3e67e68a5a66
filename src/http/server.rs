//! The accept loop both listeners share: HTTP/1.1 with keep-alive that OpenIM can rely on, a
//! deadline for every phase of a request and for idling between requests, a cap on open
//! connections, and a graceful shutdown that stops accepting and then lets in-flight requests
//! finish. The phases, their deadlines and the cap are kept by [`super::connections`]; each
//! connection runs under a task that closes it when its phase's deadline passes.
//!
//! Why not hyper's own `header_read_timeout`: it also runs while a kept-alive connection idles
//! between requests, so it closes idle connections after a few seconds. OpenIM's client keeps
//! idle connections forever and does not retry a POST that meets one the server just closed:
//! that callback fails and OpenIM rejects the message. So idle connections live for
//! `FLOODGATE_IDLE_TIMEOUT`, and a request's head is timed from its first byte.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;

use super::connections::{
    Admission, Expiry, Registry, ReplyBody, RequestBody, ServerLimits, Watched,
};
use super::wire::CallbackResponse;
use crate::metrics::{ConnectionMetrics, Shed};
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

/// In-flight requests get this long to finish after shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);
/// Refused connections answered at once; past it one is closed without an answer. Each holds a
/// file descriptor for up to two seconds, and they are not counted under the cap: a flood of
/// refused connections must not take the descriptors the cap keeps free.
pub const REFUSING_AT_ONCE: usize = 32;

/// The answer to a connection over `FLOODGATE_MAX_CONNECTIONS`: `actionCode` 1, which OpenIM
/// treats as "deliver" (a replica that sheds load never blocks a message).
fn shed_reply() -> Vec<u8> {
    let body = CallbackResponse::invalid(
        "too many connections",
        "FLOODGATE_MAX_CONNECTIONS reached; try another replica",
    );
    let body = serde_json::to_string(&body).unwrap_or_default();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    metrics: ConnectionMetrics,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let registry = Registry::new(limits, metrics);
    let refusing = Arc::new(Semaphore::new(REFUSING_AT_ONCE));
    let refused_warned = AtomicU64::new(0);
    let shed_warned = AtomicU64::new(0);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let link = match registry.admit() {
            Admission::Admitted { link, shed } => {
                if shed {
                    warn_once_a_minute(
                        &shed_warned,
                        limits.max_connections,
                        "FLOODGATE_MAX_CONNECTIONS reached: the oldest idle connections are \
                         closed to make room for new ones",
                    );
                }
                link
            }
            Admission::Refused => {
                warn_once_a_minute(
                    &refused_warned,
                    limits.max_connections,
                    "FLOODGATE_MAX_CONNECTIONS reached and no connection idles: new connections \
                     are answered 503 (deliver) and closed",
                );
                if let Ok(permit) = refusing.clone().try_acquire_owned() {
                    tokio::spawn(async move {
                        refuse(stream).await;
                        drop(permit);
                    });
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service_link = link.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let link = service_link.clone();
            link.dispatched(request.body().is_end_stream());
            let body_link = link.clone();
            let mut request =
                request.map(|body| axum::body::Body::new(RequestBody::new(body, body_link)));
            // The peer's address travels with each request (`ConnectInfo`): the admin API's
            // audit log names who lifted a block.
            request.extensions_mut().insert(ConnectInfo(peer));
            let router = router.clone();
            async move {
                let response = router.oneshot(request).await;
                link.responding();
                response.map(|response| response.map(|body| ReplyBody::new(body, link)))
            }
        });
        let io = TokioIo::new(Watched::new(stream, link.clone()));
        let connection = graceful.watch(builder.serve_connection(io, service));
        let metrics = registry.metrics().clone();
        tokio::spawn(async move {
            {
                tokio::pin!(connection);
                tokio::select! {
                    // Errors here are the client's (reset, malformed): nothing to answer.
                    _ = &mut connection => {}
                    expiry = link.expiry() => if let Expiry::Deadline(what) = expiry {
                        metrics.shed(Shed::Deadline);
                        tracing::debug!(%peer, what, "connection closed");
                    },
                }
            }
            link.closed();
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_GRACE) => {
            tracing::warn!("in-flight requests did not finish within the shutdown grace period");
        }
    }
}

/// One warning per minute at most: a flood of connections must not become a flood of logs.
fn warn_once_a_minute(last_warned: &AtomicU64, max_connections: usize, what: &'static str) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 60);
    if last_warned.swap(now, Ordering::Relaxed) != now {
        tracing::warn!(max_connections, "{what}");
    }
}

/// Answers a connection over the cap and closes it: reads its request head (so closing does not
/// reset a request still being sent), writes [`shed_reply`], and closes.
async fn refuse(mut stream: TcpStream) {
    let mut head = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut head)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&shed_reply()).await?;
        stream.shutdown().await
    })
    .await;
}
