//! Each documented limit, against a real server.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures_util::StreamExt;
use realtime_core::{SendStatus, ServerConfig};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_message_closes_with_1009_and_a_close_frame() {
    let ts = start(ServerConfig {
        max_payload_length: 1024,
        ..config()
    });
    let mut client = connect(&ts.ws_url()).await;
    ts.expect_open();
    send_text(&mut client, &"x".repeat(1024)).await;
    assert!(matches!(
        ts.next_event(),
        realtime_core::Event::Message { .. }
    ));
    send_text(&mut client, &"x".repeat(1025)).await;
    assert_eq!(next_close_code(&mut client).await, Some(1009));
    let (_, code, reason) = ts.expect_close();
    assert_eq!((code, reason.as_str()), (1009, "Message too big"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_socket_is_pinged_then_closed_after_idle_timeout() {
    let ts = start(ServerConfig {
        idle_timeout: Duration::from_secs(2),
        ..config()
    });
    // This client never reads, so it never answers the ping.
    let _silent = connect(&ts.ws_url()).await;
    let started = Instant::now();
    ts.expect_open();
    let (_, code, reason) = ts.expect_close();
    let elapsed = started.elapsed();
    assert_eq!(code, 1006);
    assert_eq!(reason, "WebSocket timed out from inactivity");
    assert!(
        elapsed >= Duration::from_millis(1900),
        "closed after {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answering_pings_keeps_a_socket_alive() {
    let ts = start(ServerConfig {
        idle_timeout: Duration::from_secs(2),
        ..config()
    });
    let mut client = connect(&ts.ws_url()).await;
    ts.expect_open();
    // Reading makes tungstenite answer pings with pongs.
    let mut pings = 0;
    let deadline = Instant::now() + Duration::from_millis(4500);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), client.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(Some(Ok(other))) => panic!("unexpected {other:?}"),
            Ok(_) => panic!("socket closed"),
            Err(_) => {}
        }
    }
    assert!(pings >= 2, "pinged {pings} times");
    assert_eq!(ts.next_event_within(Duration::from_millis(100)), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backpressure_drops_and_counts_above_the_limit() {
    let ts = start(ServerConfig {
        max_backpressure: 64 * 1024,
        ..config()
    });
    let _not_reading = connect(&ts.ws_url()).await;
    let id = ts.expect_open();
    let chunk = "y".repeat(16 * 1024);
    let mut statuses = Vec::new();
    // Enough to fill the kernel buffers and the outbox.
    for _ in 0..2000 {
        statuses.push(ts.server.send_text(id, &chunk));
        if statuses.last() == Some(&SendStatus::Dropped) {
            break;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    assert_eq!(statuses.last(), Some(&SendStatus::Dropped));
    assert!(statuses.contains(&SendStatus::Backpressure));
    let buffered = ts.server.buffered_amount(id);
    // The writer keeps draining, so only the bound is deterministic; the drop (counted
    // below) proves the queue was over the limit.
    assert!(buffered <= 96 * 1024, "buffered {buffered}");
    assert_eq!(ts.server.connection_count(), 1, "dropping does not close");
    assert_eq!(ts.server.stats().dropped_messages, 1, "the drop is counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_on_backpressure_limit_closes_slow_consumers_with_1008() {
    let ts = start(ServerConfig {
        max_backpressure: 64 * 1024,
        close_on_backpressure_limit: true,
        ..config()
    });
    let _not_reading = connect(&ts.ws_url()).await;
    let id = ts.expect_open();
    let chunk = "z".repeat(16 * 1024);
    for _ in 0..2000 {
        if ts.server.send_text(id, &chunk) == SendStatus::Dropped {
            break;
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    let (closed, code, _) = ts.expect_close();
    assert_eq!((closed, code), (id, 1008));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_connections_refuses_with_503() {
    let ts = start(ServerConfig {
        max_connections: 2,
        ..config()
    });
    let _a = connect(&ts.ws_url()).await;
    let _b = connect(&ts.ws_url()).await;
    assert_eq!(connect_with(&ts.ws_url(), &[]).await.err(), Some(503));
    drop(_a);
    ts.expect_open();
    ts.expect_open();
    ts.expect_close();
    assert!(
        connect_with(&ts.ws_url(), &[]).await.is_ok(),
        "a slot freed up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_request_head_is_dropped_after_header_read_timeout() {
    let ts = start(ServerConfig {
        header_read_timeout: Duration::from_secs(1),
        ..config()
    });
    let started = Instant::now();
    let reply = raw_http(
        ts.addr,
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websock",
        Duration::from_secs(5),
    )
    .await;
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(4),
        "dropped after {elapsed:?}"
    );
    assert!(!reply.contains("101"), "no upgrade: {reply:?}");
}
