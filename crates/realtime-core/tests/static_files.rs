//! Static and prerendered files served by Rust.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use realtime_core::ServerConfig;
use realtime_core::server::{StaticConfig, StaticDir};

/// A fresh directory tree under the system temp dir.
fn site() -> PathBuf {
    let root = std::env::temp_dir().join(format!(
        "srt-static-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    let client = root.join("client");
    let pre = root.join("prerendered");
    let write = |path: PathBuf, bytes: &[u8]| {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    };
    write(client.join("_app/immutable/entry.js"), b"console.log('hi')");
    write(client.join("_app/immutable/entry.js.br"), b"BROTLI");
    write(client.join("_app/immutable/entry.js.gz"), b"GZIP");
    write(client.join("favicon.png"), &[0x89, b'P', b'N', b'G']);
    write(client.join("a b.txt"), b"spaced");
    write(client.join("big.bin"), &vec![7u8; 300 * 1024]);
    write(pre.join("index.html"), b"<h1>home</h1>");
    write(pre.join("about.html"), b"<h1>about</h1>");
    write(pre.join("blog/index.html"), b"<h1>blog</h1>");
    root
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}

fn serving(root: &std::path::Path) -> TestServer {
    start(ServerConfig {
        static_files: StaticConfig {
            dirs: vec![
                StaticDir {
                    path: root.join("client"),
                    base: "/".into(),
                    prerendered: false,
                },
                StaticDir {
                    path: root.join("prerendered"),
                    base: "/".into(),
                    prerendered: true,
                },
            ],
            immutable_prefix: Some("/_app/immutable/".into()),
        },
        ..config()
    })
}

async fn get(ts: &TestServer, path: &str, headers: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n");
    raw_http(ts.addr, request.as_bytes(), Duration::from_secs(2)).await
}

fn header<'a>(reply: &'a str, name: &str) -> Option<&'a str> {
    let head = reply.split("\r\n\r\n").next()?;
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_files_with_types_etags_and_cache_headers() {
    let root = site();
    let ts = serving(&root);
    let reply = get(&ts, "/favicon.png", "").await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert_eq!(header(&reply, "content-type"), Some("image/png"));
    assert_eq!(header(&reply, "content-length"), Some("4"));
    assert_eq!(header(&reply, "cache-control"), Some("no-cache"));
    let etag = header(&reply, "etag").unwrap().to_string();
    assert!(etag.starts_with("W/\""));
    let cached = get(&ts, "/favicon.png", &format!("If-None-Match: {etag}\r\n")).await;
    assert!(cached.starts_with("HTTP/1.1 304"), "{cached}");
    assert_eq!(
        header(&cached, "etag"),
        Some(etag.as_str()),
        "304 keeps the etag"
    );
    assert_eq!(header(&cached, "cache-control"), Some("no-cache"));
    let immutable = get(&ts, "/_app/immutable/entry.js", "").await;
    assert_eq!(
        header(&immutable, "cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert_eq!(
        header(&immutable, "content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(immutable.ends_with("console.log('hi')"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precompressed_variants_follow_accept_encoding() {
    let root = site();
    let ts = serving(&root);
    let br = get(
        &ts,
        "/_app/immutable/entry.js",
        "Accept-Encoding: gzip, deflate, br\r\n",
    )
    .await;
    assert_eq!(header(&br, "content-encoding"), Some("br"));
    assert_eq!(header(&br, "vary"), Some("Accept-Encoding"));
    assert!(br.ends_with("BROTLI"));
    let gz = get(&ts, "/_app/immutable/entry.js", "Accept-Encoding: gzip\r\n").await;
    assert_eq!(header(&gz, "content-encoding"), Some("gzip"));
    assert!(gz.ends_with("GZIP"));
    let refused = get(
        &ts,
        "/_app/immutable/entry.js",
        "Accept-Encoding: br;q=0, identity\r\n",
    )
    .await;
    assert_eq!(header(&refused, "content-encoding"), None);
    assert!(refused.ends_with("console.log('hi')"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prerendered_pages_aliases_and_redirects() {
    let root = site();
    let ts = serving(&root);
    assert!(get(&ts, "/", "").await.ends_with("<h1>home</h1>"));
    assert!(get(&ts, "/about", "").await.ends_with("<h1>about</h1>"));
    assert!(
        get(&ts, "/about.html", "")
            .await
            .ends_with("<h1>about</h1>")
    );
    assert!(get(&ts, "/blog/", "").await.ends_with("<h1>blog</h1>"));
    let redirect = get(&ts, "/blog?page=2", "").await;
    assert!(redirect.starts_with("HTTP/1.1 308"), "{redirect}");
    assert_eq!(header(&redirect, "location"), Some("/blog/?page=2"));
    assert_eq!(
        header(&get(&ts, "/", "").await, "content-type"),
        Some("text/html; charset=utf-8")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decodes_names_and_never_traverses() {
    let root = site();
    std::fs::write(root.join("secret.txt"), b"do not serve").unwrap();
    let ts = serving(&root);
    assert!(get(&ts, "/a%20b.txt", "").await.ends_with("spaced"));
    for attempt in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/_app/../../secret.txt",
        "/..%2fsecret.txt",
        "//etc/passwd",
    ] {
        let reply = get(&ts, attempt, "").await;
        assert!(!reply.contains("do not serve"), "{attempt}: {reply}");
        assert!(
            reply.starts_with("HTTP/1.1 404") || reply.starts_with("HTTP/1.1 400"),
            "{attempt}: {reply}"
        );
    }
    assert!(get(&ts, "/%zz", "").await.starts_with("HTTP/1.1 400"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_large_files_and_other_methods() {
    let root = site();
    let ts = serving(&root);
    let head = raw_http(
        ts.addr,
        b"HEAD /favicon.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"));
    assert_eq!(header(&head, "content-length"), Some("4"));
    assert!(head.ends_with("\r\n\r\n"), "no body on HEAD: {head:?}");
    let big = get(&ts, "/big.bin", "").await;
    assert_eq!(header(&big, "content-length"), Some("307200"));
    assert_eq!(big.split("\r\n\r\n").nth(1).map(str::len), Some(300 * 1024));
    let post = raw_http(
        ts.addr,
        b"POST /favicon.png HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        Duration::from_secs(2),
    )
    .await;
    assert!(
        post.starts_with("HTTP/1.1 404"),
        "other methods go to the handler: {post}"
    );
}
