//! Request framing a hostile peer controls: transfer codings, broken chunked bodies, and
//! bodies sent too slowly. The server answers these itself, before or instead of the handler.

mod common;

use std::time::{Duration, Instant};

use common::*;
use realtime_core::events::Event;
use realtime_core::{HookSet, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn with_handler() -> ServerConfig {
    ServerConfig {
        hooks: HookSet {
            http: true,
            ..HookSet::default()
        },
        ..config()
    }
}

/// A chunked POST followed by a pipelined GET, with the given Transfer-Encoding lines.
fn smuggle(te_lines: &str) -> Vec<u8> {
    format!(
        "POST /a HTTP/1.1\r\nHost: x\r\n{te_lines}\r\n5\r\nhello\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codings_other_than_chunked_are_501_and_close_the_connection() {
    let ts = start(with_handler());
    for te in [
        "Transfer-Encoding: identity, chunked\r\n",
        "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
        "Transfer-Encoding: x-custom , CHUNKED\r\n",
    ] {
        let reply = raw_http(ts.addr, &smuggle(te), Duration::from_secs(2)).await;
        assert!(reply.starts_with("HTTP/1.1 501 "), "{te:?}: {reply}");
        assert!(
            reply.to_ascii_lowercase().contains("connection: close"),
            "{reply}"
        );
        assert_eq!(
            reply.matches("HTTP/1.1 ").count(),
            1,
            "the pipelined request must not be served: {reply}"
        );
    }
    let twice = raw_http(
        ts.addr,
        &smuggle("Transfer-Encoding: chunked, chunked\r\n"),
        Duration::from_secs(2),
    )
    .await;
    assert!(twice.starts_with("HTTP/1.1 400 "), "{twice}");
    assert_eq!(twice.matches("HTTP/1.1 ").count(), 1, "{twice}");
    // Nothing of it reached the handler.
    assert!(ts.next_event_within(Duration::from_millis(200)).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_chunked_is_read_and_the_pipeline_continues() {
    let ts = start(with_handler());
    let mut stream = tokio::net::TcpStream::connect(ts.addr).await.unwrap();
    stream
        .write_all(&smuggle("Transfer-Encoding: chunked\r\n"))
        .await
        .unwrap();
    let Event::HttpRequest { id, has_body, .. } = ts.next_event() else {
        panic!("expected the POST");
    };
    assert!(has_body);
    let mut body = Vec::new();
    loop {
        match ts.next_event() {
            Event::HttpBody { chunk, .. } => body.extend_from_slice(&chunk),
            Event::HttpBodyEnd { code, .. } => {
                assert_eq!(code, 0);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(body, b"hello");
    ts.server.respond_http(id, ok("a"));
    let Event::HttpRequest { id, .. } = ts.next_event() else {
        panic!("expected the pipelined GET");
    };
    ts.server.respond_http(id, ok("b"));
    let mut out = vec![0u8; 4096];
    let mut text = String::new();
    while text.matches("HTTP/1.1 200").count() < 2 {
        let n = stream.read(&mut out).await.unwrap();
        assert!(n > 0, "closed early: {text}");
        text.push_str(&String::from_utf8_lossy(&out[..n]));
    }
}

fn ok(body: &'static str) -> realtime_core::server::HttpResponse {
    realtime_core::server::HttpResponse {
        status: 200,
        headers: vec![],
        body: bytes::Bytes::from_static(body.as_bytes()),
    }
}

/// Drives one request whose body is broken and returns the reply and the body end code.
async fn broken_body(ts: &TestServer, request: &[u8]) -> (String, u16) {
    let reply = raw_http(ts.addr, request, Duration::from_secs(2)).await;
    let Event::HttpRequest { .. } = ts.next_event() else {
        panic!("expected HttpRequest");
    };
    let code = loop {
        match ts.next_event() {
            Event::HttpBodyEnd { code, .. } => break code,
            Event::HttpBody { .. } => {}
            other => panic!("{other:?}"),
        }
    };
    // The server answered in the handler's place: the handler hears the request is gone.
    assert!(matches!(ts.next_event(), Event::HttpAborted { .. }));
    (reply, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_chunked_bodies_are_400_not_500() {
    let ts = start(with_handler());
    for request in [
        &b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"[..],
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nx\r\n0\r\n\r\n",
        b"POST /a HTTP/1.1\nHost: x\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n",
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
    ] {
        let (reply, code) = broken_body(&ts, request).await;
        assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
        assert!(reply.to_ascii_lowercase().contains("connection: close"), "{reply}");
        assert_eq!(code, 400);
    }
}

async fn trickle(ts: &TestServer, pause: Duration, bytes: usize) -> (String, Duration) {
    let mut stream = tokio::net::TcpStream::connect(ts.addr).await.unwrap();
    stream
        .write_all(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let reader = tokio::spawn(async move {
        let mut out = Vec::new();
        let (mut read, mut write) = stream.into_split();
        let writer = tokio::spawn(async move {
            for _ in 0..bytes {
                if write.write_all(b"x").await.is_err() {
                    return;
                }
                tokio::time::sleep(pause).await;
            }
        });
        let _ = tokio::time::timeout(Duration::from_secs(10), read.read_to_end(&mut out)).await;
        writer.abort();
        String::from_utf8_lossy(&out).into_owned()
    });
    let reply = reader.await.unwrap();
    (reply, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_body_is_408_after_body_read_timeout() {
    let ts = start(ServerConfig {
        body_read_timeout: Duration::from_millis(300),
        ..with_handler()
    });
    // Two bytes, then silence.
    let (reply, took) = trickle(&ts, Duration::from_secs(5), 2).await;
    assert!(reply.starts_with("HTTP/1.1 408 "), "{reply}");
    assert!(reply.to_ascii_lowercase().contains("connection: close"));
    assert!(took < Duration::from_secs(3), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_at_a_byte_per_tick_is_408_after_request_timeout() {
    let ts = start(ServerConfig {
        body_read_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_millis(800),
        ..with_handler()
    });
    // Never silent for long, never done: only the total bound catches it.
    let (reply, took) = trickle(&ts, Duration::from_millis(50), 1000).await;
    assert!(reply.starts_with("HTTP/1.1 408 "), "{reply}");
    assert!(
        took >= Duration::from_millis(700) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let Event::HttpRequest { .. } = ts.next_event() else {
        panic!("expected HttpRequest");
    };
    let code = loop {
        if let Event::HttpBodyEnd { code, .. } = ts.next_event() {
            break code;
        }
    };
    assert_eq!(code, 408);
}
