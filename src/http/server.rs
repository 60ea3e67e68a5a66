//! The accept loop both listeners share: HTTP/1.1 with keep-alive that OpenIM can rely on, a
//! deadline for a request's headers that starts at its first byte, a cap on open connections,
//! and a graceful shutdown that stops accepting and then lets in-flight requests finish.
//!
//! Why not hyper's own `header_read_timeout`: it also runs while a kept-alive connection idles
//! between requests, so it closes idle connections after a few seconds. OpenIM's client keeps
//! idle connections forever and does not retry a POST that meets one the server just closed:
//! that callback fails and OpenIM rejects the message. So idle connections live for
//! [`IDLE_TIMEOUT`], and [`Deadlines`] times the headers from their first byte.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;

use super::wire::CallbackResponse;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// A client gets this long from the first byte of a request to the end of its headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A kept-alive connection with no request in flight is closed after this long. OpenIM's
/// client never retires idle connections itself (see the module doc): minutes, not seconds.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// In-flight requests get this long to finish after shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

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
    max_connections: usize,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(max_connections));
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
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            warn_shedding(&shed_warned, max_connections);
            tokio::spawn(shed(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        // The peer's address travels with each request (`ConnectInfo`): the admin API's audit
        // log names who lifted a block.
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let io = TokioIo::new(Deadlines::new(stream));
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            // Errors here are the client's (reset, header timeout): nothing to answer.
            let _ = connection.await;
            drop(slot);
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
fn warn_shedding(last_warned: &AtomicU64, max_connections: usize) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / 60);
    if last_warned.swap(now, Ordering::Relaxed) != now {
        tracing::warn!(
            max_connections,
            "FLOODGATE_MAX_CONNECTIONS reached: new connections are answered 503 (deliver) and closed"
        );
    }
}

/// Answers a connection over the cap and closes it: reads its request head (so closing does not
/// reset a request still being sent), writes [`shed_reply`], and closes.
async fn shed(mut stream: TcpStream) {
    let mut head = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.read(&mut head)).await;
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(&shed_reply()).await?;
        stream.shutdown().await
    })
    .await;
}

/// What the connection is doing, as its bytes show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No request in flight: closed after [`IDLE_TIMEOUT`].
    Idle,
    /// A request's first byte arrived, its headers have not ended: [`HEADER_READ_TIMEOUT`].
    Head,
    /// Headers read; the handler times the body and the answer.
    Request,
}

/// A connection's IO with the two deadlines of the module doc. Bytes show the phases: the first
/// byte read while idle starts a request's head, a blank line (`\r\n\r\n`) ends it, and writing
/// the response makes the connection idle again (floodgate answers only once a whole body is in).
pub struct Deadlines<IO> {
    inner: IO,
    phase: Phase,
    deadline: Pin<Box<Sleep>>,
    /// The last bytes of the head read so far, to find a `\r\n\r\n` split across reads.
    tail: [u8; 3],
}

impl<IO> Deadlines<IO> {
    pub fn new(inner: IO) -> Deadlines<IO> {
        Deadlines {
            inner,
            phase: Phase::Idle,
            deadline: Box::pin(tokio::time::sleep(IDLE_TIMEOUT)),
            tail: [0; 3],
        }
    }

    fn enter(&mut self, phase: Phase) {
        self.phase = phase;
        let timeout = match phase {
            Phase::Idle => IDLE_TIMEOUT,
            Phase::Head => HEADER_READ_TIMEOUT,
            Phase::Request => return,
        };
        self.deadline.as_mut().reset(Instant::now() + timeout);
    }

    /// A response's bytes went out: the request is answered and the connection idles again.
    fn wrote(&mut self, written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) && self.phase != Phase::Idle {
            self.enter(Phase::Idle);
        }
        written
    }

    /// Follows the request head through newly read bytes.
    fn saw(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.phase == Phase::Idle {
            self.tail = [0; 3];
            self.enter(Phase::Head);
        }
        if self.phase == Phase::Head && ends_head(self.tail, bytes) {
            self.enter(Phase::Request);
        }
        let mut joined = [0u8; 6];
        joined[..3].copy_from_slice(&self.tail);
        let take = bytes.len().min(3);
        joined[3..3 + take].copy_from_slice(&bytes[bytes.len() - take..]);
        self.tail.copy_from_slice(&joined[take..take + 3]);
    }
}

/// Whether `\r\n\r\n` occurs in `tail` followed by `bytes`.
fn ends_head(tail: [u8; 3], bytes: &[u8]) -> bool {
    const END: &[u8] = b"\r\n\r\n";
    // The seam, without allocating: this runs on every read of every connection.
    let lead = bytes.len().min(3);
    let mut seam = [0u8; 6];
    seam[..3].copy_from_slice(&tail);
    seam[3..3 + lead].copy_from_slice(&bytes[..lead]);
    seam[..3 + lead].windows(4).any(|w| w == END) || bytes.windows(4).any(|w| w == END)
}

impl<IO: AsyncRead + Unpin> AsyncRead for Deadlines<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let this = &mut *self;
                this.saw(&buf.filled()[before..]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                if self.phase != Phase::Request && self.deadline.as_mut().poll(cx).is_ready() {
                    let what = match self.phase {
                        Phase::Idle => "idle keep-alive connection closed",
                        _ => "request headers did not arrive in time",
                    };
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, what)));
                }
                Poll::Pending
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Deadlines<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_of_a_head_is_found_across_reads() {
        assert!(ends_head([0; 3], b"POST / HTTP/1.1\r\nHost: x\r\n\r\n{}"));
        assert!(ends_head(*b"\r\n\r", b"\n{}"));
        assert!(ends_head(*b"x\r\n", b"\r\n"));
        assert!(!ends_head(*b"abc", b"POST / HTTP/1.1\r\n"));
    }

    #[tokio::test(start_paused = true)]
    async fn headers_are_timed_from_their_first_byte_and_idle_connections_live_long() {
        let (client, server) = tokio::io::duplex(1024);
        let mut io = Deadlines::new(server);
        let (mut reader, mut writer) = tokio::io::split(client);
        // Idle far longer than the header deadline: still open.
        let mut byte = [0u8; 64];
        let idle = tokio::time::timeout(HEADER_READ_TIMEOUT * 10, io.read(&mut byte)).await;
        assert!(idle.is_err(), "an idle connection was closed: {idle:?}");
        // A request begins and stalls: closed one header deadline after its first byte.
        writer.write_all(b"POST / HT").await.unwrap();
        assert_eq!(io.read(&mut byte).await.unwrap(), 9);
        let started = Instant::now();
        let stalled = io.read(&mut byte).await;
        assert_eq!(stalled.unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), HEADER_READ_TIMEOUT);
        drop(reader.read(&mut byte));
    }

    #[tokio::test(start_paused = true)]
    async fn a_whole_head_stops_the_header_deadline_and_an_answer_restarts_idling() {
        let (mut client, server) = tokio::io::duplex(1024);
        let mut io = Deadlines::new(server);
        let mut buffer = [0u8; 256];
        client
            .write_all(b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}")
            .await
            .unwrap();
        let head = b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}";
        io.read_exact(&mut buffer[..head.len()]).await.unwrap();
        // The handler may take longer than the header deadline: nothing closes the connection.
        let waiting = tokio::time::timeout(HEADER_READ_TIMEOUT * 3, io.read(&mut buffer)).await;
        assert!(waiting.is_err());
        io.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        let idle =
            tokio::time::timeout(IDLE_TIMEOUT - Duration::from_secs(1), io.read(&mut buffer)).await;
        assert!(idle.is_err(), "closed before the idle timeout");
        let closed = io.read(&mut buffer).await;
        assert_eq!(closed.unwrap_err().kind(), io::ErrorKind::TimedOut);
    }
}
