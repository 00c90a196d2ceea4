//! Load generator for `benches/e2e-publish.js`: many WebSocket clients in one process, so
//! the server, not the client, is what gets measured.
//!
//! ```text
//! realtime-loadgen fanout <url> <clients> <messages> <topic>
//!   connects, subscribes every client to <topic>, prints READY, then waits until every
//!   client received <messages> messages; prints one JSON line with the timing.
//! realtime-loadgen echo <url> <clients> <round-trips>
//!   each client sends a message and waits for the reply, <round-trips> times; prints JSON.
//! realtime-loadgen idle <url> <clients>
//!   connects <clients> sockets, prints READY, holds them until stdin closes.
//! realtime-loadgen rpc <url> <clients> <in-flight> <seconds> <payload-bytes>
//!   the RPC protocol as the browser client speaks it: each client subscribes to the stream
//!   `bench/feed`, then keeps <in-flight> calls to `bench/echo` outstanding (one string
//!   argument of <payload-bytes>, or the JSON value in `LOADGEN_RPC_ARG`). After READY it waits for a line on stdin, warms up for
//!   1 s, prints MEASURE, measures for <seconds> and prints one JSON line (calls/s, p50,
//!   p90, p99, p99.9, max). The bench samples the server's CPU between MEASURE and the JSON line.
//! ```
//! Timing starts at the first message received (fanout) or the first send (echo).
//! `LOADGEN_THREADS` sets the runtime's worker threads; `LOADGEN_READ_BUFFER` each client's
//! read buffer in bytes (default 16 KiB, see `client_config`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message;

fn usage() -> ! {
    eprintln!("usage: realtime-loadgen fanout <url> <clients> <messages> <topic>");
    eprintln!("       realtime-loadgen echo <url> <clients> <round-trips>");
    eprintln!("       realtime-loadgen idle <url> <clients>");
    eprintln!("       realtime-loadgen rpc <url> <clients> <in-flight> <seconds> <payload-bytes>");
    std::process::exit(2)
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| usage())
}

/// tungstenite zero-fills its read buffer's free capacity before every read, 128 KiB by
/// default: under fan-out that memset was 12% of the load generator's CPU, which shares the
/// cores with the server it measures. 16 KiB (one 100-event publish run per read) took the
/// load generator from 0.35 to 0.22 µs per delivery (benches/README.md).
fn client_config() -> tokio_tungstenite::tungstenite::protocol::WebSocketConfig {
    let size = std::env::var("LOADGEN_READ_BUFFER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16 * 1024);
    tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(size)
}

async fn connect_all(
    url: &str,
    clients: usize,
) -> Vec<tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>>
{
    let mut sockets = Vec::with_capacity(clients);
    for chunk in 0..clients.div_ceil(100) {
        let n = (clients - chunk * 100).min(100);
        let batch = futures_util::future::join_all((0..n).map(|_| async {
            let (ws, _) =
                tokio_tungstenite::connect_async_with_config(url, Some(client_config()), false)
                    .await
                    .expect("connect");
            ws
        }))
        .await;
        sockets.extend(batch);
    }
    sockets
}

async fn fanout(url: String, clients: usize, messages: u64, topic: String) {
    let sockets = connect_all(&url, clients).await;
    // Byte for byte what the reference client sends: `type` must come first.
    let subscribe = format!(
        r#"{{"type":"subscribe","topic":{}}}"#,
        serde_json::Value::String(topic)
    );
    let ready = Arc::new(Barrier::new(clients + 1));
    let first = Arc::new(std::sync::OnceLock::<Instant>::new());
    let bytes = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for mut ws in sockets {
        let subscribe = subscribe.clone();
        let ready = Arc::clone(&ready);
        let first = Arc::clone(&first);
        let bytes = Arc::clone(&bytes);
        tasks.push(tokio::spawn(async move {
            ws.send(Message::Text(subscribe.into()))
                .await
                .expect("subscribe");
            ready.wait().await;
            let mut got = 0;
            while got < messages {
                match ws.next().await {
                    Some(Ok(Message::Text(t))) => {
                        first.get_or_init(Instant::now);
                        bytes.fetch_add(t.len() as u64, Ordering::Relaxed);
                        got += 1;
                    }
                    Some(Ok(_)) => {}
                    _ => break,
                }
            }
            (got, Instant::now())
        }));
    }
    // Give the server time to process every subscribe before it starts publishing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ready.wait().await;
    println!("READY");
    let mut received = 0;
    let mut last = Instant::now();
    for task in tasks {
        let (got, at) = task.await.expect("client task");
        received += got;
        last = last.max(at);
    }
    let started = *first.get().unwrap_or(&last);
    let secs = last.duration_since(started).as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "mode": "fanout",
            "clients": clients,
            "messages": messages,
            "received": received,
            "expected": messages * clients as u64,
            "bytes": bytes.load(Ordering::Relaxed),
            "seconds": secs,
            "deliveries_per_second": received as f64 / secs.max(1e-9),
        })
    );
}

async fn echo(url: String, clients: usize, round_trips: u64) {
    let sockets = connect_all(&url, clients).await;
    println!("READY");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (n, mut ws) in sockets.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut done = 0;
            let mut latencies = Vec::with_capacity(round_trips as usize);
            for i in 0..round_trips {
                let body = format!(r#"{{"rpc":"bench/echo","id":"c{n}-{i}","args":[{i}]}}"#);
                let sent = Instant::now();
                if ws.send(Message::Text(body.into())).await.is_err() {
                    break;
                }
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(_))) => break,
                        Some(Ok(_)) => continue,
                        _ => return (done, latencies),
                    }
                }
                latencies.push(sent.elapsed());
                done += 1;
            }
            (done, latencies)
        }));
    }
    let mut done = 0;
    let mut all = Vec::new();
    for task in tasks {
        let (n, latencies) = task.await.expect("client task");
        done += n;
        all.extend(latencies);
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{}",
        serde_json::json!({
            "mode": "echo",
            "clients": clients,
            "round_trips": done,
            "expected": round_trips * clients as u64,
            "seconds": secs,
            "round_trips_per_second": done as f64 / secs.max(1e-9),
            "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
            "p90_ms": pct(0.9),
            "p999_ms": pct(0.999),
            "max_ms": pct(1.0),
        })
    );
}

async fn idle(url: String, clients: usize) {
    let sockets = connect_all(&url, clients).await;
    println!("READY");
    // Hold the sockets (answering pings) until the parent closes stdin.
    let holders: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} }))
        .collect();
    let mut stdin = tokio::io::stdin();
    let mut sink = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut stdin, &mut sink).await;
    for holder in holders {
        holder.abort();
    }
}

/// The `"event":"<id>"` of an `__rpc` envelope, without parsing the JSON.
fn reply_id(text: &str) -> Option<&str> {
    let start = text.find(r#""event":""#)? + 9;
    let len = text[start..].find('"')?;
    Some(&text[start..start + len])
}

async fn rpc(url: String, clients: usize, in_flight: usize, seconds: f64, payload: usize) {
    use std::collections::HashMap;
    use std::sync::atomic::AtomicBool;
    let sockets = connect_all(&url, clients).await;
    // The echoed argument as JSON: a string of <payload-bytes> by default, or
    // LOADGEN_RPC_ARG (any JSON value, e.g. an object, to measure a non-string reply).
    let argument =
        std::env::var("LOADGEN_RPC_ARG").unwrap_or_else(|_| format!("\"{}\"", "x".repeat(payload)));
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let ready = Arc::new(Barrier::new(clients + 1));
    let go = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for (n, ws) in sockets.into_iter().enumerate() {
        let (measuring, stop, ready, go) = (
            Arc::clone(&measuring),
            Arc::clone(&stop),
            Arc::clone(&ready),
            Arc::clone(&go),
        );
        let argument = argument.clone();
        tasks.push(tokio::spawn(async move {
            let (mut tx, mut rx) = ws.split();
            // A stream subscribe first, as a page does before it calls anything.
            let subscribe =
                format!(r#"{{"rpc":"bench/feed","id":"s{n}","args":[],"stream":true}}"#);
            tx.send(Message::Text(subscribe.into()))
                .await
                .expect("send");
            while let Some(Ok(msg)) = rx.next().await {
                if matches!(&msg, Message::Text(t) if t.contains(&format!(r#""event":"s{n}""#))) {
                    break;
                }
            }
            let notified = go.notified();
            ready.wait().await;
            notified.await;
            let mut sent_at: HashMap<u64, Instant> = HashMap::with_capacity(in_flight * 2);
            let mut next = 0u64;
            let call = |i: u64| {
                Message::Text(
                    format!(r#"{{"rpc":"bench/echo","id":"c{n}-{i}","args":[{argument}]}}"#).into(),
                )
            };
            for _ in 0..in_flight {
                sent_at.insert(next, Instant::now());
                tx.feed(call(next)).await.expect("send");
                next += 1;
            }
            tx.flush().await.expect("flush");
            let (mut done, mut latencies) = (0u64, Vec::new());
            while let Some(Ok(msg)) = rx.next().await {
                let Message::Text(text) = msg else { continue };
                let Some(seq) = reply_id(&text)
                    .and_then(|id| id.rsplit('-').next())
                    .and_then(|i| i.parse::<u64>().ok())
                else {
                    continue;
                };
                if let Some(at) = sent_at.remove(&seq)
                    && measuring.load(Ordering::Relaxed)
                {
                    done += 1;
                    latencies.push(at.elapsed());
                }
                if stop.load(Ordering::Relaxed) {
                    if sent_at.is_empty() {
                        break;
                    }
                    continue;
                }
                sent_at.insert(next, Instant::now());
                if tx.send(call(next)).await.is_err() {
                    break;
                }
                next += 1;
            }
            (done, latencies)
        }));
    }
    ready.wait().await;
    println!("READY");
    let mut line = String::new();
    let _ = tokio::io::AsyncBufReadExt::read_line(
        &mut tokio::io::BufReader::new(tokio::io::stdin()),
        &mut line,
    )
    .await;
    go.notify_waiters();
    tokio::time::sleep(Duration::from_secs(1)).await;
    measuring.store(true, Ordering::Relaxed);
    println!("MEASURE");
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    measuring.store(false, Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut done = 0;
    let mut all = Vec::new();
    for task in tasks {
        let (n, latencies) = task.await.expect("client task");
        done += n;
        all.extend(latencies);
    }
    all.sort();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    println!(
        "{}",
        serde_json::json!({
            "mode": "rpc",
            "clients": clients,
            "in_flight": in_flight,
            "calls": done,
            "seconds": secs,
            "calls_per_second": done as f64 / secs.max(1e-9),
            "p50_ms": pct(0.5),
            "p99_ms": pct(0.99),
            "p90_ms": pct(0.9),
            "p999_ms": pct(0.999),
            "max_ms": pct(1.0),
        })
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    // LOADGEN_THREADS bounds the load generator's own share of the machine.
    if let Some(threads) = std::env::var("LOADGEN_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
    {
        builder.worker_threads(threads);
    }
    let runtime = builder.enable_all().build().expect("runtime");
    match args.get(1).map(String::as_str) {
        Some("fanout") => runtime.block_on(fanout(
            arg(&args, 2),
            arg(&args, 3),
            arg(&args, 4),
            arg(&args, 5),
        )),
        Some("echo") => runtime.block_on(echo(arg(&args, 2), arg(&args, 3), arg(&args, 4))),
        Some("idle") => runtime.block_on(idle(arg(&args, 2), arg(&args, 3))),
        Some("rpc") => runtime.block_on(rpc(
            arg(&args, 2),
            arg(&args, 3),
            arg(&args, 4),
            arg(&args, 5),
            arg(&args, 6),
        )),
        _ => usage(),
    }
}
