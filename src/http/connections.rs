//! Where each open connection is in its request cycle, the deadline of that phase, and the
//! registry of open connections that enforces `FLOODGATE_MAX_CONNECTIONS` by closing the oldest
//! idle connection before refusing a new one. The accept loop (`server`) drives it.
//!
//! Phases come from the parser, not from sniffing bytes: hyper skips blank lines before a
//! request line and accepts a bare `\n\n` as the end of a head, so no byte pattern says when a
//! head ends. What the bytes can say is when a request *begins*: the first byte read while the
//! connection idles, whatever it is. Everything after that is told by hyper itself:
//!
//! | phase | entered when | ends when | deadline |
//! |---|---|---|---|
//! | idle | accepted; reply written | a byte arrives | `FLOODGATE_IDLE_TIMEOUT` |
//! | head | the first byte after idling (a blank line too) | hyper hands the request to the service | [`ServerLimits::head`] from that byte |
//! | body | the service is called | the body has ended or is dropped | [`ServerLimits::body`] |
//! | handling | the body has ended | the service returns its reply | none: the handler's own budgets (Redis, upstream timeouts) bound it |
//! | reply | the service returns its reply | hyper has written all of it to the socket | [`ServerLimits::write`] |
//!
//! A request pipelined behind another is timed as a head from the moment its predecessor's
//! reply is written, if any of its bytes were read after that predecessor's body had ended;
//! bytes read together with a body cannot be told apart from it, so such a connection idles.
//! That costs no more than an idle connection, and is closed first at the cap like one.

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::metrics::{ConnectionMetrics, Shed};

/// A client gets this long from the first byte of a request to the end of its head.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// A client gets this long from the end of a request's head to the end of its body.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The connection's body deadline runs this much past [`BODY_READ_TIMEOUT`]: the webhook
/// handler times the body itself and answers a late one with a 408 that makes OpenIM deliver,
/// where a closed connection would make it reject. The connection's deadline is the backstop
/// for the admin listener and for a reply that does not wait for its body.
const BODY_GRACE: Duration = Duration::from_secs(1);
/// A client gets this long to take a whole reply off the socket.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// The deadlines and cap of one listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// From a request's first byte (blank lines before the request line included) to its
    /// service being called.
    pub head: Duration,
    /// From the service being called to the end of the request body.
    pub body: Duration,
    /// From the reply being ready to its last byte being written to the socket.
    pub write: Duration,
    /// Between requests, before any byte of the next.
    pub idle: Duration,
    /// Open connections; past it the oldest idle one is closed, else the new one refused.
    pub max_connections: usize,
}

impl ServerLimits {
    /// The contract's deadlines, with the idle timeout and cap of the configuration.
    pub fn new(idle: Duration, max_connections: usize) -> ServerLimits {
        ServerLimits {
            head: HEADER_READ_TIMEOUT,
            body: BODY_READ_TIMEOUT + BODY_GRACE,
            write: WRITE_TIMEOUT,
            idle,
            max_connections,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Head,
    Body,
    Handling,
    Reply,
}

/// The open connections of one listener.
pub(crate) struct Registry {
    limits: ServerLimits,
    metrics: ConnectionMetrics,
    inner: Mutex<Inner>,
}

struct Inner {
    /// Connections holding a place under the cap.
    open: usize,
    /// Idle connections, oldest first (keys grow each time a connection starts idling).
    idle: BTreeMap<u64, Arc<Link>>,
    next_ticket: u64,
}

/// What a new connection gets from [`Registry::admit`].
pub(crate) enum Admission {
    /// A place; `shed` tells whether an idle connection was closed to make it.
    Admitted { link: Arc<Link>, shed: bool },
    /// The cap is reached and no connection idles.
    Refused,
}

impl Registry {
    pub(crate) fn new(limits: ServerLimits, metrics: ConnectionMetrics) -> Arc<Registry> {
        Arc::new(Registry {
            limits,
            metrics,
            inner: Mutex::new(Inner {
                open: 0,
                idle: BTreeMap::new(),
                next_ticket: 0,
            }),
        })
    }

    pub(crate) fn metrics(&self) -> &ConnectionMetrics {
        &self.metrics
    }

    /// A place for a new connection: a free one, or the oldest idle connection's, which is told
    /// to close. A refused connection is answered "deliver" by the caller, which switches spam
    /// protection off for that callback: closing an idle connection costs less.
    pub(crate) fn admit(self: &Arc<Registry>) -> Admission {
        let mut inner = self.inner.lock();
        let mut shed = false;
        if inner.open >= self.limits.max_connections {
            let Some((_, victim)) = inner.idle.pop_first() else {
                self.metrics.shed(Shed::Cap);
                return Admission::Refused;
            };
            let mut state = victim.state.lock();
            state.idle_ticket = None;
            state.closing = true;
            // The victim's place passes to the newcomer now; the victim closes on its own task.
            state.holds_place = false;
            drop(state);
            victim.wake.notify_one();
            self.metrics.idle.dec();
            self.metrics.shed(Shed::Idle);
            inner.open -= 1;
            shed = true;
        }
        inner.open += 1;
        let link = Arc::new(Link {
            registry: self.clone(),
            limits: self.limits,
            state: Mutex::new(State {
                phase: Phase::Idle,
                deadline: Instant::now() + self.limits.idle,
                idle_ticket: None,
                next_begun: false,
                replied: false,
                closing: false,
                holds_place: true,
            }),
            wake: Notify::new(),
        });
        let ticket = inner.next_ticket;
        inner.next_ticket += 1;
        link.state.lock().idle_ticket = Some(ticket);
        inner.idle.insert(ticket, link.clone());
        self.metrics.idle.inc();
        Admission::Admitted { link, shed }
    }
}

/// One connection's place in the registry and its phase; shared by its IO, its request and
/// reply bodies and its supervising task.
pub(crate) struct Link {
    registry: Arc<Registry>,
    limits: ServerLimits,
    state: Mutex<State>,
    /// Told of every phase change and of a shed, so the supervisor re-reads the deadline.
    wake: Notify,
}

struct State {
    phase: Phase,
    /// Meaningless in [`Phase::Handling`].
    deadline: Instant,
    /// Its key in the registry's idle list while it idles.
    idle_ticket: Option<u64>,
    /// Bytes of a next request were read after this request's body had ended.
    next_begun: bool,
    /// The reply's body has been handed to the socket buffer (hyper dropped it).
    replied: bool,
    /// Shed at the cap: its supervisor closes it.
    closing: bool,
    /// Counted in the registry's `open` (false once its place passed to another).
    holds_place: bool,
}

impl State {
    fn set(&mut self, phase: Phase, deadline: Instant) {
        self.phase = phase;
        self.deadline = deadline;
        self.replied = false;
        if matches!(phase, Phase::Idle | Phase::Head | Phase::Body) {
            self.next_begun = false;
        }
    }
}

/// Why a connection's supervisor closes it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Expiry {
    /// Its idle timeout passed: routine, not counted as shed.
    Idle,
    /// Its head, body or reply took too long.
    Deadline(&'static str),
    /// Closed to make room at the cap.
    Shed,
}

impl Link {
    /// Moves to `to`. Only the connection's own task changes its phase (the shedding accept loop
    /// only marks it closing), so the phase read first is still current when acted on.
    fn enter(self: &Arc<Self>, to: Phase) {
        let from = self.state.lock().phase;
        if from == to {
            return;
        }
        let deadline = Instant::now()
            + match to {
                Phase::Idle => self.limits.idle,
                Phase::Head => self.limits.head,
                Phase::Body => self.limits.body,
                Phase::Reply => self.limits.write,
                Phase::Handling => Duration::ZERO,
            };
        if from != Phase::Idle && to != Phase::Idle {
            self.state.lock().set(to, deadline);
        } else {
            // Lock order: the registry, then the connection.
            let metrics = &self.registry.metrics;
            let mut inner = self.registry.inner.lock();
            let mut state = self.state.lock();
            if state.closing {
                return;
            }
            if let Some(ticket) = state.idle_ticket.take() {
                inner.idle.remove(&ticket);
            }
            if to == Phase::Idle {
                let ticket = inner.next_ticket;
                inner.next_ticket += 1;
                inner.idle.insert(ticket, self.clone());
                state.idle_ticket = Some(ticket);
                metrics.active.dec();
                metrics.idle.inc();
            } else {
                metrics.idle.dec();
                metrics.active.inc();
            }
            state.set(to, deadline);
        }
        self.wake.notify_one();
    }

    /// Bytes were read from the socket.
    fn read(self: &Arc<Self>) {
        let phase = {
            let mut state = self.state.lock();
            if matches!(state.phase, Phase::Handling | Phase::Reply) {
                state.next_begun = true;
            }
            state.phase
        };
        if phase == Phase::Idle {
            self.enter(Phase::Head);
        }
    }

    /// The socket took everything hyper had buffered: if that included the last of a reply,
    /// the connection waits for its next request (or times the one already begun).
    fn flushed(self: &Arc<Self>) {
        let next = {
            let state = self.state.lock();
            if state.phase != Phase::Reply || !state.replied {
                return;
            }
            if state.next_begun {
                Phase::Head
            } else {
                Phase::Idle
            }
        };
        self.enter(next);
    }

    /// hyper parsed a request head and calls the service.
    pub(crate) fn dispatched(self: &Arc<Self>, body_ended: bool) {
        self.enter(if body_ended {
            Phase::Handling
        } else {
            Phase::Body
        });
    }

    fn body_ended(self: &Arc<Self>) {
        if self.state.lock().phase == Phase::Body {
            self.enter(Phase::Handling);
        }
    }

    /// The service returned its reply.
    pub(crate) fn responding(self: &Arc<Self>) {
        self.enter(Phase::Reply);
    }

    fn reply_dropped(&self) {
        let mut state = self.state.lock();
        if state.phase == Phase::Reply {
            state.replied = true;
        }
    }

    /// The connection is closed: its place (if it still holds one) is free.
    pub(crate) fn closed(&self) {
        let metrics = &self.registry.metrics;
        let mut inner = self.registry.inner.lock();
        let mut state = self.state.lock();
        if let Some(ticket) = state.idle_ticket.take() {
            inner.idle.remove(&ticket);
        }
        if std::mem::take(&mut state.holds_place) {
            inner.open -= 1;
            match state.phase {
                Phase::Idle => metrics.idle.dec(),
                _ => metrics.active.dec(),
            }
        }
        state.closing = true;
    }

    /// Resolves when the connection must be closed: a deadline passed or it was shed.
    pub(crate) async fn expiry(&self) -> Expiry {
        let sleep = tokio::time::sleep(self.limits.idle);
        tokio::pin!(sleep);
        loop {
            let (phase, deadline) = {
                let state = self.state.lock();
                if state.closing {
                    return Expiry::Shed;
                }
                (state.phase, state.deadline)
            };
            if phase == Phase::Handling {
                self.wake.notified().await;
                continue;
            }
            sleep.as_mut().reset(deadline);
            tokio::select! {
                () = sleep.as_mut() => {
                    let state = self.state.lock();
                    if state.phase == phase && state.deadline == deadline && !state.closing {
                        return match phase {
                            Phase::Idle => Expiry::Idle,
                            Phase::Head => Expiry::Deadline("the request head did not arrive in time"),
                            Phase::Body => Expiry::Deadline("the request body did not arrive in time"),
                            Phase::Reply | Phase::Handling => Expiry::Deadline("the client did not take the reply in time"),
                        };
                    }
                }
                () = self.wake.notified() => {}
            }
        }
    }
}

/// A connection's socket, telling its [`Link`] when a request begins (any byte read while idle)
/// and when a reply has been written out (a flush after the reply's body was dropped).
pub(crate) struct Watched<IO> {
    inner: IO,
    link: Arc<Link>,
}

impl<IO> Watched<IO> {
    pub(crate) fn new(inner: IO, link: Arc<Link>) -> Watched<IO> {
        Watched { inner, link }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.link.read();
        }
        read
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    /// hyper flushes the socket once its write buffer is empty: every byte handed to it is out.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let flushed = Pin::new(&mut self.inner).poll_flush(cx);
        if matches!(flushed, Poll::Ready(Ok(()))) {
            self.link.flushed();
        }
        flushed
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body that tells its [`Link`] when it has ended, or was dropped unread (hyper then
/// stops reading the connection's body and closes it after the reply).
pub(crate) struct RequestBody<B> {
    inner: B,
    link: Arc<Link>,
}

impl<B> RequestBody<B> {
    pub(crate) fn new(inner: B, link: Arc<Link>) -> RequestBody<B> {
        RequestBody { inner, link }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for RequestBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(frame, Poll::Ready(None | Some(Err(_)))) || self.inner.is_end_stream() {
            self.link.body_ended();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for RequestBody<B> {
    fn drop(&mut self) {
        self.link.body_ended();
    }
}

/// A reply body that tells its [`Link`] when hyper is done with it: hyper drops a reply's body
/// once its last bytes are in the write buffer (or the connection failed).
pub(crate) struct ReplyBody<B> {
    inner: B,
    link: Arc<Link>,
}

impl<B> ReplyBody<B> {
    pub(crate) fn new(inner: B, link: Arc<Link>) -> ReplyBody<B> {
        ReplyBody { inner, link }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for ReplyBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for ReplyBody<B> {
    fn drop(&mut self) {
        self.link.reply_dropped();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn registry(max_connections: usize) -> (Arc<Registry>, Metrics) {
        let metrics = Metrics::new(&[], &[]);
        let limits = ServerLimits::new(Duration::from_secs(300), max_connections);
        (Registry::new(limits, metrics.connections.clone()), metrics)
    }

    fn admitted(registry: &Arc<Registry>) -> (Arc<Link>, bool) {
        match registry.admit() {
            Admission::Admitted { link, shed } => (link, shed),
            Admission::Refused => panic!("refused"),
        }
    }

    fn closing(link: &Link) -> bool {
        link.state.lock().closing
    }

    #[test]
    fn at_the_cap_the_oldest_idle_connection_makes_room_and_busy_ones_are_kept() {
        let (registry, metrics) = registry(2);
        let (first, _) = admitted(&registry);
        let (second, _) = admitted(&registry);
        // The first begins a request: it is no longer idle, so the second is the one shed.
        first.read();
        let (third, shed) = admitted(&registry);
        assert!(shed && closing(&second) && !closing(&first) && !closing(&third));
        // The shed connection's place went to the third: closing it frees nothing more.
        second.closed();
        assert_eq!(registry.inner.lock().open, 2);
        assert_eq!(metrics.connections.idle.get(), 1);
        assert_eq!(metrics.connections.active.get(), 1);
        // Nothing idles now but the third; once it is busy too, a fourth is refused.
        third.read();
        assert!(matches!(registry.admit(), Admission::Refused));
        first.closed();
        assert_eq!(registry.inner.lock().open, 1);
        assert!(matches!(
            registry.admit(),
            Admission::Admitted { shed: false, .. }
        ));
    }

    #[test]
    fn a_reply_written_makes_the_connection_idle_again_unless_a_next_request_began() {
        let (registry, _) = registry(10);
        let (link, _) = admitted(&registry);
        link.read();
        link.dispatched(false);
        link.body_ended();
        link.responding();
        // A flush before hyper is done with the reply's body proves nothing.
        link.flushed();
        assert_eq!(link.state.lock().phase, Phase::Reply);
        link.reply_dropped();
        link.flushed();
        assert_eq!(link.state.lock().phase, Phase::Idle);
        assert_eq!(registry.inner.lock().idle.len(), 1);
        // Bytes read while the reply is pending belong to the next request: its head is timed.
        link.read();
        link.dispatched(true);
        link.read();
        link.responding();
        link.reply_dropped();
        link.flushed();
        assert_eq!(link.state.lock().phase, Phase::Head);
        assert!(registry.inner.lock().idle.is_empty());
    }
}
