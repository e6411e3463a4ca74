//! The WebSocket endpoint: `GET /graphql` with an upgrade, speaking
//! `graphql-transport-ws` or the legacy `graphql-ws` protocol.
//!
//! Every document a socket sends (a subscription, or a query or mutation, which the
//! protocols allow) goes through the same [`Gate`] as over HTTP: shape limits,
//! introspection policy, attempt charging and, for queries and mutations, the request
//! timeout. The key comes in `connection_init`: `{"Authorization": "Bearer cpn_…"}`.
//!
//! What keeps sockets from piling up:
//! - at most `ws_max_per_ip` open sockets per client address: more are refused at the
//!   upgrade with HTTP 429 `TOO_MANY_CONNECTIONS`;
//! - at most `ws_max_per_key` per API key: a `connection_init` for more is refused and
//!   the socket closed;
//! - `connection_init` must arrive within `ws_init_timeout`, else the socket is closed
//!   with 4408 (as the `graphql-transport-ws` protocol says);
//! - the server sends a WebSocket ping every `ws_ping_interval`; a peer that sends
//!   nothing back, not even the pong every client sends by itself, within
//!   `ws_pong_timeout` is gone, and its socket is closed with 3008;
//! - at shutdown every socket is closed with 1001 (going away), so its client can
//!   reconnect to another instance.

use crate::messages::Language;
use std::any::TypeId;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::{Data, Executor, Request, Response as GqlResponse};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures_util::stream::{BoxStream, SplitSink};
use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::auth::{AuthError, Authenticator, Caller};
use crate::gate::{Gate, Visitor};
use crate::graphql::error::ApiError;

/// Close code for a socket whose `connection_init` did not come in time.
pub const INIT_TIMEOUT_CLOSE: u16 = 4408;
/// Close code for a socket whose peer stopped answering pings.
pub const PING_TIMEOUT_CLOSE: u16 = 3008;

/// How many sockets are open, per client address and per API key. Cheap to clone.
#[derive(Clone, Default)]
pub struct OpenSockets {
    counts: Arc<Mutex<Counts>>,
}

#[derive(Default)]
struct Counts {
    by_ip: HashMap<IpAddr, usize>,
    by_key: HashMap<String, usize>,
}

/// Whose open socket a permit counts.
#[derive(Debug, Clone)]
enum Holder {
    Ip(IpAddr),
    Key(String),
}

/// One open socket, counted against its address or its key until dropped.
pub struct SocketPermit {
    sockets: OpenSockets,
    holder: Holder,
}

impl Drop for SocketPermit {
    fn drop(&mut self) {
        let Ok(mut counts) = self.sockets.counts.lock() else {
            return;
        };
        match &self.holder {
            Holder::Ip(ip) => release(&mut counts.by_ip, ip),
            Holder::Key(key) => release(&mut counts.by_key, key),
        }
    }
}

fn release<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, k: &K) {
    if let Some(n) = map.get_mut(k) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(k);
        }
    }
}

fn take<K: std::hash::Hash + Eq>(map: &mut HashMap<K, usize>, k: K, max: usize) -> bool {
    let n = map.entry(k).or_insert(0);
    if *n >= max {
        return false;
    }
    *n += 1;
    true
}

impl OpenSockets {
    /// Counts one more socket for `holder`, unless it has `max` open already.
    fn open(&self, holder: Holder, max: usize) -> Option<SocketPermit> {
        let mut counts = self.counts.lock().ok()?;
        let taken = match &holder {
            Holder::Ip(ip) => take(&mut counts.by_ip, *ip, max),
            Holder::Key(key) => take(&mut counts.by_key, key.clone(), max),
        };
        drop(counts);
        taken.then(|| SocketPermit {
            sockets: self.clone(),
            holder,
        })
    }

    /// Counts a socket against a client address.
    pub fn for_address(&self, ip: IpAddr, max: usize) -> Option<SocketPermit> {
        self.open(Holder::Ip(ip), max)
    }

    /// Counts a socket against an API key (`key:<id>`, or `admin-env`).
    pub fn for_key(&self, scope: String, max: usize) -> Option<SocketPermit> {
        self.open(Holder::Key(scope), max)
    }
}

/// What a socket needs from the router.
#[derive(Clone)]
pub struct SocketState {
    /// The checks every document passes.
    pub gate: Gate,
    /// Checks the key in `connection_init`.
    pub auth: Authenticator,
    /// Counts open sockets.
    pub sockets: OpenSockets,
    /// Told when the service shuts down.
    pub events: crate::events::EventBus,
}

/// Accepts an upgrade: refused with 429 when the address has its most sockets open.
pub fn upgrade(
    state: SocketState,
    upgrade: WebSocketUpgrade,
    protocol: GraphQLProtocol,
    ip: Option<IpAddr>,
    language: Language,
) -> Result<Response, ApiError> {
    let max = state.gate.settings().ws_max_per_ip;
    let permit = match ip {
        Some(ip) => Some(
            state
                .sockets
                .for_address(ip, max)
                .ok_or(ApiError::TooManyConnections { max })?,
        ),
        None => None,
    };
    Ok(upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(socket, state, protocol, ip, language, permit)))
}

/// The executor async-graphql's socket code calls for each `subscribe` (or `start`)
/// message: the gate, with the caller `connection_init` authenticated.
#[derive(Clone)]
struct SocketExecutor {
    gate: Gate,
    ip: Option<IpAddr>,
    language: Language,
}

impl Executor for SocketExecutor {
    async fn execute(&self, request: Request) -> GqlResponse {
        // The socket code only streams; a one-shot call takes the same path.
        let mut answers = self.execute_stream(request, None);
        answers.next().await.unwrap_or_default()
    }

    fn execute_stream(
        &self,
        request: Request,
        session: Option<Arc<Data>>,
    ) -> BoxStream<'static, GqlResponse> {
        let session = session.unwrap_or_default();
        let caller = session
            .get(&TypeId::of::<Caller>())
            .and_then(|d| d.downcast_ref::<Caller>())
            .cloned();
        let visitor = Visitor {
            caller,
            ip: self.ip,
            language: self.language,
        };
        self.gate.stream(&visitor, request, session)
    }
}

/// How a socket's reading side ended.
enum Ended {
    /// The client left, the service is shutting down, or the protocol closed it.
    Served,
    /// No `connection_init` in time.
    InitTimeout,
}

/// Serves one socket until the client leaves, stops answering pings, or the service
/// shuts down.
async fn serve(
    socket: WebSocket,
    state: SocketState,
    protocol: GraphQLProtocol,
    ip: Option<IpAddr>,
    language: Language,
    address_permit: Option<SocketPermit>,
) {
    let settings = state.gate.settings();
    let init_timeout = settings.ws_init_timeout;
    let pings = Pings {
        interval: settings.ws_ping_interval,
        timeout: settings.ws_pong_timeout,
    };
    let (sink, stream) = socket.split();
    let epoch = Instant::now();
    let seen = Arc::new(AtomicU64::new(0));
    let seen_by_reader = seen.clone();
    let events = state.events.clone();
    let input = stream
        .inspect(move |_| seen_by_reader.store(millis_since(epoch), Ordering::Relaxed))
        .take_until(Box::pin(async move { events.closed().await }));
    let (tx, rx) = mpsc::channel::<Message>(32);
    let refused = Arc::new(AtomicBool::new(false));
    let outgoing = futures_util::sink::unfold(
        (tx.clone(), refused.clone()),
        |(tx, refused), message| async move {
            let message = protocol_close(message, &refused);
            tx.send(message).await.map(|()| (tx, refused))
        },
    );
    let initialised = Arc::new(Notify::new());
    let key_permit: Arc<Mutex<Option<SocketPermit>>> = Arc::default();
    let executor = SocketExecutor {
        gate: state.gate.clone(),
        ip,
        language,
    };
    let closing = state.events.clone();
    let init = {
        let initialised = initialised.clone();
        let key_permit = key_permit.clone();
        move |payload| connection_init(state, ip, key_permit, initialised, refused, payload)
    };
    let reader = async move {
        let serving = GraphQLWebSocket::new_with_pair(outgoing, input, executor, protocol)
            .on_connection_init(init)
            .serve();
        let init_deadline = async {
            if tokio::time::timeout(init_timeout, initialised.notified())
                .await
                .is_ok()
            {
                std::future::pending::<()>().await;
            }
        };
        let ended = tokio::select! {
            () = serving => Ended::Served,
            () = init_deadline => Ended::InitTimeout,
        };
        let close = match ended {
            Ended::InitTimeout => Some((INIT_TIMEOUT_CLOSE, "Connection initialisation timeout")),
            Ended::Served if closing.is_closing() => {
                Some((close_code::AWAY, "the server is shutting down"))
            }
            Ended::Served => None,
        };
        if let Some((code, reason)) = close {
            let frame = CloseFrame {
                code,
                reason: reason.into(),
            };
            let _ = tx.send(Message::Close(Some(frame))).await;
        }
    };
    let writer = write(sink, rx, pings, seen, epoch);
    let mut reader = std::pin::pin!(reader);
    let mut writer = std::pin::pin!(writer);
    tokio::select! {
        () = &mut reader => writer.await,
        () = &mut writer => {}
    }
    drop(key_permit);
    drop(address_permit);
}

/// The close codes `graphql-transport-ws` asks for, where the protocol library closes
/// with generic ones: 4403 (Forbidden) when `connection_init` was refused for its key, and
/// 4401 (Unauthorized) for a subscription sent before the connection was acknowledged.
fn protocol_close(message: Message, refused: &AtomicBool) -> Message {
    let code = match &message {
        Message::Close(Some(frame)) if frame.code == 1002 && refused.load(Ordering::Relaxed) => {
            4403
        }
        Message::Close(Some(frame)) if frame.code == 1011 => 4401,
        _ => return message,
    };
    match message {
        Message::Close(Some(frame)) => Message::Close(Some(CloseFrame {
            code,
            reason: frame.reason,
        })),
        other => other,
    }
}

/// The keep-alive settings of one socket.
#[derive(Clone, Copy)]
struct Pings {
    interval: Duration,
    timeout: Duration,
}

fn millis_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Writes what the protocol sends, and pings the peer; ends when the protocol is done,
/// after a close frame, or when a ping goes unanswered.
async fn write(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Message>,
    pings: Pings,
    seen: Arc<AtomicU64>,
    epoch: Instant,
) {
    let mut next_ping = Instant::now() + pings.interval;
    // When the last unanswered ping was sent (ms since `epoch`), and its deadline.
    let mut awaiting: Option<(u64, Instant)> = None;
    loop {
        let deadline = awaiting.map(|(_, d)| d);
        tokio::select! {
            message = rx.recv() => {
                let Some(message) = message else { break };
                let close = matches!(message, Message::Close(_));
                if sink.send(message).await.is_err() || close {
                    break;
                }
            }
            () = tokio::time::sleep_until(next_ping) => {
                if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                    break;
                }
                let now = Instant::now();
                awaiting.get_or_insert((millis_since(epoch), now + pings.timeout));
                next_ping = now + pings.interval;
            }
            () = tokio::time::sleep_until(deadline.unwrap_or(next_ping)), if deadline.is_some() => {
                let sent = awaiting.take().map_or(0, |(sent, _)| sent);
                if seen.load(Ordering::Relaxed) < sent {
                    tracing::info!("closing a WebSocket whose peer stopped answering pings");
                    let frame = CloseFrame {
                        code: PING_TIMEOUT_CLOSE,
                        reason: "no answer to ping".into(),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    break;
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
}

/// Authenticates a socket from its `connection_init` payload and counts it against the
/// key. A missing or invalid key, or a key with its most sockets open, closes it.
async fn connection_init(
    state: SocketState,
    ip: Option<IpAddr>,
    key_permit: Arc<Mutex<Option<SocketPermit>>>,
    initialised: Arc<Notify>,
    refused: Arc<AtomicBool>,
    payload: serde_json::Value,
) -> async_graphql::Result<Data> {
    let header = ["Authorization", "authorization"]
        .iter()
        .find_map(|k| payload.get(*k).and_then(|v| v.as_str()));
    let caller = match state.auth.authenticate(header).await {
        Ok(Some(c)) => c.from_address(ip),
        Ok(None) | Err(AuthError::Missing) => {
            refused.store(true, Ordering::Relaxed);
            return Err(ApiError::Unauthenticated.into());
        }
        Err(AuthError::Storage(fault)) => return Err(ApiError::internal(&fault).into()),
        Err(e) => {
            refused.store(true, Ordering::Relaxed);
            return Err(ApiError::KeyRefused(e.to_string()).into());
        }
    };
    let max = state.gate.settings().ws_max_per_key;
    let Some(permit) = state.sockets.for_key(caller.scope(), max) else {
        tracing::warn!(key = %caller.key_prefix, max, "refused a WebSocket: the key has its most sockets open");
        return Err(ApiError::TooManyConnections { max }.into());
    };
    if let Ok(mut slot) = key_permit.lock() {
        *slot = Some(permit);
    }
    initialised.notify_one();
    let mut data = Data::default();
    data.insert(caller);
    Ok(data)
}
