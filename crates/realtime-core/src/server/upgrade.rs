//! The WebSocket upgrade (reference-protocol §1.2).
//!
//! Order: handshake headers (400/426), shutdown (503), `max_connections` (503), origin
//! (403 `Origin not allowed`), then the `upgrade` hook when there is one: the request goes to
//! the hook runner as an [`Event::Upgrade`] and the answer comes back through
//! [`resolve`]: accepted (101), refused (the status the runner chose: 401 for `false`, 500
//! for a throw), or no answer within `upgrade_timeout` (504 `Upgrade timed out`). Every
//! upgrade the runner was asked about ends with either `Open` or `UpgradeAborted`, so the
//! runner can forget the user data it kept for it.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{
    CONNECTION, HeaderValue, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Map, Value};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::connection::{self, Conn};
use super::http::{Body, headers_json, request_url, text};
use super::{Shared, Slot};
use crate::ConnId;
use crate::events::Event;
use crate::origin::RequestOrigin;

/// The hook runner's answer to an upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpgradeDecision {
    Accept,
    /// Refuse with this HTTP status (401, 500, ...).
    Reject(u16),
}

enum Outcome {
    Decided(UpgradeDecision),
    TimedOut,
    /// The runner dropped the request (server stopping).
    Gone,
}

/// `GET` with `Upgrade: websocket`; anything else on the path is plain HTTP.
pub(crate) fn is_websocket_request(req: &Request<Incoming>) -> bool {
    req.method() == Method::GET && header_has_token(req, UPGRADE, "websocket")
}

fn header_has_token(req: &Request<Incoming>, name: hyper::header::HeaderName, token: &str) -> bool {
    req.headers().get_all(name).iter().any(|value| {
        value
            .to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    })
}

fn header_str<'a>(req: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Removes the pending entry and reports an abort unless the upgrade went through.
struct Pending {
    shared: Arc<Shared>,
    events: Arc<crate::EventQueue>,
    id: ConnId,
    asked: bool,
    handed_over: bool,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.asked && !self.handed_over {
            self.shared.pending_upgrades.lock().remove(&self.id);
            self.events.push(Event::UpgradeAborted { id: self.id });
        }
    }
}

pub(crate) async fn handle(
    shared: Arc<Shared>,
    remote: SocketAddr,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY).cloned() else {
        return text(StatusCode::BAD_REQUEST, "Missing Sec-WebSocket-Key");
    };
    if header_str(&req, SEC_WEBSOCKET_VERSION.as_str()) != Some("13") {
        let mut res = text(
            StatusCode::UPGRADE_REQUIRED,
            "Unsupported WebSocket version",
        );
        res.headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return res;
    }
    if !header_has_token(&req, CONNECTION, "upgrade") {
        return text(
            StatusCode::BAD_REQUEST,
            "Connection header must include upgrade",
        );
    }
    if shared.is_shutting_down() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "Server shutting down");
    }
    let Some(slot) = Slot::reserve(&shared) else {
        return text(StatusCode::SERVICE_UNAVAILABLE, "Too many connections");
    };
    if !origin_allowed(&shared, &req) {
        return text(StatusCode::FORBIDDEN, "Origin not allowed");
    }

    let id = shared.next_id();
    // The JavaScript worker of this socket, from its upgrade hook to its close.
    let worker = shared.workers.assign();
    let mut pending = Pending {
        shared: Arc::clone(&shared),
        events: Arc::clone(worker.queue(&shared.events)),
        id,
        asked: false,
        handed_over: false,
    };
    if shared.config.hooks.upgrade {
        pending.asked = true;
        match ask_runner(&shared, &pending.events, id, request_json(&req, remote)).await {
            Outcome::Decided(UpgradeDecision::Accept) => {}
            Outcome::Decided(UpgradeDecision::Reject(status)) => {
                let status = StatusCode::from_u16(status)
                    .ok()
                    .filter(|s| s.is_client_error() || s.is_server_error())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return text(status, status.canonical_reason().unwrap_or("Refused"));
            }
            Outcome::TimedOut => return text(StatusCode::GATEWAY_TIMEOUT, "Upgrade timed out"),
            Outcome::Gone => return text(StatusCode::SERVICE_UNAVAILABLE, "Server shutting down"),
        }
    }

    let mut res = Response::new(Body::default());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = res.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    let accept = derive_accept_key(key.as_bytes());
    headers.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(&accept).expect("base64 is a valid header value"),
    );
    // uWebSockets echoes the first offered subprotocol; extensions (permessage-deflate) are
    // never accepted.
    if let Some(first) = header_str(&req, SEC_WEBSOCKET_PROTOCOL.as_str())
        .and_then(|p| p.split(',').next())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        && let Ok(value) = HeaderValue::from_str(first)
    {
        headers.insert(SEC_WEBSOCKET_PROTOCOL, value);
    }

    let on_upgrade = hyper::upgrade::on(&mut req);
    pending.handed_over = true;
    let asked = pending.asked;
    let task_shared = Arc::clone(&shared);
    shared.tracker.spawn(async move {
        let shared = task_shared;
        let Ok(upgraded) = on_upgrade.await else {
            if asked {
                worker
                    .queue(&shared.events)
                    .push(Event::UpgradeAborted { id });
            }
            return;
        };
        let conn = Arc::new(Conn::new(
            id,
            shared.config.max_backpressure,
            shared.config.close_on_backpressure_limit,
            worker,
            shared.engines.pick(),
        ));
        shared.insert_conn(Arc::clone(&conn));
        conn.events(&shared).push(Event::Open {
            id,
            remote_address: remote.ip().to_canonical().to_string(),
        });
        if shared.is_shutting_down() {
            conn.start_close(1001, "Server shutting down", false);
        }
        connection::start(Arc::clone(&shared), conn, upgraded, slot);
    });
    res
}

fn origin_allowed(shared: &Shared, req: &Request<Incoming>) -> bool {
    let config = &shared.config;
    let pick = |name: &Option<String>| name.as_deref().and_then(|n| header_str(req, n));
    let request = RequestOrigin {
        origin: req.headers().get(ORIGIN).map(|v| v.to_str().unwrap_or("")),
        host: pick(&config.host_header).or_else(|| header_str(req, "host")),
        forwarded_proto: pick(&config.protocol_header),
        forwarded_port: pick(&config.port_header),
        tls: false,
    };
    config.allowed_origins.allows(&request)
}

fn request_json(req: &Request<Incoming>, remote: SocketAddr) -> String {
    let mut obj = Map::new();
    obj.insert("url".into(), Value::String(request_url(req)));
    obj.insert("headers".into(), Value::Object(headers_json(req.headers())));
    obj.insert(
        "remoteAddress".into(),
        Value::String(remote.ip().to_canonical().to_string()),
    );
    Value::Object(obj).to_string()
}

async fn ask_runner(
    shared: &Shared,
    events: &crate::EventQueue,
    id: ConnId,
    request: String,
) -> Outcome {
    let (tx, rx) = oneshot::channel();
    shared.pending_upgrades.lock().insert(id, tx);
    events.push(Event::Upgrade { id, request });
    let timeout = shared.config.upgrade_timeout;
    let answer = if timeout.is_zero() {
        rx.await
    } else {
        match tokio::time::timeout(timeout, rx).await {
            Ok(answer) => answer,
            Err(_) => {
                shared.pending_upgrades.lock().remove(&id);
                return Outcome::TimedOut;
            }
        }
    };
    match answer {
        Ok(decision) => Outcome::Decided(decision),
        Err(_) => Outcome::Gone,
    }
}

/// Delivers the runner's answer; false if the upgrade is no longer waiting.
pub(crate) fn resolve(shared: &Shared, id: ConnId, decision: UpgradeDecision) -> bool {
    match shared.pending_upgrades.lock().remove(&id) {
        Some(tx) => tx.send(decision).is_ok(),
        None => false,
    }
}
