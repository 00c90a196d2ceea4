//! HTTP/1.1 on one TCP connection (hyper), and the round trip to the HTTP handler.
//!
//! Routing: the WebSocket path with an upgrade request goes to `upgrade`; the health check
//! path is answered here; static files next (`static_files`); everything else goes to the
//! HTTP handler in JavaScript when there is one (`handler`, streaming both ways), else 404.
//!
//! Keep-alive is on; the request head must arrive within `header_read_timeout`. On shutdown
//! hyper finishes the request in flight and closes the connection.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Map, Value};
use tokio::net::TcpStream;

use super::{Shared, handler, static_files, upgrade};

/// Every response body: whole (`full`), a file, or the handler's stream.
pub(crate) type Body = BoxBody<Bytes, std::io::Error>;

/// A whole body.
pub(crate) fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
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
    if let Some(refusal) = unsupported_transfer_coding(&req) {
        return refusal;
    }
    let path = req.uri().path();
    if shared.config.websocket
        && path == shared.config.ws_path
        && upgrade::is_websocket_request(&req)
    {
        return upgrade::handle(shared, remote, req).await;
    }
    if shared.config.health_check_path.as_deref() == Some(path)
        && matches!(*req.method(), Method::GET | Method::HEAD)
    {
        return text(StatusCode::OK, "OK");
    }
    if let Some(response) = static_files::serve(&shared, &req).await {
        return response;
    }
    if shared.config.hooks.http {
        return handler::to_handler(&shared, remote, req).await;
    }
    text(StatusCode::NOT_FOUND, "Not Found")
}

/// RFC 9112 §6.1: the only transfer coding we decode is `chunked`. Any other coding in the
/// list (`gzip, chunked`, `identity, chunked`) would reach the handler undecoded, and a
/// front end that reads the framing differently could smuggle a second request in the body:
/// answer 501 and close the connection instead (§6.3 says the framing cannot be trusted).
/// hyper already refuses a list whose last coding is not `chunked` with 400.
fn unsupported_transfer_coding(req: &Request<Incoming>) -> Option<Response<Body>> {
    let codings: Vec<&[u8]> = req
        .headers()
        .get_all(hyper::header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(|coding| coding.trim_ascii())
        .filter(|coding| !coding.is_empty())
        .collect();
    let chunked = |coding: &&[u8]| coding.eq_ignore_ascii_case(b"chunked");
    if codings.len() <= 1 && codings.iter().all(chunked) {
        return None;
    }
    let refusal = if codings.iter().all(chunked) {
        // `chunked, chunked`: applied twice, which no sender may do.
        text(StatusCode::BAD_REQUEST, "Bad Request")
    } else {
        text(StatusCode::NOT_IMPLEMENTED, "Unsupported Transfer-Encoding")
    };
    Some(handler::closing(refusal))
}

/// A `text/plain` response.
pub(crate) fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut res = Response::new(full(Bytes::from_static(body.as_bytes())));
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
