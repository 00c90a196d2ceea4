//! Plain HTTP on the same port: health check, 404, the handler round trip, limits.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use realtime_core::events::Event;
use realtime_core::server::HttpResponse;
use realtime_core::{HookSet, ServerConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_check_and_404_without_a_handler() {
    let ts = start(config());
    let reply = raw_http(
        ts.addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nOK"));
    let reply = raw_http(
        ts.addr,
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(
        reply.starts_with("HTTP/1.1 404"),
        "plain GET on the ws path: {reply}"
    );
}

/// The next request with its whole body.
fn next_request(ts: &TestServer) -> (u64, serde_json::Value, Bytes) {
    let Event::HttpRequest { id, head, has_body } = ts.next_event() else {
        panic!("expected HttpRequest");
    };
    let mut body = Vec::new();
    if has_body {
        loop {
            match ts.next_event() {
                Event::HttpBody { chunk, .. } => body.extend_from_slice(&chunk),
                Event::HttpBodyEnd { code, .. } => {
                    assert_eq!(code, 0);
                    break;
                }
                other => panic!("expected body events, got {other:?}"),
            }
        }
    }
    (id, serde_json::from_str(&head).unwrap(), Bytes::from(body))
}

fn with_handler() -> ServerConfig {
    ServerConfig {
        hooks: HookSet {
            http: true,
            ..HookSet::default()
        },
        body_size_limit: 1024,
        ..config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_go_to_the_handler_on_a_kept_alive_connection() {
    let ts = std::sync::Arc::new(start(with_handler()));
    let runner = std::sync::Arc::clone(&ts);
    let answered = blocking(move || {
        let mut seen = Vec::new();
        for n in 0..2 {
            let (id, head, body) = next_request(&runner);
            seen.push((head, body));
            assert!(runner.server.respond_http(
                id,
                HttpResponse {
                    status: 201,
                    headers: vec![
                        ("x-n".into(), n.to_string()),
                        ("set-cookie".into(), "a=1".into()),
                        ("set-cookie".into(), "b=2".into()),
                    ],
                    body: Bytes::from(format!("reply {n}")),
                }
            ));
        }
        seen
    });
    let reply = raw_http(
        ts.addr,
        b"POST /api?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(3),
    )
    .await;
    let seen = answered.await.unwrap();
    assert_eq!(seen[0].0["method"], "POST");
    assert_eq!(seen[0].0["url"], "/api?q=1");
    assert_eq!(&seen[0].1[..], b"hello");
    assert_eq!(seen[1].0["url"], "/two");
    assert_eq!(reply.matches("HTTP/1.1 201 Created").count(), 2, "{reply}");
    assert_eq!(reply.matches("set-cookie:").count(), 4, "{reply}");
    assert!(reply.contains("reply 0") && reply.ends_with("reply 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413() {
    let ts = start(with_handler());
    let reply = raw_http(
        ts.addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(
        reply.starts_with("HTTP/1.1 413"),
        "declared length: {reply}"
    );
    let mut chunked =
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            .to_vec();
    for _ in 0..3 {
        chunked.extend_from_slice(b"200\r\n");
        chunked.extend_from_slice(&[b'a'; 0x200]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let reply = raw_http(ts.addr, &chunked, Duration::from_secs(2)).await;
    assert!(
        reply.starts_with("HTTP/1.1 413"),
        "streamed length: {reply}"
    );
    // The handler heard of the request, then of its end: too large.
    assert!(matches!(
        ts.next_event(),
        Event::HttpRequest { has_body: true, .. }
    ));
    let end = loop {
        match ts.next_event() {
            Event::HttpBody { .. } => continue,
            other => break other,
        }
    };
    assert!(
        matches!(end, Event::HttpBodyEnd { code: 413, .. }),
        "{end:?}"
    );
    assert!(matches!(ts.next_event(), Event::HttpAborted { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_stream_with_backpressure() {
    use realtime_core::server::{ChunkStatus, HttpHead, RESPONSE_CHUNKS};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ts = start(with_handler());
    let mut stream = tokio::net::TcpStream::connect(ts.addr).await.unwrap();
    stream
        .write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let (id, _, _) = next_request(&ts);
    let head = HttpHead {
        status: 200,
        headers: vec![("content-type".into(), "text/plain".into())],
    };
    assert!(ts.server.respond_head(id, head));
    // hyper writes chunks out as fast as the socket takes them, so the queue only fills once
    // the client stops reading long enough: big chunks get there quickly.
    let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
    let mut sent = 0usize;
    loop {
        let status = ts.server.respond_chunk(id, chunk.clone());
        assert_ne!(status, ChunkStatus::Gone);
        sent += 1;
        if status == ChunkStatus::Full {
            break;
        }
        assert!(sent < 4096, "the queue never filled");
    }
    assert!(sent >= RESPONSE_CHUNKS);
    // Reading frees room, and the server says so.
    let reader = tokio::spawn(async move {
        let mut received = Vec::new();
        stream.read_to_end(&mut received).await.unwrap();
        received
    });
    assert!(matches!(ts.next_event(), Event::HttpDrain { .. }));
    assert_ne!(
        ts.server.respond_chunk(id, Bytes::from_static(b"last")),
        ChunkStatus::Gone
    );
    assert!(ts.server.respond_end(id));
    let received = reader.await.unwrap();
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.contains("transfer-encoding: chunked"),
        "{}",
        &text[..200]
    );
    let body = &text[text.find("\r\n\r\n").expect("a head") + 4..];
    let body_bytes = body.matches('x').count();
    assert_eq!(body_bytes, sent * 64 * 1024);
    assert!(text.contains("last"));
    assert_eq!(
        ts.server.respond_chunk(id, Bytes::from_static(b"late")),
        ChunkStatus::Gone
    );
}
