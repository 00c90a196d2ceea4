//! HTTP/1.1 on one TCP connection (hyper), and the round trip to the HTTP handler.
//!
//! Routing: the WebSocket path with an upgrade request goes to `upgrade`; the health check
//! path is answered here; everything else goes to the HTTP handler in JavaScript when there is
//! one (`404` otherwise). Request bodies are read whole, up to `body_size_limit` (413 above);
//! streaming bodies both ways is planned with the SvelteKit adapter.
//!
//! Keep-alive is on; the request head must arrive within `header_read_timeout`. On shutdown
//! hyper finishes the request in flight and closes the connection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Map, Value};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::{Shared, upgrade};
use crate::ConnId;
use crate::events::Event;

pub(crate) type Body = Full<Bytes>;

/// The HTTP handler's answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    /// Header pairs in order; a name may repeat (`set-cookie`).
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// Serves one TCP connection until it closes or shutdown finishes it.
pub(crate) async fn serve(shared: Arc<Shared>, stream: TcpStream, remote: SocketAddr) {
    let service_shared = Arc::clone(&shared);
    let service = service_fn(move |req| {
        let shared = Arc::clone(&service_shared);
        async move { Ok::<_, Infallible>(route(shared, remote, req).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(shared.config.header_read_timeout)
        .keep_alive(true);
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = shared.shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn route(shared: Arc<Shared>, remote: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path();
    if path == shared.config.ws_path && upgrade::is_websocket_request(&req) {
        return upgrade::handle(shared, remote, req).await;
    }
    if shared.config.health_check_path.as_deref() == Some(path)
        && matches!(*req.method(), Method::GET | Method::HEAD)
    {
        return text(StatusCode::OK, "OK");
    }
    if shared.config.hooks.http {
        return to_handler(&shared, remote, req).await;
    }
    text(StatusCode::NOT_FOUND, "Not Found")
}

/// A `text/plain` response.
pub(crate) fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    res
}

/// Request headers as a JSON object with lower-case names. Repeated headers are joined
/// with `, ` (`; ` for `cookie`) instead of keeping only the last one (reference bug §9.19).
pub(crate) fn headers_json(headers: &HeaderMap) -> Map<String, Value> {
    let mut out = Map::new();
    for name in headers.keys() {
        let separator = if name == hyper::header::COOKIE {
            "; "
        } else {
            ", "
        };
        let joined = headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()))
            .collect::<Vec<_>>()
            .join(separator);
        out.insert(name.as_str().to_string(), Value::String(joined));
    }
    out
}

/// Path and query of a request target.
pub(crate) fn request_url(req: &Request<Incoming>) -> String {
    req.uri()
        .path_and_query()
        .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string())
}

/// Removes the pending entry and tells the hook runner if the request is dropped unanswered.
struct Pending<'a> {
    shared: &'a Shared,
    id: ConnId,
    answered: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.shared.pending_http.lock().remove(&self.id);
            self.shared.events.push(Event::HttpAborted { id: self.id });
        }
    }
}

async fn to_handler(shared: &Shared, remote: SocketAddr, req: Request<Incoming>) -> Response<Body> {
    if shared.is_shutting_down() {
        return text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    }
    let limit = shared.config.body_size_limit;
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "Content Too Large");
    }
    let mut head = Map::new();
    head.insert("method".into(), Value::String(req.method().to_string()));
    head.insert("url".into(), Value::String(request_url(&req)));
    head.insert("headers".into(), Value::Object(headers_json(req.headers())));
    head.insert(
        "remoteAddress".into(),
        Value::String(remote.ip().to_canonical().to_string()),
    );
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            return text(StatusCode::PAYLOAD_TOO_LARGE, "Content Too Large");
        }
        Err(_) => return text(StatusCode::BAD_REQUEST, "Bad Request"),
    };

    let id = shared.next_id();
    let (tx, rx) = oneshot::channel();
    shared.pending_http.lock().insert(id, tx);
    let mut pending = Pending {
        shared,
        id,
        answered: false,
    };
    shared
        .events
        .push_budgeted(Event::HttpRequest {
            id,
            head: Value::Object(head).to_string(),
            body,
        })
        .await;
    let Ok(response) = rx.await else {
        // The hook runner went away (server stopping).
        return text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    };
    pending.answered = true;
    build_response(shared, response)
}

fn build_response(shared: &Shared, response: HttpResponse) -> Response<Body> {
    let Ok(status) = StatusCode::from_u16(response.status) else {
        shared.log(
            2,
            format!("HTTP handler returned invalid status {}", response.status),
        );
        return text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let mut res = Response::new(Full::new(response.body));
    *res.status_mut() = status;
    for (name, value) in response.headers {
        // hyper frames the body itself; a handler's own framing headers could contradict it.
        if name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            (Ok(name), Ok(value)) => {
                res.headers_mut().append(name, value);
            }
            _ => {
                shared.log(2, format!("HTTP handler returned invalid header {name:?}"));
                return text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
            }
        }
    }
    res
}

/// Delivers the handler's answer; false if the request is gone.
pub(crate) fn resolve(shared: &Shared, id: ConnId, response: HttpResponse) -> bool {
    match shared.pending_http.lock().remove(&id) {
        Some(tx) => tx.send(response).is_ok(),
        None => false,
    }
}
