//! Static and prerendered files, served by Rust.
//!
//! The directories are indexed once at startup; a request is answered only when its decoded
//! path is a key of the index, so no request path ever reaches the filesystem (path
//! traversal has nothing to traverse). Per file: `Content-Type` from the extension, a weak
//! `ETag` from the content with `304` on `If-None-Match` (the 304 keeps the cache headers,
//! unlike the reference, bug §9.19), `Cache-Control: public, max-age=31536000, immutable`
//! under the immutable prefix (`no-cache` elsewhere), precompressed `.br`/`.gz` siblings
//! chosen by `Accept-Encoding` with `Vary`, and `HEAD`. Files up to
//! [`MEMORY_LIMIT`] bytes are kept in memory; larger ones stream from disk.
//!
//! Prerendered directories also answer `x` for `x.html` and `x/` for `x/index.html`, and
//! redirect `x` to `x/` (308, query kept). Percent-encoded names are decoded before lookup
//! (the reference's fast path did not, §9.19); a malformed escape is `400`.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{
    ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG,
    HeaderValue, IF_NONE_MATCH, LOCATION, VARY,
};
use hyper::{Method, Request, Response, StatusCode};
use tokio_util::io::ReaderStream;

use super::Shared;
use super::http::{Body, full, text};

/// Files up to this size are read into memory at startup.
pub const MEMORY_LIMIT: u64 = 256 * 1024;

/// One directory to serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticDir {
    /// Where the files are.
    pub path: PathBuf,
    /// URL path the directory is mounted at, e.g. `/` or `/base/`.
    pub base: String,
    /// Prerendered pages: `x.html` also answers `x`, `x/index.html` answers `x/`.
    pub prerendered: bool,
}

/// What `ServerConfig::static_files` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaticConfig {
    /// Searched in order; the first directory with a path wins.
    pub dirs: Vec<StaticDir>,
    /// URL prefix of content-hashed files that never change (e.g. `/_app/immutable/`).
    pub immutable_prefix: Option<String>,
}

#[derive(Clone, Debug)]
struct Variant {
    path: PathBuf,
    len: u64,
    bytes: Option<Bytes>,
}

#[derive(Clone, Debug)]
struct Entry {
    plain: Variant,
    br: Option<Variant>,
    gzip: Option<Variant>,
    content_type: &'static str,
    etag: String,
    immutable: bool,
}

/// The index of every servable path.
#[derive(Debug, Default)]
pub(crate) struct Index {
    entries: HashMap<String, Entry>,
    /// `/x` → `/x/` for prerendered directory pages.
    redirects: HashMap<String, String>,
}

fn read_variant(path: &Path) -> std::io::Result<Variant> {
    let len = std::fs::metadata(path)?.len();
    let bytes = if len <= MEMORY_LIMIT {
        Some(Bytes::from(std::fs::read(path)?))
    } else {
        None
    };
    Ok(Variant {
        path: path.to_path_buf(),
        len,
        bytes,
    })
}

/// A weak validator from the content (or, for big files, size and modification time).
fn etag_of(variant: &Variant) -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    match &variant.bytes {
        Some(bytes) => bytes.hash(&mut hasher),
        None => {
            variant.len.hash(&mut hasher);
            if let Ok(modified) = std::fs::metadata(&variant.path).and_then(|m| m.modified()) {
                modified.hash(&mut hasher);
            }
        }
    }
    format!("W/\"{:016x}\"", hasher.finish())
}

fn content_type(path: &Path) -> &'static str {
    let Some(mime) = mime_guess::from_path(path).first_raw() else {
        return "application/octet-stream";
    };
    match mime {
        "text/html" => "text/html; charset=utf-8",
        "text/css" => "text/css; charset=utf-8",
        "text/plain" => "text/plain; charset=utf-8",
        "text/javascript" | "application/javascript" => "text/javascript; charset=utf-8",
        "application/json" => "application/json; charset=utf-8",
        "image/svg+xml" => "image/svg+xml; charset=utf-8",
        other => other,
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path());
        }
    }
    Ok(())
}

impl Index {
    /// Indexes the configured directories. A missing directory is skipped.
    pub(crate) fn build(config: &StaticConfig) -> std::io::Result<Self> {
        let mut index = Index::default();
        for dir in &config.dirs {
            if !dir.path.is_dir() {
                continue;
            }
            let mut files = Vec::new();
            walk(&dir.path, &mut files)?;
            files.sort();
            let base = if dir.base.ends_with('/') {
                dir.base.clone()
            } else {
                format!("{}/", dir.base)
            };
            for file in files {
                let name = file.to_string_lossy();
                if name.ends_with(".br") || name.ends_with(".gz") {
                    continue;
                }
                let rel = file
                    .strip_prefix(&dir.path)
                    .unwrap_or(&file)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                let url = format!("{base}{rel}");
                let plain = read_variant(&file)?;
                let sibling = |ext: &str| {
                    let mut p = file.clone().into_os_string();
                    p.push(ext);
                    let p = PathBuf::from(p);
                    p.is_file().then(|| read_variant(&p)).transpose()
                };
                let immutable = config
                    .immutable_prefix
                    .as_deref()
                    .is_some_and(|prefix| url.starts_with(prefix));
                let entry = Entry {
                    br: sibling(".br")?,
                    gzip: sibling(".gz")?,
                    content_type: content_type(&file),
                    etag: etag_of(&plain),
                    immutable,
                    plain,
                };
                let mut urls = vec![url.clone()];
                if dir.prerendered {
                    if let Some(page) = url.strip_suffix("index.html") {
                        urls.push(page.to_string());
                        if page.len() > 1 {
                            index
                                .redirects
                                .entry(page.trim_end_matches('/').to_string())
                                .or_insert_with(|| page.to_string());
                        }
                    } else if let Some(page) = url.strip_suffix(".html") {
                        urls.push(page.to_string());
                    }
                }
                for url in urls {
                    index.entries.entry(url).or_insert_with(|| entry.clone());
                }
            }
        }
        Ok(index)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.redirects.is_empty()
    }
}

/// Every `%` starts a two-digit hex escape (`percent_decode` keeps bad ones as text).
fn escapes_are_valid(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: Option<&u8>| b.is_some_and(u8::is_ascii_hexdigit);
            if !hex(bytes.get(i + 1)) || !hex(bytes.get(i + 2)) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

fn accepts(req: &Request<Incoming>, encoding: &str) -> bool {
    req.headers()
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| {
            let mut parts = token.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                let p = p.trim();
                p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000"
            });
            name.eq_ignore_ascii_case(encoding) && !refused
        })
}

fn matches_etag(req: &Request<Incoming>, etag: &str) -> bool {
    let bare = etag.trim_start_matches("W/");
    req.headers()
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == bare)
}

async fn body_of(variant: &Variant) -> std::io::Result<Body> {
    if let Some(bytes) = &variant.bytes {
        return Ok(full(bytes.clone()));
    }
    let file = tokio::fs::File::open(&variant.path).await?;
    let stream =
        futures_util::StreamExt::map(ReaderStream::new(file), |chunk| chunk.map(Frame::data));
    Ok(StreamBody::new(stream).boxed())
}

/// Answers `req` from the index, or `None` to let the request go on.
pub(crate) async fn serve(shared: &Shared, req: &Request<Incoming>) -> Option<Response<Body>> {
    let index = &shared.statics;
    if index.is_empty() || !matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    let raw = req.uri().path();
    if !escapes_are_valid(raw) {
        return Some(text(StatusCode::BAD_REQUEST, "Bad Request"));
    }
    let Ok(path) = percent_encoding::percent_decode_str(raw).decode_utf8() else {
        return Some(text(StatusCode::BAD_REQUEST, "Bad Request"));
    };
    if let Some(target) = index.redirects.get(path.as_ref()) {
        let location = match req.uri().query() {
            Some(query) => format!("{target}?{query}"),
            None => target.clone(),
        };
        let mut res = Response::new(full(Bytes::new()));
        *res.status_mut() = StatusCode::PERMANENT_REDIRECT;
        if let Ok(value) = HeaderValue::from_str(&location) {
            res.headers_mut().insert(LOCATION, value);
        }
        return Some(res);
    }
    let entry = index.entries.get(path.as_ref())?;
    let (variant, encoding) = match (&entry.br, &entry.gzip) {
        (Some(br), _) if accepts(req, "br") => (br, Some("br")),
        (_, Some(gz)) if accepts(req, "gzip") => (gz, Some("gzip")),
        _ => (&entry.plain, None),
    };
    let cache = if entry.immutable {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut res = if matches_etag(req, &entry.etag) {
        let mut res = Response::new(full(Bytes::new()));
        *res.status_mut() = StatusCode::NOT_MODIFIED;
        res
    } else {
        let body = if req.method() == Method::HEAD {
            full(Bytes::new())
        } else {
            match body_of(variant).await {
                Ok(body) => body,
                Err(_) => {
                    return Some(text(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Internal Server Error",
                    ));
                }
            }
        };
        let mut res = Response::new(body);
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(entry.content_type));
        headers.insert(CONTENT_LENGTH, HeaderValue::from(variant.len));
        if let Some(encoding) = encoding {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        res
    };
    let headers = res.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(etag) = HeaderValue::from_str(&entry.etag) {
        headers.insert(ETAG, etag);
    }
    if entry.br.is_some() || entry.gzip.is_some() {
        headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    }
    Some(res)
}
