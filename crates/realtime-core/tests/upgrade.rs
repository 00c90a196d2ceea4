//! Every outcome of the upgrade: hook answers, timeout, origin policy, bad handshakes.

mod common;

use std::time::Duration;

use common::*;
use realtime_core::events::Event;
use realtime_core::origin::OriginPolicy;
use realtime_core::server::UpgradeDecision;
use realtime_core::{HookSet, ServerConfig};

fn with_upgrade_hook() -> ServerConfig {
    ServerConfig {
        hooks: HookSet {
            upgrade: true,
            ..HookSet::default()
        },
        ..config()
    }
}

/// Answers the next upgrade request with `decision` from a blocking thread; returns the
/// request JSON it saw.
fn answer_next(ts: &TestServer, decision: Option<UpgradeDecision>) -> (u64, serde_json::Value) {
    match ts.next_event() {
        Event::Upgrade { id, request } => {
            if let Some(decision) = decision {
                assert!(ts.server.resolve_upgrade(id, decision));
            }
            (id, serde_json::from_str(&request).unwrap())
        }
        other => panic!("expected Upgrade, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_upgrade_sees_headers_url_with_query_and_address() {
    let ts = std::sync::Arc::new(start(with_upgrade_hook()));
    let url = format!("{}?room=7", ts.ws_url());
    let client =
        tokio::spawn(
            async move { connect_with(&url, &[("cookie", "a=1"), ("x-custom", "v")]).await },
        );
    let answering = std::sync::Arc::clone(&ts);
    let (id, request) = blocking(move || answer_next(&answering, Some(UpgradeDecision::Accept)))
        .await
        .unwrap();
    assert!(client.await.unwrap().is_ok());
    assert_eq!(request["url"], "/ws?room=7");
    assert_eq!(request["headers"]["cookie"], "a=1");
    assert_eq!(request["headers"]["x-custom"], "v");
    assert_eq!(request["remoteAddress"], "127.0.0.1");
    assert_eq!(ts.expect_open(), id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_upgrades_get_the_chosen_status() {
    let ts = std::sync::Arc::new(start(with_upgrade_hook()));
    for status in [401, 500] {
        let url = ts.ws_url();
        let client = tokio::spawn(async move { connect_with(&url, &[]).await });
        let answering = std::sync::Arc::clone(&ts);
        blocking(move || answer_next(&answering, Some(UpgradeDecision::Reject(status))))
            .await
            .unwrap();
        assert_eq!(client.await.unwrap().err(), Some(status));
        assert!(matches!(ts.next_event(), Event::UpgradeAborted { .. }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unanswered_upgrade_times_out_with_504() {
    let ts = std::sync::Arc::new(start(ServerConfig {
        upgrade_timeout: Duration::from_millis(300),
        ..with_upgrade_hook()
    }));
    let url = ts.ws_url();
    let client = tokio::spawn(async move { connect_with(&url, &[]).await });
    let answering = std::sync::Arc::clone(&ts);
    let (id, _) = blocking(move || answer_next(&answering, None))
        .await
        .unwrap();
    assert_eq!(client.await.unwrap().err(), Some(504));
    assert!(
        !ts.server.resolve_upgrade(id, UpgradeDecision::Accept),
        "a late answer is ignored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_leaving_during_the_hook_reports_an_abort() {
    let ts = std::sync::Arc::new(start(with_upgrade_hook()));
    let url = ts.ws_url();
    let client = tokio::spawn(async move { connect_with(&url, &[]).await });
    let answering = std::sync::Arc::clone(&ts);
    let (id, _) = blocking(move || answer_next(&answering, None))
        .await
        .unwrap();
    client.abort();
    match ts.next_event() {
        Event::UpgradeAborted { id: aborted } => assert_eq!(aborted, id),
        other => panic!("expected UpgradeAborted, got {other:?}"),
    }
    assert!(!ts.server.resolve_upgrade(id, UpgradeDecision::Accept));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origin_policy_is_enforced_with_403() {
    let ts = start(config());
    let host = ts.addr.to_string();
    let same = format!("http://{host}");
    assert!(
        connect_with(&ts.ws_url(), &[("origin", &same)])
            .await
            .is_ok()
    );
    assert_eq!(
        connect_with(&ts.ws_url(), &[("origin", "http://evil.example")])
            .await
            .err(),
        Some(403)
    );
    let listed = start(ServerConfig {
        allowed_origins: OriginPolicy::List(vec!["https://app.example".into()]),
        ..config()
    });
    assert!(
        connect_with(&listed.ws_url(), &[("origin", "https://app.example")])
            .await
            .is_ok()
    );
    assert_eq!(
        connect_with(&listed.ws_url(), &[("origin", &same)])
            .await
            .err(),
        Some(403)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handshakes_are_refused() {
    let ts = start(config());
    let reply = raw_http(
        ts.addr,
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        Duration::from_millis(500),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 426"), "{reply}");
    assert!(
        reply
            .to_ascii_lowercase()
            .contains("sec-websocket-version: 13")
    );
    let reply = raw_http(
        ts.addr,
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
        Duration::from_millis(500),
    )
    .await;
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_offered_subprotocol_is_echoed() {
    let ts = start(config());
    let reply = raw_http(
        ts.addr,
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
        Duration::from_millis(500),
    )
    .await;
    let lower = reply.to_ascii_lowercase();
    assert!(reply.starts_with("HTTP/1.1 101"), "{reply}");
    assert!(lower.contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="));
    assert!(lower.contains("sec-websocket-protocol: chat\r\n"));
    assert!(!lower.contains("sec-websocket-extensions"));
}
