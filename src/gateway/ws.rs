//! One WebSocket connection: the handshake (`handshake.rs`: challenge, `connect`, token,
//! protocol, scopes), then requests (each checked against the granted scopes), run events,
//! approval events and ticks multiplexed onto the socket through a bounded queue, with one
//! event `seq` per connection. Malformed frames get an error response; the connection
//! stays up.

use super::protocol::{ErrorShape, FrameId, Request, event, res_err, res_ok};
use super::scopes::{self, Granted, Scope};
use super::{GatewayState, events, handshake, methods};
use crate::router::{FilterHandle, Followed, SessionFilter};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Outgoing frames queued per connection before requests wait.
const OUT_QUEUE: usize = 256;
/// Requests of one connection executing at once; further frames wait (backpressure).
const MAX_IN_FLIGHT: usize = 32;
/// Largest accepted frame, bytes.
pub(super) const MAX_FRAME: usize = 1 << 20;
/// Read and write buffer of one connection, bytes.
const WS_BUFFER: usize = 8 << 10;

/// `GET /`: upgrades to the WebSocket protocol; a browser gets the control UI, other plain
/// HTTP a hint.
pub async fn upgrade(
    State(st): State<GatewayState>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let browser = headers.contains_key(header::ORIGIN);
    let Ok(ws) = ws else {
        if super::ui::wants_html(&headers) {
            return super::ui::index(&headers);
        }
        return "Hearth gateway. Connect a WebSocket client here (see `hearth chat`), or use /v1/chat/completions.\n".into_response();
    };
    let Ok(permit) = st.connections.clone().try_acquire_owned() else {
        return (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "too many connections\n",
        )
            .into_response();
    };
    // axum's defaults reserve 128 KiB each way per connection; frames here are small and
    // every send is flushed, so 8 KiB buffers cost a Pi far less with 200 clients.
    ws.max_message_size(MAX_FRAME)
        .read_buffer_size(WS_BUFFER)
        .write_buffer_size(WS_BUFFER)
        .on_upgrade(move |socket| async move {
            connection(st, socket, addr, browser).await;
            drop(permit);
        })
}

async fn connection(st: GatewayState, mut socket: WebSocket, addr: SocketAddr, browser: bool) {
    // 1. The handshake: challenge, then a valid `connect`.
    let conn_id = st.presence.next_id();
    let Some(conn) = handshake::handshake(&st, &mut socket, addr, browser, conn_id).await else {
        return;
    };
    let granted = Arc::new(conn.granted.clone());

    // 2. The session: requests, events and ticks.
    let (out_tx, mut out_rx) = mpsc::channel::<String>(OUT_QUEUE);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    // A connection receives the events of the sessions it sends to, reads the history of,
    // or subscribes to (`sessions.subscribe`), not every session's.
    let mut events = st
        .dispatcher
        .subscribe(SessionFilter::Keys(Default::default()));
    let sessions = events.filter();
    let mut approvals = match granted.allows(Scope::Approvals) {
        true => st.dispatcher.approvals().map(|b| b.subscribe()),
        false => None,
    };
    let reads = granted.allows(Scope::Read);
    let mut relay = events::Relay::default();
    let mut tick = tokio::time::interval(Duration::from_millis(st.tick_ms.max(100)));
    tick.tick().await;
    let mut seq: u64 = 0;
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let frame = match incoming {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Binary(_))) => {
                        let err = res_err(RawValue::NULL, &ErrorShape::invalid("binary frames are not supported; send JSON text"));
                        if socket.send(Message::Text(err.into())).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let Ok(permit) = in_flight.clone().acquire_owned().await else { break };
                let conn = Conn { sessions: &sessions, granted: &granted, out: &out_tx };
                if let Some(err) = handle_frame(&st, conn, frame.as_str(), permit)
                    && socket.send(Message::Text(err.into())).await.is_err()
                {
                    break;
                }
            }
            Some(frame) = out_rx.recv() => {
                if socket.send(Message::Text(frame.into())).await.is_err() {
                    break;
                }
            }
            ev = events.next() => match ev {
                Some(Followed::Event(ev)) if reads => {
                    let (agent, chat) = relay.payloads(&ev);
                    seq += 1;
                    if socket.send(text(&event("agent", agent, seq))).await.is_err() {
                        break;
                    }
                    if let Some(c) = chat {
                        seq += 1;
                        if socket.send(text(&event("chat", c, seq))).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Followed::Event(_)) => {}
                Some(Followed::Lagged(n)) => {
                    // The events are gone for good; `seq` counts what this socket was sent,
                    // so it does not jump (OpenClaw's clients would report a gap and
                    // reload the history, which the final events make unnecessary).
                    tracing::warn!(missed = n, "websocket client too slow; events dropped (final outcomes still follow)");
                }
                None => break,
            },
            Some(ev) = next_approval(&mut approvals) => {
                let (name, payload) = super::approvals::event_payload(&ev);
                seq += 1;
                if socket.send(text(&event(name, payload, seq))).await.is_err() {
                    break;
                }
            }
            _ = tick.tick() => {
                seq += 1;
                let t = event("tick", json!({"ts": crate::core::now_ms()}), seq);
                if socket.send(text(&t)).await.is_err() {
                    break;
                }
            }
            _ = st.shutdown.cancelled() => {
                seq += 1;
                let _ = socket.send(text(&event("shutdown", json!({"reason": "gateway stopping"}), seq))).await;
                return handshake::close(&mut socket, close_code::AWAY, "gateway shutting down").await;
            }
        }
    }
    drop(conn);
}

/// What a request task needs of its connection.
#[derive(Clone, Copy)]
struct Conn<'a> {
    sessions: &'a FilterHandle,
    granted: &'a Arc<Granted>,
    out: &'a mpsc::Sender<String>,
}

/// The next approval event, or never when the gateway has no broker; a lagging client
/// skips what it missed (pending requests stay listed by `exec.approval.list`).
async fn next_approval(
    rx: &mut Option<tokio::sync::broadcast::Receiver<crate::router::ApprovalEvent>>,
) -> Option<crate::router::ApprovalEvent> {
    let Some(r) = rx else {
        return std::future::pending().await;
    };
    loop {
        match r.recv().await {
            Ok(ev) => return Some(ev),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                *rx = None;
                return std::future::pending().await;
            }
        }
    }
}

/// Parses one frame. A malformed frame yields the error response to send at once; a request
/// is checked against the connection's scopes and dispatched in its own task (holding
/// `permit`), which queues its response — for `agent`, the acceptance and then the final
/// response under the same id — on the connection's out-queue.
fn handle_frame(
    st: &GatewayState,
    conn: Conn<'_>,
    frame: &str,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> Option<String> {
    let req: Request = match serde_json::from_str::<Request>(frame) {
        Ok(r) if r.kind == "req" => r,
        Ok(r) => {
            return Some(res_err(
                &r.id,
                &ErrorShape::invalid(format!(
                    "invalid request frame: type {:?}; clients send `req`",
                    r.kind
                )),
            ));
        }
        Err(e) => {
            // Only on the error path: tell malformed JSON from a wrong shape, and find the
            // id to answer with.
            return Some(match serde_json::from_str::<FrameId>(frame) {
                Err(e) => res_err(
                    RawValue::NULL,
                    &ErrorShape::invalid(format!("malformed JSON: {e}")),
                ),
                Ok(f) => res_err(
                    f.id.as_deref().unwrap_or(RawValue::NULL),
                    &ErrorShape::invalid(format!("invalid request frame: {e}")),
                ),
            });
        }
    };
    if let Some(need) = scopes::required(&req.method)
        && !conn.granted.allows(need)
    {
        return Some(res_err(&req.id, &scopes::missing(need)));
    }
    let (st, out, sessions) = (st.clone(), conn.out.clone(), conn.sessions.clone());
    tokio::spawn(async move {
        if req.method == "agent" {
            super::turn::agent(&st, &sessions, &req.id, req.params, &out).await;
        } else {
            let frame = match methods::dispatch(&st, &sessions, &req.method, req.params).await {
                Ok(payload) => res_ok(&req.id, &payload),
                Err(e) => res_err(&req.id, &e),
            };
            // Each task sends at most two frames and at most MAX_IN_FLIGHT run at once, so
            // this queue (OUT_QUEUE > 2 × MAX_IN_FLIGHT) never blocks the connection loop
            // that drains it.
            let _ = out.send(frame).await;
        }
        drop(permit);
    });
    None
}

fn text(v: &Value) -> Message {
    Message::Text(v.to_string().into())
}
