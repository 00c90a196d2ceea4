//! Messages, envelopes, fan-out order and control frames over a real socket.

mod common;

use common::*;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use realtime_core::control::MessageKind;
use realtime_core::events::Event;
use realtime_core::rpc_call::CallShape;
use realtime_core::{HookSet, SendStatus};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_the_runner_in_order_with_kinds() {
    let ts = start(config());
    let mut client = connect(&ts.ws_url()).await;
    let id = ts.expect_open();
    send_text(&mut client, r#"{"rpc":"chat/send","id":"a1","args":[]}"#).await;
    send_text(
        &mut client,
        r#"{"rpc":"chat/feed","id":"a2","args":[],"stream":true}"#,
    )
    .await;
    send_text(&mut client, "plain").await;
    client
        .send(Message::Binary(vec![0, 0, 2, b'{', b'}', 9].into()))
        .await
        .unwrap();
    let expected = [
        (
            false,
            // The clients' exact call shape, delimited for JavaScript.
            MessageKind::RpcCall(CallShape {
                path_len: 9,
                id_len: 2,
            }),
            &br#"{"rpc":"chat/send","id":"a1","args":[]}"#[..],
        ),
        (
            false,
            MessageKind::RpcText,
            &br#"{"rpc":"chat/feed","id":"a2","args":[],"stream":true}"#[..],
        ),
        (false, MessageKind::Other, b"plain"),
        (true, MessageKind::RpcBinary, &[0, 0, 2, b'{', b'}', 9]),
    ];
    for (binary, kind, data) in expected {
        match ts.next_event() {
            Event::Message {
                id: got,
                is_binary,
                kind: got_kind,
                data: got_data,
            } => {
                assert_eq!(got, id);
                assert_eq!(is_binary, binary);
                assert_eq!(got_kind, kind);
                assert_eq!(&got_data[..], data);
            }
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_sends_reference_envelope_bytes_then_fifo_with_send() {
    let ts = start(config());
    let mut client = connect(&ts.ws_url()).await;
    let id = ts.expect_open();
    assert!(ts.server.subscribe(id, "todos"));
    assert_eq!(
        ts.server.publish("todos", "created", Some(r#"{"id":1}"#)),
        1
    );
    let status = ts
        .server
        .send_envelope(id, "__rpc", "ab1", Some(r#"{"ok":true}"#));
    assert_ne!(status, SendStatus::Dropped);
    ts.server.publish("todos", "deleted", None);
    assert_eq!(
        next_text(&mut client).await,
        r#"{"topic":"todos","event":"created","data":{"id":1}}"#
    );
    assert_eq!(
        next_text(&mut client).await,
        r#"{"topic":"__rpc","event":"ab1","data":{"ok":true}}"#
    );
    assert_eq!(
        next_text(&mut client).await,
        r#"{"topic":"todos","event":"deleted","data":null}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_close_code_reaches_the_runner_and_topics_are_left() {
    let ts = start(config());
    let mut client = connect(&ts.ws_url()).await;
    let id = ts.expect_open();
    ts.server.subscribe(id, "room");
    assert_eq!(ts.server.subscriber_count("room"), 1);
    client
        .close(Some(CloseFrame {
            code: 4000.into(),
            reason: "bye".into(),
        }))
        .await
        .unwrap();
    let (closed, code, reason) = ts.expect_close();
    assert_eq!((closed, code, reason.as_str()), (id, 4000, "bye"));
    assert_eq!(ts.server.subscriber_count("room"), 0);
    assert_eq!(ts.server.connection_count(), 0);
    assert_eq!(ts.server.send_text(id, "late"), SendStatus::Dropped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ungranted_client_subscribe_is_refused_without_a_hook() {
    let ts = start(config());
    let mut client = connect(&ts.ws_url()).await;
    let id = ts.expect_open();
    send_text(&mut client, r#"{"type":"subscribe","topic":"secret"}"#).await;
    send_text(&mut client, "sync").await;
    assert!(matches!(ts.next_event(), Event::Message { .. }));
    assert!(!ts.server.is_subscribed(id, "secret"));
    assert_eq!(ts.server.publish("secret", "x", None), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_topics_can_be_resubscribed_by_the_client_until_revoked() {
    let ts = start(config());
    let mut client = connect(&ts.ws_url()).await;
    let id = ts.expect_open();
    ts.server.subscribe(id, "feed");
    send_text(&mut client, r#"{"type":"unsubscribe","topic":"feed"}"#).await;
    send_text(&mut client, "sync").await;
    ts.next_event();
    assert!(!ts.server.is_subscribed(id, "feed"));
    send_text(&mut client, r#"{"type":"subscribe","topic":"feed"}"#).await;
    send_text(&mut client, "sync").await;
    ts.next_event();
    assert!(
        ts.server.is_subscribed(id, "feed"),
        "the grant survives a client unsubscribe"
    );
    // A server-side unsubscribe withdraws the grant.
    ts.server.unsubscribe(id, "feed");
    send_text(&mut client, r#"{"type":"subscribe","topic":"feed"}"#).await;
    send_text(&mut client, "sync").await;
    ts.next_event();
    assert!(!ts.server.is_subscribed(id, "feed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_hook_is_asked_but_never_for_reserved_topics() {
    let ts = start(realtime_core::ServerConfig {
        hooks: HookSet {
            subscribe: true,
            ..HookSet::default()
        },
        ..config()
    });
    let mut client = connect(&ts.ws_url()).await;
    let id = ts.expect_open();
    send_text(
        &mut client,
        r#"{"type":"subscribe","topic":"__signal:bob"}"#,
    )
    .await;
    send_text(&mut client, r#"{"type":"subscribe","topic":"chat"}"#).await;
    match ts.next_event() {
        Event::Subscribe { id: got, topic } => {
            assert_eq!((got, topic.as_str()), (id, "chat"));
        }
        other => panic!("expected Subscribe for chat, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_out_reaches_every_subscriber() {
    let ts = start(config());
    let mut clients = Vec::new();
    for _ in 0..50 {
        let client = connect(&ts.ws_url()).await;
        let id = ts.expect_open();
        ts.server.subscribe(id, "all");
        clients.push(client);
    }
    for n in 0..20 {
        assert_eq!(ts.server.publish("all", "n", Some(&n.to_string())), 50);
    }
    for client in &mut clients {
        for n in 0..20 {
            assert_eq!(
                next_text(client).await,
                format!(r#"{{"topic":"all","event":"n","data":{n}}}"#)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_sends_a_close_frame_and_reports_its_code() {
    let ts = start(config());
    let mut client = connect(&ts.ws_url()).await;
    let id = ts.expect_open();
    assert!(ts.server.end(id, 4001, "kicked"));
    assert!(
        !ts.server.end(id, 4002, "twice"),
        "a second end does nothing"
    );
    assert_eq!(next_close_code(&mut client).await, Some(4001));
    let (_, code, reason) = ts.expect_close();
    assert_eq!((code, reason.as_str()), (4001, "kicked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_drops_the_socket_with_1006() {
    let ts = start(config());
    let mut client = connect(&ts.ws_url()).await;
    let id = ts.expect_open();
    assert!(ts.server.abort(id));
    assert_eq!(next_close_code(&mut client).await, None, "no close frame");
    let (_, code, _) = ts.expect_close();
    assert_eq!(code, 1006);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracked_channel_state_follows_publishes_and_ends_with_the_last_subscriber() {
    use realtime_core::merge::{MergeOptions, Strategy};
    let ts = start(config());
    let mut first = connect(&ts.ws_url()).await;
    let a = ts.expect_open();
    let presence = MergeOptions {
        strategy: Strategy::Presence,
        ..MergeOptions::default()
    };
    ts.server
        .track_topic("typing:lobby", presence.clone(), None);
    ts.server.subscribe(a, "typing:lobby");
    ts.server.publish(
        "typing:lobby",
        "join",
        Some(r#"{"key":"alice","data":{"name":"Alice"}}"#),
    );
    assert_eq!(
        ts.server.topic_state_json("typing:lobby").as_deref(),
        Some(r#"[{"key":"alice","data":{"name":"Alice"}}]"#),
        "a late joiner is answered with this"
    );
    let _second = connect(&ts.ws_url()).await;
    let b = ts.expect_open();
    ts.server.track_topic("typing:lobby", presence, None);
    ts.server.subscribe(b, "typing:lobby");
    assert!(
        ts.server
            .topic_state_json("typing:lobby")
            .unwrap()
            .contains("alice")
    );
    ts.server.unsubscribe(b, "typing:lobby");
    assert!(
        ts.server.topic_state_json("typing:lobby").is_some(),
        "alice is still there"
    );
    first.close(None).await.expect("close works");
    ts.expect_close();
    assert_eq!(ts.server.topic_state_json("typing:lobby"), None);
}

/// A masked client text frame.
fn masked_text(payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_sent_with_the_upgrade_request_are_not_lost() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ts = start(config());
    let mut stream = tokio::net::TcpStream::connect(ts.addr).await.unwrap();
    let mut request =
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
            .to_vec();
    // Two frames and half of a third in the same write as the request head.
    request.extend(masked_text(b"first"));
    request.extend(masked_text(b"second"));
    let third = masked_text(b"third");
    request.extend_from_slice(&third[..4]);
    stream.write_all(&request).await.unwrap();
    let mut head = [0u8; 129];
    let n = stream.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 101"));
    ts.expect_open();
    stream.write_all(&third[4..]).await.unwrap();
    for expected in ["first", "second", "third"] {
        match ts.next_event() {
            Event::Message { data, .. } => assert_eq!(&data[..], expected.as_bytes()),
            other => panic!("expected {expected}, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragmented_messages_and_pings_between_fragments() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let ts = start(config());
    let mut client = connect(&ts.ws_url()).await;
    ts.expect_open();
    let part =
        |op, text: &str, fin| Message::Frame(Frame::message(text.as_bytes().to_vec(), op, fin));
    client
        .send(part(OpCode::Data(Data::Text), "Hel", false))
        .await
        .unwrap();
    client
        .send(Message::Ping(Bytes::from_static(b"p1")))
        .await
        .unwrap();
    client
        .send(part(OpCode::Data(Data::Continue), "lo ", false))
        .await
        .unwrap();
    client
        .send(part(OpCode::Data(Data::Continue), "wörld", true))
        .await
        .unwrap();
    match ts.next_event() {
        Event::Message {
            data, is_binary, ..
        } => {
            assert!(!is_binary);
            assert_eq!(&data[..], "Hello wörld".as_bytes());
        }
        other => panic!("{other:?}"),
    }
    // The ping sent between the fragments was answered.
    loop {
        match tokio::time::timeout(Duration::from_secs(5), client.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Pong(payload))) => {
                assert_eq!(&payload[..], b"p1");
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    }
}
