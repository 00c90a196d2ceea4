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
            match runner.next_event() {
                Event::HttpRequest { id, head, body } => {
                    seen.push((
                        serde_json::from_str::<serde_json::Value>(&head).unwrap(),
                        body,
                    ));
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
                other => panic!("expected HttpRequest, got {other:?}"),
            }
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
    assert_eq!(ts.next_event_within(Duration::from_millis(100)), None);
}
