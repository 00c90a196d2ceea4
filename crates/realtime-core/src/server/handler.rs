//! The round trip of an HTTP request to the JavaScript handler, streaming both ways.
//!
//! Request: an `HttpRequest` event with the head, then (when there is a body) `HttpBody`
//! chunks as they arrive, each taking its bytes from the inbound budget, then one
//! `HttpBodyEnd`. The body is read on its own task, so the handler may answer before reading
//! it. The server answers itself when the body goes wrong, and the handler's later answer is
//! ignored: past `body_size_limit`, 413; broken chunked framing (a bad chunk size, bare LF
//! line endings), 400 and close; a body slower than `body_read_timeout` between reads or
//! `request_timeout` in all, 408 and close (slowloris on the body). The body then ends with
//! that code.
//!
//! Response: `respond_head` sends the status and headers; `respond_chunk` queues body chunks
//! into a channel of [`RESPONSE_CHUNKS`] places (when it fills, the caller waits for an
//! `HttpDrain` event); `respond_end` finishes. A client that leaves is reported with
//! `HttpAborted`, before or after the head.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Frame, Incoming};
use hyper::header::{CONNECTION, CONTENT_LENGTH, HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::Shared;
use super::http::{Body, full, headers_json, request_url, text};
use crate::ConnId;
use crate::EventQueue;
use crate::events::Event;

/// Body chunks a response may have queued before the handler must wait for `HttpDrain`.
pub const RESPONSE_CHUNKS: usize = 8;

/// How long the rest of a too-large request body is read and dropped after the 413.
const LINGER: std::time::Duration = std::time::Duration::from_secs(5);

/// Status and headers of the handler's answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HttpHead {
    pub status: u16,
    /// Header pairs in order; a name may repeat (`set-cookie`).
    pub headers: Vec<(String, String)>,
}

/// A whole answer at once (head, one chunk, end).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// What `respond_chunk` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ChunkStatus {
    /// Queued; more may follow.
    Accepted = 0,
    /// Queued, and the queue is now full: wait for `HttpDrain` before the next chunk.
    Full = 1,
    /// The response is gone (client left, answered already, or never asked): stop.
    Gone = 2,
}

/// The head, and the whole body when it was given at once.
struct Answer {
    head: HttpHead,
    whole: Option<Bytes>,
}

/// The state of one request waiting for, or streaming, its response.
pub(crate) struct Pending {
    head: Option<oneshot::Sender<Answer>>,
    body: Option<mpsc::Sender<Bytes>>,
    drain_wanted: Arc<AtomicBool>,
    /// The JavaScript worker handling it (its load lasts as long as this entry).
    pub(crate) worker: super::workers::Assigned,
}

fn answer(shared: &Shared, id: ConnId, answer: Answer) -> bool {
    let sender = shared
        .pending_http
        .lock()
        .get_mut(&id)
        .and_then(|p| p.head.take());
    sender.is_some_and(|tx| tx.send(answer).is_ok())
}

/// Sends the head; false if the request is gone or already has one.
pub(crate) fn respond_head(shared: &Shared, id: ConnId, head: HttpHead) -> bool {
    answer(shared, id, Answer { head, whole: None })
}

/// Queues a body chunk.
pub(crate) fn respond_chunk(shared: &Shared, id: ConnId, chunk: Bytes) -> ChunkStatus {
    let pending = shared.pending_http.lock();
    let Some(entry) = pending.get(&id) else {
        return ChunkStatus::Gone;
    };
    let Some(body) = &entry.body else {
        return ChunkStatus::Gone;
    };
    match body.try_send(chunk) {
        Ok(()) if body.capacity() == 0 => {
            entry.drain_wanted.store(true, Ordering::Release);
            ChunkStatus::Full
        }
        Ok(()) => ChunkStatus::Accepted,
        Err(mpsc::error::TrySendError::Full(_)) => {
            // The caller wrote past a Full answer: a bug on its side, made visible.
            drop(pending);
            shared.log(2, format!("HTTP response {id}: chunk written while full"));
            ChunkStatus::Gone
        }
        Err(mpsc::error::TrySendError::Closed(_)) => ChunkStatus::Gone,
    }
}

/// Ends the response body; false if the request is gone.
pub(crate) fn respond_end(shared: &Shared, id: ConnId) -> bool {
    shared.pending_http.lock().remove(&id).is_some()
}

/// A whole response in one call: sent with `Content-Length`, not chunked.
pub(crate) fn respond_whole(shared: &Shared, id: ConnId, response: HttpResponse) -> bool {
    let head = HttpHead {
        status: response.status,
        headers: response.headers,
    };
    let sent = answer(
        shared,
        id,
        Answer {
            head,
            whole: Some(response.body),
        },
    );
    shared.pending_http.lock().remove(&id);
    sent
}

/// Reports an abort and forgets the request if it is dropped before its head was sent.
struct AbortGuard {
    shared: Arc<Shared>,
    events: Arc<EventQueue>,
    id: ConnId,
    armed: bool,
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if self.armed {
            self.shared.pending_http.lock().remove(&self.id);
            self.events.push(Event::HttpAborted { id: self.id });
        }
    }
}

/// The response body: chunks from the handler; reports an abort if dropped unfinished.
struct ResponseBody {
    rx: mpsc::Receiver<Bytes>,
    drain_wanted: Arc<AtomicBool>,
    shared: Arc<Shared>,
    events: Arc<EventQueue>,
    id: ConnId,
    finished: bool,
}

impl hyper::body::Body for ResponseBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(chunk)) => {
                if self.drain_wanted.swap(false, Ordering::AcqRel) {
                    self.events.push(Event::HttpDrain { id: self.id });
                }
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
            Poll::Ready(None) => {
                self.finished = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        if !self.finished && self.shared.pending_http.lock().remove(&self.id).is_some() {
            self.events.push(Event::HttpAborted { id: self.id });
        }
    }
}

/// Why a request body was not read to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyFailure {
    TooLarge,
    Broken,
    TimedOut,
}

impl BodyFailure {
    fn status(self) -> StatusCode {
        match self {
            BodyFailure::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            BodyFailure::Broken => StatusCode::BAD_REQUEST,
            BodyFailure::TimedOut => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// The answer the server gives in the handler's place.
    fn response(self) -> Response<Body> {
        match self {
            // The rest is read and dropped for a while, so the connection may stay.
            BodyFailure::TooLarge => text(StatusCode::PAYLOAD_TOO_LARGE, "Content Too Large"),
            BodyFailure::Broken => closing(text(StatusCode::BAD_REQUEST, "Bad Request")),
            BodyFailure::TimedOut => closing(text(StatusCode::REQUEST_TIMEOUT, "Request Timeout")),
        }
    }
}

/// Marks a response as the last on its connection.
pub(crate) fn closing(mut res: Response<Body>) -> Response<Body> {
    res.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    res
}

/// When the next body read must have happened: `idle` after now, never past `deadline`.
fn read_deadline(idle: std::time::Duration, deadline: Option<Instant>) -> Option<Instant> {
    let idle = (!idle.is_zero()).then(|| Instant::now() + idle);
    match (idle, deadline) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Reads the request body into `HttpBody` events; reports a failure through `failed`.
async fn pump_body(
    shared: Arc<Shared>,
    events: Arc<EventQueue>,
    id: ConnId,
    mut body: Incoming,
    limit: usize,
    failed: oneshot::Sender<BodyFailure>,
) {
    let config = &shared.config;
    let deadline =
        (!config.request_timeout.is_zero()).then(|| Instant::now() + config.request_timeout);
    let mut total = 0usize;
    let failure = loop {
        let next = match read_deadline(config.body_read_timeout, deadline) {
            Some(at) => match tokio::time::timeout_at(at, body.frame()).await {
                Ok(next) => next,
                Err(_) => break BodyFailure::TimedOut,
            },
            None => body.frame().await,
        };
        match next {
            Some(Ok(frame)) => {
                let Ok(chunk) = frame.into_data() else {
                    continue; // trailers
                };
                total = total.saturating_add(chunk.len());
                if total > limit {
                    break BodyFailure::TooLarge;
                }
                events.push_budgeted(Event::HttpBody { id, chunk }).await;
            }
            Some(Err(_)) => break BodyFailure::Broken,
            None => {
                events.push(Event::HttpBodyEnd { id, code: 0 });
                return;
            }
        }
    };
    events.push(Event::HttpBodyEnd {
        id,
        code: failure.status().as_u16(),
    });
    let _ = failed.send(failure);
    if failure == BodyFailure::TooLarge {
        // Read and drop the rest for a while, so the client (still writing) gets the 413
        // instead of a reset connection.
        let discard = async { while let Some(Ok(_)) = body.frame().await {} };
        let _ = tokio::time::timeout(LINGER, discard).await;
    }
}

/// Hands the request to the JavaScript handler and returns its (streaming) response.
pub(crate) async fn to_handler(
    shared: &Arc<Shared>,
    remote: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
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
    let has_body = !hyper::body::Body::is_end_stream(req.body());

    let id = shared.next_id();
    let (head_tx, head_rx) = oneshot::channel();
    let (body_tx, body_rx) = mpsc::channel(RESPONSE_CHUNKS);
    let drain_wanted = Arc::new(AtomicBool::new(false));
    let worker = shared.workers.assign();
    let events = Arc::clone(worker.queue(&shared.events));
    shared.pending_http.lock().insert(
        id,
        Pending {
            head: Some(head_tx),
            body: Some(body_tx),
            drain_wanted: Arc::clone(&drain_wanted),
            worker,
        },
    );
    let mut guard = AbortGuard {
        shared: Arc::clone(shared),
        events: Arc::clone(&events),
        id,
        armed: true,
    };
    // Client-driven, so it takes its bytes from the inbound budget like messages do.
    events
        .push_budgeted(Event::HttpRequest {
            id,
            head: Value::Object(head).to_string(),
            has_body,
        })
        .await;
    let (failed_tx, failed_rx) = oneshot::channel::<BodyFailure>();
    if has_body {
        let body = req.into_body();
        shared.tracker.spawn(pump_body(
            Arc::clone(shared),
            Arc::clone(&events),
            id,
            body,
            limit,
            failed_tx,
        ));
    } else {
        drop(failed_tx);
    }
    let failed = async {
        match failed_rx.await {
            Ok(failure) => failure,
            Err(_) => std::future::pending::<BodyFailure>().await,
        }
    };

    let head = tokio::select! {
        head = head_rx => head,
        failure = failed => return failure.response(),
    };
    let Ok(Answer { head, whole }) = head else {
        // The hook runner went away (server stopping).
        return text(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    };
    guard.armed = false;
    let body = match whole {
        Some(bytes) => full(bytes),
        None => ResponseBody {
            rx: body_rx,
            drain_wanted,
            shared: Arc::clone(shared),
            events,
            id,
            finished: false,
        }
        .boxed(),
    };
    build_response(shared, head, body)
}

fn build_response(shared: &Shared, head: HttpHead, body: Body) -> Response<Body> {
    let Ok(status) = StatusCode::from_u16(head.status) else {
        shared.log(
            2,
            format!("HTTP handler returned invalid status {}", head.status),
        );
        return text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let mut res = Response::new(body);
    *res.status_mut() = status;
    for (name, value) in head.headers {
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
