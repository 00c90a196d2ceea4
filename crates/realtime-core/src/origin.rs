//! Which `Origin` may open a WebSocket (reference-protocol §1.2), without I/O.
//!
//! Same rules as the reference, minus its bug §9.4: origins and hosts are parsed and
//! compared as (scheme, host, port) with default ports filled in, instead of removing the
//! text `:80` from the host (which turned `localhost:8080` into `localhost80`). A request
//! without `Origin` (non-browser clients, load generators) is allowed; an `Origin` of `null`
//! or one that does not parse is rejected; a request without a host header is allowed, as in
//! the reference.

use std::str::FromStr;

use hyper::http::uri::{Authority, Uri};

use crate::config::ConfigError;

/// The `allowedOrigins` option.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginPolicy {
    /// The origin must match the request's own scheme, host and port. The default.
    SameOrigin,
    /// Any origin (`'*'`).
    Any,
    /// One of these origins, e.g. `https://example.com` (compared after normalizing case and
    /// default ports).
    List(Vec<String>),
}

/// The parts of an upgrade request the policy looks at, with proxy headers already picked.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestOrigin<'a> {
    /// The `Origin` header.
    pub origin: Option<&'a str>,
    /// The configured host header if present, else `Host`.
    pub host: Option<&'a str>,
    /// The configured protocol header (`x-forwarded-proto` style), if present.
    pub forwarded_proto: Option<&'a str>,
    /// The configured port header (`x-forwarded-port` style), if present.
    pub forwarded_port: Option<&'a str>,
    /// Whether the server itself terminates TLS.
    pub tls: bool,
}

/// A normalized origin: lower-case scheme and host, explicit port.
#[derive(Debug, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl OriginPolicy {
    /// Decides whether the request may upgrade.
    pub fn allows(&self, req: &RequestOrigin<'_>) -> bool {
        let Some(raw) = req.origin else {
            return true;
        };
        match self {
            OriginPolicy::Any => true,
            OriginPolicy::List(allowed) => match parse_origin(raw) {
                Some(origin) => allowed
                    .iter()
                    .any(|entry| parse_origin(entry).is_some_and(|e| e == origin)),
                None => false,
            },
            OriginPolicy::SameOrigin => {
                let Some(origin) = parse_origin(raw) else {
                    return false;
                };
                match expected_origin(req) {
                    Expected::Unknown => true,
                    Expected::Invalid => false,
                    Expected::Origin(expected) => origin == expected,
                }
            }
        }
    }

    /// Rejects list entries that are not origins.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let OriginPolicy::List(entries) = self {
            for entry in entries {
                if parse_origin(entry).is_none() {
                    return Err(ConfigError::Origin(entry.clone()));
                }
            }
        }
        Ok(())
    }
}

enum Expected {
    /// No host header: nothing to compare against.
    Unknown,
    /// A host or port header that does not parse.
    Invalid,
    Origin(Origin),
}

fn expected_origin(req: &RequestOrigin<'_>) -> Expected {
    let Some(host) = req.host else {
        return Expected::Unknown;
    };
    let scheme = match req.forwarded_proto {
        // Several proxies append: the first value is the client-facing one.
        Some(proto) => proto
            .split(',')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
        None if req.tls => "https".into(),
        None => "http".into(),
    };
    let Ok(authority) = Authority::from_str(host.trim()) else {
        return Expected::Invalid;
    };
    let port = match req.forwarded_port {
        Some(p) => match p.split(',').next().unwrap_or("").trim().parse::<u16>() {
            Ok(port) => Some(port),
            Err(_) => return Expected::Invalid,
        },
        None => authority.port_u16(),
    };
    let Some(port) = port.or_else(|| default_port(&scheme)) else {
        return Expected::Invalid;
    };
    Expected::Origin(Origin {
        host: authority.host().to_ascii_lowercase(),
        scheme,
        port,
    })
}

fn parse_origin(raw: &str) -> Option<Origin> {
    let raw = raw.trim().trim_end_matches('/');
    let uri = Uri::from_str(raw).ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    // An origin has no userinfo, path or query.
    if authority.as_str().contains('@') || uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return None;
    }
    let port = authority.port_u16().or_else(|| default_port(&scheme))?;
    Some(Origin {
        scheme,
        host: authority.host().to_ascii_lowercase(),
        port,
    })
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(origin: Option<&str>, host: Option<&str>) -> bool {
        OriginPolicy::SameOrigin.allows(&RequestOrigin {
            origin,
            host,
            ..Default::default()
        })
    }

    #[test]
    fn missing_origin_is_allowed() {
        assert!(same(None, Some("example.com")));
        assert!(OriginPolicy::List(vec![]).allows(&RequestOrigin::default()));
    }

    #[test]
    fn same_origin_with_ports() {
        assert!(same(Some("http://localhost:8080"), Some("localhost:8080")));
        assert!(same(Some("http://example.com"), Some("example.com:80")));
        assert!(same(Some("http://Example.COM:80"), Some("example.com")));
        assert!(!same(Some("http://localhost:8081"), Some("localhost:8080")));
        assert!(!same(Some("https://example.com"), Some("example.com")));
        assert!(!same(Some("http://evil.com"), Some("example.com")));
    }

    /// Reference bug §9.4: `localhost:8080` became `localhost80` and was rejected.
    #[test]
    fn ports_starting_with_80_or_443_are_not_mangled() {
        assert!(same(Some("http://localhost:8080"), Some("localhost:8080")));
        assert!(same(Some("http://localhost:8000"), Some("localhost:8000")));
        let tls = RequestOrigin {
            origin: Some("https://app.test:44300"),
            host: Some("app.test:44300"),
            tls: true,
            ..Default::default()
        };
        assert!(OriginPolicy::SameOrigin.allows(&tls));
    }

    #[test]
    fn null_and_garbage_origins_are_rejected() {
        assert!(!same(Some("null"), Some("example.com")));
        assert!(!same(Some("not a url"), Some("example.com")));
        assert!(!same(Some("http://a@example.com"), Some("example.com")));
    }

    #[test]
    fn no_host_header_allows() {
        assert!(same(Some("http://example.com"), None));
    }

    #[test]
    fn proxy_headers() {
        let req = RequestOrigin {
            origin: Some("https://example.com"),
            host: Some("example.com"),
            forwarded_proto: Some("https, http"),
            ..Default::default()
        };
        assert!(OriginPolicy::SameOrigin.allows(&req));
        let port = RequestOrigin {
            origin: Some("http://example.com:8443"),
            host: Some("internal:3000"),
            forwarded_port: Some("8443"),
            ..Default::default()
        };
        assert!(!OriginPolicy::SameOrigin.allows(&port));
        let port = RequestOrigin {
            host: Some("example.com:3000"),
            ..port
        };
        assert!(OriginPolicy::SameOrigin.allows(&port));
    }

    #[test]
    fn ipv6_hosts() {
        assert!(same(Some("http://[::1]:3000"), Some("[::1]:3000")));
        assert!(!same(Some("http://[::1]:3001"), Some("[::1]:3000")));
    }

    #[test]
    fn list_and_any() {
        let list = OriginPolicy::List(vec!["https://app.example.com/".into()]);
        let req = |origin| RequestOrigin {
            origin: Some(origin),
            host: Some("ignored"),
            ..Default::default()
        };
        assert!(list.allows(&req("https://app.example.com")));
        assert!(list.allows(&req("https://APP.example.com:443")));
        assert!(!list.allows(&req("http://app.example.com")));
        assert!(OriginPolicy::Any.allows(&req("null")));
    }

    #[test]
    fn validate_rejects_non_origins() {
        assert!(
            OriginPolicy::List(vec!["example.com".into()])
                .validate()
                .is_err()
        );
        assert!(
            OriginPolicy::List(vec!["https://example.com/path".into()])
                .validate()
                .is_err()
        );
        assert!(
            OriginPolicy::List(vec!["http://localhost:5173".into()])
                .validate()
                .is_ok()
        );
    }
}
