//! Publishes of a held turn (`hold_wakes` .. `release_wakes`, what a JavaScript turn does)
//! are coalesced per topic; every socket still sees its frames in the order they were
//! produced, and subscribers get exactly what was published while they were subscribed.

mod common;

use common::*;

use realtime_core::server::{hold_wakes, release_wakes};

fn envelope(topic: &str, event: &str) -> String {
    format!(r#"{{"topic":"{topic}","event":"{event}","data":null}}"#)
}

async fn expect_texts(client: &mut Client, expected: &[String]) {
    for want in expected {
        assert_eq!(&next_text(client).await, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_turn_keeps_socket_order_and_subscription_boundaries() {
    let ts = start(config());
    let mut a = connect(&ts.ws_url()).await;
    let a_id = ts.expect_open();
    let mut b = connect(&ts.ws_url()).await;
    let b_id = ts.expect_open();
    assert!(ts.server.subscribe(a_id, "t"));
    assert!(ts.server.subscribe(a_id, "u"));

    // One turn: a run on `t`, a direct send, `b` joining mid-run, another topic, `b`
    // leaving, then a close after a publish.
    hold_wakes();
    ts.server.publish("t", "e1", None);
    ts.server.publish("t", "e2", None);
    ts.server.send_envelope(a_id, "__rpc", "direct", None);
    ts.server.publish("t", "e3", None);
    assert!(ts.server.subscribe(b_id, "t"));
    ts.server.publish("t", "e4", None);
    ts.server.publish("u", "f1", None);
    ts.server.publish("t", "e5", None);
    assert!(ts.server.unsubscribe(b_id, "t"));
    ts.server.publish("t", "e6", None);
    release_wakes();

    let t = |e: &str| envelope("t", e);
    expect_texts(
        &mut a,
        &[
            t("e1"),
            t("e2"),
            envelope("__rpc", "direct"),
            t("e3"),
            t("e4"),
            envelope("u", "f1"),
            t("e5"),
            t("e6"),
        ],
    )
    .await;
    expect_texts(&mut b, &[t("e4"), t("e5")]).await;

    // The close goes after what the turn published before it.
    hold_wakes();
    ts.server.publish("t", "last", None);
    assert!(ts.server.end(a_id, 4000, "bye"));
    release_wakes();
    expect_texts(&mut a, &[t("last")]).await;
    assert_eq!(next_close_code(&mut a).await, Some(4000));

    // Nothing more reached `b` after it left.
    ts.server.send_envelope(b_id, "__rpc", "end", None);
    assert_eq!(next_text(&mut b).await, envelope("__rpc", "end"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_held_turn_delivers_everything_in_order() {
    let ts = start(config());
    let mut clients = Vec::new();
    for _ in 0..3 {
        let client = connect(&ts.ws_url()).await;
        let id = ts.expect_open();
        assert!(ts.server.subscribe(id, "all"));
        clients.push(client);
    }
    // 2000 publishes of ~260 bytes: runs are cut at 64 KiB, about eight of them.
    let text = "x".repeat(200);
    hold_wakes();
    for n in 0..2000 {
        let data = format!(r#"{{"n":{n},"text":"{text}"}}"#);
        assert_eq!(ts.server.publish("all", "n", Some(&data)), 3);
    }
    release_wakes();
    for client in &mut clients {
        for n in 0..2000 {
            let got = next_text(client).await;
            let want =
                format!(r#"{{"topic":"all","event":"n","data":{{"n":{n},"text":"{text}"}}}}"#);
            assert_eq!(got, want);
        }
    }
    assert_eq!(ts.server.stats().dropped_messages, 0);
}
