//! The Redis bus between two servers in one process, against the real Redis on
//! 127.0.0.1:6379 (REDIS_URL overrides): delivery with identical bytes, no echo, the
//! subscription follows local subscribers, and malformed channel messages are counted.

mod common;

use common::*;
use std::time::Duration;

use realtime_core::bus::BusConfig;

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn unique_channel() -> String {
    format!("rust-test:{:016x}", rand::random::<u64>())
}

fn attach(ts: &TestServer, channel: &str) {
    let config = BusConfig {
        url: redis_url(),
        channel: channel.into(),
    };
    assert!(ts.server.attach_bus(config.clone()).expect("valid URL"));
    assert!(
        !ts.server.attach_bus(config).unwrap(),
        "attaching twice is a no-op"
    );
}

async fn redis_conn() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("Redis runs on the test machine")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_cross_with_identical_bytes_and_no_echo() {
    let channel = unique_channel();
    let (a, b) = (start(config()), start(config()));
    attach(&a, &channel);
    attach(&b, &channel);
    let mut on_a = connect(&a.ws_url()).await;
    let id_a = a.expect_open();
    let mut on_b = connect(&b.ws_url()).await;
    let id_b = b.expect_open();
    assert!(a.server.subscribe(id_a, "news"));
    assert!(b.server.subscribe(id_b, "news"));
    assert!(b.server.bus_ready("news", Duration::from_secs(5)).await);
    assert!(a.server.bus_ready("news", Duration::from_secs(5)).await);

    assert_eq!(a.server.publish("news", "created", Some(r#"{"id":1}"#)), 1);
    b.server.publish("news", "deleted", None);
    let expected_1 = r#"{"topic":"news","event":"created","data":{"id":1}}"#;
    let expected_2 = r#"{"topic":"news","event":"deleted","data":null}"#;
    for client in [&mut on_a, &mut on_b] {
        let first = next_text(client).await;
        let second = next_text(client).await;
        let mut got = [first, second];
        got.sort();
        let mut want = [expected_1.to_string(), expected_2.to_string()];
        want.sort();
        assert_eq!(got, want);
    }
    // Nothing more: neither instance delivered its own publish twice.
    for client in [&mut on_a, &mut on_b] {
        let extra = tokio::time::timeout(Duration::from_millis(300), next_text(client)).await;
        assert!(extra.is_err(), "unexpected extra message {extra:?}");
    }
    let (ca, cb) = (
        a.server.bus_counts().unwrap(),
        b.server.bus_counts().unwrap(),
    );
    assert_eq!((ca.published, ca.received), (1, 1));
    assert_eq!((cb.published, cb.received), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_subscription_follows_local_subscribers() {
    let channel = unique_channel();
    let a = start(config());
    attach(&a, &channel);
    let mut redis = redis_conn().await;
    let numsub = |mut redis: redis::aio::MultiplexedConnection, ch: String| async move {
        let (_, n): (String, u64) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(ch)
            .query_async(&mut redis)
            .await
            .unwrap();
        n
    };
    let _c1 = connect(&a.ws_url()).await;
    let one = a.expect_open();
    let _c2 = connect(&a.ws_url()).await;
    let two = a.expect_open();
    let topic_channel = format!("{channel}:room");
    assert!(a.server.subscribe(one, "room"));
    assert!(a.server.subscribe(two, "room"));
    assert!(a.server.bus_ready("room", Duration::from_secs(5)).await);
    assert_eq!(numsub(redis.clone(), topic_channel.clone()).await, 1);
    assert!(a.server.unsubscribe(one, "room"));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(numsub(redis.clone(), topic_channel.clone()).await, 1);
    assert!(a.server.unsubscribe(two, "room"));
    let mut left = 1;
    for _ in 0..50 {
        left = numsub(redis.clone(), topic_channel.clone()).await;
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left, 0, "the last local subscriber leaving unsubscribes");
    let _: () = redis::cmd("PING").query_async(&mut redis).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_channel_messages_are_dropped_and_counted() {
    let channel = unique_channel();
    let a = start(config());
    attach(&a, &channel);
    let mut client = connect(&a.ws_url()).await;
    let id = a.expect_open();
    assert!(a.server.subscribe(id, "t"));
    assert!(a.server.bus_ready("t", Duration::from_secs(5)).await);
    let mut redis = redis_conn().await;
    for junk in [
        &b"hello"[..],
        b"SR1",
        b"SR1\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\xff\xff",
    ] {
        let _: u64 = redis::cmd("PUBLISH")
            .arg(format!("{channel}:t"))
            .arg(junk)
            .query_async(&mut redis)
            .await
            .unwrap();
    }
    for _ in 0..100 {
        if a.server.bus_counts().unwrap().dropped == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(a.server.bus_counts().unwrap().dropped, 3);
    let extra = tokio::time::timeout(Duration::from_millis(200), next_text(&mut client)).await;
    assert!(extra.is_err(), "junk must not reach sockets");
}
