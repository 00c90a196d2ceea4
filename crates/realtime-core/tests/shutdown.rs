//! The graceful shutdown sequence.

mod common;

use std::time::Duration;

use common::*;
use realtime_core::events::Event;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sockets_with_1001_then_stops() {
    let ts = start(config());
    let mut a = connect(&ts.ws_url()).await;
    let mut b = connect(&ts.ws_url()).await;
    ts.expect_open();
    ts.expect_open();
    ts.server.begin_shutdown(Duration::from_secs(5));
    ts.server.begin_shutdown(Duration::from_secs(5));
    assert!(matches!(ts.next_event(), Event::Drained));
    ts.server.finish_shutdown();
    assert_eq!(next_close_code(&mut a).await, Some(1001));
    assert_eq!(next_close_code(&mut b).await, Some(1001));
    let mut codes = Vec::new();
    loop {
        match ts.next_event() {
            Event::Close { code, .. } => codes.push(code),
            Event::Stopped => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(codes, vec![1001, 1001]);
    assert!(
        tokio::net::TcpStream::connect(ts.addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_timeout_drops_unresponsive_sockets() {
    let ts = start(config());
    // Never reads, so never answers the close frame.
    let _deaf = connect(&ts.ws_url()).await;
    ts.expect_open();
    let started = std::time::Instant::now();
    ts.server.begin_shutdown(Duration::from_millis(300));
    assert!(matches!(ts.next_event(), Event::Drained));
    // No finish_shutdown: the timeout moves on by itself.
    let (_, code, _) = ts.expect_close();
    assert!(matches!(ts.next_event(), Event::Stopped));
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(code == 1001 || code == 1006, "code {code}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_of_handlers_in_flight_go_out_before_the_close() {
    let ts = start(config());
    let mut client = connect(&ts.ws_url()).await;
    let id = ts.expect_open();
    send_text(&mut client, "question").await;
    assert!(matches!(ts.next_event(), Event::Message { .. }));
    // The handler is still working when shutdown starts.
    ts.server.begin_shutdown(Duration::from_secs(10));
    // Sent after shutdown began: never reaches a handler.
    send_text(&mut client, "too late").await;
    assert!(matches!(ts.next_event(), Event::Drained));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        ts.server.send_text(id, "answer"),
        realtime_core::SendStatus::Success
    );
    ts.server.finish_shutdown();
    assert_eq!(next_text(&mut client).await, "answer");
    assert_eq!(next_close_code(&mut client).await, Some(1001));
    loop {
        match ts.next_event() {
            Event::Close { code, .. } => assert_eq!(code, 1001),
            Event::Stopped => break,
            other => panic!("a message after shutdown began reached the runner: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finishing_the_handlers_early_closes_without_waiting_for_the_timeout() {
    let ts = start(config());
    let mut client = connect(&ts.ws_url()).await;
    ts.expect_open();
    let started = std::time::Instant::now();
    ts.server.begin_shutdown(Duration::from_secs(30));
    assert!(matches!(ts.next_event(), Event::Drained));
    ts.server.finish_shutdown();
    assert_eq!(next_close_code(&mut client).await, Some(1001));
    assert!(started.elapsed() < Duration::from_secs(5));
}
