//! Test harness: a real server on 127.0.0.1:0 and a Rust stand-in for the hook runner.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use realtime_core::events::Event;
use realtime_core::{EventQueue, RunningServer, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub struct TestServer {
    pub server: RunningServer,
    pub events: Arc<EventQueue>,
    pub addr: SocketAddr,
}

/// A config listening on a free loopback port.
pub fn config() -> ServerConfig {
    ServerConfig {
        host: "127.0.0.1".into(),
        port: 0,
        worker_threads: 2,
        ..ServerConfig::default()
    }
}

pub fn start(config: ServerConfig) -> TestServer {
    let events = Arc::new(EventQueue::new(config.inbound_queue_bytes));
    let server = RunningServer::start(config, Arc::clone(&events)).expect("server starts");
    let addr = server.local_addr();
    TestServer {
        server,
        events,
        addr,
    }
}

impl TestServer {
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Next event that is not a log line, waiting up to 5 s.
    pub fn next_event(&self) -> Event {
        self.next_event_within(Duration::from_secs(5))
            .expect("an event within the timeout")
    }

    pub fn next_event_within(&self, timeout: Duration) -> Option<Event> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.events.recv_timeout(left)? {
                Event::Log { .. } => continue,
                event => return Some(event),
            }
        }
    }

    /// Waits for an `Open` and returns its id.
    pub fn expect_open(&self) -> u64 {
        match self.next_event() {
            Event::Open { id, .. } => id,
            other => panic!("expected Open, got {other:?}"),
        }
    }

    /// Waits for a `Close` and returns (id, code, reason).
    pub fn expect_close(&self) -> (u64, u16, String) {
        match self.next_event() {
            Event::Close { id, code, reason } => {
                (id, code, String::from_utf8_lossy(&reason).into_owned())
            }
            other => panic!("expected Close, got {other:?}"),
        }
    }
}

/// Connects a WebSocket client (no Origin header).
pub async fn connect(url: &str) -> Client {
    let (client, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connects");
    client
}

/// Tries to connect with extra headers; returns the HTTP status on refusal.
pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Result<Client, u16> {
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            hyper::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((client, _)) => Ok(client),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(other) => panic!("unexpected connect error: {other}"),
    }
}

/// Next text frame, skipping pings, within 5 s.
pub async fn next_text(client: &mut Client) -> String {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(5), client.next())
            .await
            .expect("a frame within 5 s")
            .expect("stream open")
            .expect("frame ok");
        match msg {
            Message::Text(text) => return text.to_string(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// Reads until the server's close frame and returns its code, then keeps reading so the
/// client's reply goes out (tungstenite writes it on the next read).
pub async fn next_close_code(client: &mut Client) -> Option<u16> {
    let mut code = None;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), client.next())
            .await
            .expect("close within 10 s")
        {
            Some(Ok(Message::Close(frame))) => code = frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return code,
        }
    }
}

pub async fn send_text(client: &mut Client, text: &str) {
    client
        .send(Message::Text(text.into()))
        .await
        .expect("send works");
}

/// Sends raw bytes over a fresh TCP connection and returns everything read until EOF or
/// `timeout`.
pub async fn raw_http(addr: SocketAddr, request: &[u8], timeout: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(timeout, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// Starts `f` on a blocking thread now (the event queue's receive blocks).
pub fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::task::spawn_blocking(f)
}
