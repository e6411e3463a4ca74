//! Serving the router on a TCP listener, with the connection limits a public endpoint
//! needs: a client must send a request's headers within the header read timeout, its
//! body within the body read timeout, and a connection left idle is closed (after the
//! header read timeout before its first request, after the keep-alive timeout between
//! requests). Slow clients are cut off; honest ones never notice.
//!
//! Shutdown is graceful: connections finish their request in flight and close.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt as _;

/// How long a connection may stay without sending.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// For a request's line and headers, from their first byte; also how long a new
    /// connection may wait before its first request.
    pub header_read_timeout: Duration,
    /// How long a kept-alive connection may sit idle between requests. Longer than a
    /// load balancer's own idle timeout, so that it never sends a request on a
    /// connection the service is closing.
    pub keep_alive_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets the requests in
/// flight finish. Each request carries the peer's address as `ConnectInfo`.
///
/// A watchdog on each connection (below) closes it when a request's line and headers
/// take longer than the header read timeout from their first byte, when a new
/// connection sends nothing for as long, or when a kept-alive connection sits idle for
/// the keep-alive timeout. (hyper's own header timer cannot tell an idle kept-alive
/// connection from a slow request, so it is not used.)
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let builder = Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let activity = Activity::default();
        let router = router.clone();
        let in_flight = activity.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
            let mut request = request.map(Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            let busy = in_flight.begin();
            let answer = router.clone().oneshot(request);
            async move {
                let response = answer.await;
                drop(busy);
                response
            }
        });
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let connection = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(watch_idle(connection, activity, limits, peer));
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Drives one connection, closing it when it breaks its limits while no request is
/// under way (see [`serve`]).
async fn watch_idle<C>(
    connection: C,
    activity: Activity,
    limits: ConnectionLimits,
    peer: SocketAddr,
) where
    C: Future<Output = Result<(), Box<dyn std::error::Error + Send + Sync>>>,
{
    let mut connection = std::pin::pin!(connection);
    let period = limits.header_read_timeout.min(limits.keep_alive_timeout) / 8;
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ended = connection.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!(error = %e, %peer, "connection ended with an error");
                }
                return;
            }
            _ = tick.tick() => {
                if let Some(why) = activity.overdue(limits) {
                    tracing::debug!(%peer, why, "closing a connection");
                    return;
                }
            }
        }
    }
}

/// What a connection is doing: requests under way, and when it last moved a byte.
#[derive(Clone)]
struct Activity(Arc<ActivityState>);

struct ActivityState {
    epoch: Instant,
    /// When a byte last moved, in ms since `epoch`.
    last_ms: AtomicU64,
    /// When the first byte of a request whose headers are not complete came, in ms
    /// since `epoch`; `NONE` when no request is being received.
    receiving_since_ms: AtomicU64,
    in_flight: AtomicUsize,
    served: AtomicBool,
}

const NONE: u64 = u64::MAX;

impl Default for Activity {
    fn default() -> Self {
        Self(Arc::new(ActivityState {
            epoch: Instant::now(),
            last_ms: AtomicU64::new(0),
            receiving_since_ms: AtomicU64::new(NONE),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
        }))
    }
}

/// A request under way on a connection (its headers were read), until its response is
/// ready.
struct Busy(Activity);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.touch();
        self.0.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Activity {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.0.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }

    fn touch(&self) {
        self.0.last_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Bytes came in: between requests, they start the next one's header clock.
    fn received(&self) {
        let now = self.now_ms();
        self.0.last_ms.store(now, Ordering::Relaxed);
        if self.0.in_flight.load(Ordering::Relaxed) == 0 {
            let _ = self.0.receiving_since_ms.compare_exchange(
                NONE,
                now,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        }
    }

    fn begin(&self) -> Busy {
        self.0.in_flight.fetch_add(1, Ordering::Relaxed);
        self.0.served.store(true, Ordering::Relaxed);
        self.0.receiving_since_ms.store(NONE, Ordering::Relaxed);
        Busy(self.clone())
    }

    /// Which limit the connection has broken, if any; none while a request is under
    /// way (the body deadline and the request timeout watch those).
    fn overdue(&self, limits: ConnectionLimits) -> Option<&'static str> {
        let state = &self.0;
        if state.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let now = self.now_ms();
        let since = |ms: u64| Duration::from_millis(now.saturating_sub(ms));
        let receiving = state.receiving_since_ms.load(Ordering::Relaxed);
        if receiving != NONE {
            return (since(receiving) >= limits.header_read_timeout)
                .then_some("request headers too slow");
        }
        let idle = since(state.last_ms.load(Ordering::Relaxed));
        if state.served.load(Ordering::Relaxed) {
            (idle >= limits.keep_alive_timeout).then_some("idle between requests")
        } else {
            (idle >= limits.header_read_timeout).then_some("no request")
        }
    }
}

/// A TCP stream that records when bytes move.
struct Watched {
    inner: TcpStream,
    activity: Activity,
}

impl AsyncRead for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The peer address type requests carry.
pub type Peer = ConnectInfo<SocketAddr>;

/// Middleware: a request's body must arrive whole within `limit`, else reading it
/// fails with [`BodyTimedOut`].
pub async fn body_deadline(limit: Duration, request: Request, next: Next) -> Response {
    let request = request.map(|body| Body::new(DeadlineBody::new(body, limit)));
    next.run(request).await
}

/// A body that must be read to its end within a time limit.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    limit: Duration,
}

impl DeadlineBody {
    fn new(inner: Body, limit: Duration) -> Self {
        Self {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            limit,
        }
    }
}

/// The client did not send its request body within the body read timeout.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {} ms", .0.as_millis())]
pub struct BodyTimedOut(pub Duration);

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut(this.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Whether reading a body failed because it outlived its deadline.
pub fn timed_out(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(error);
    while let Some(e) = source {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        source = e.source();
    }
    false
}
