//! Binding the port and accepting TCP connections.
//!
//! The socket is made with `TcpSocket` so the listen backlog is ours (tokio's `bind` uses
//! 128, which overflows under connection storms). Accept errors never end the loop: running
//! out of file descriptors is logged and retried after a pause.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};

use super::{Shared, StartError, http};
use crate::config::ServerConfig;

/// Resolves `host` and listens on the first address that works. Synchronous (startup
/// only); must run inside the server's runtime context so the socket registers with it.
pub(crate) fn bind(config: &ServerConfig) -> Result<TcpListener, StartError> {
    let addrs: Vec<SocketAddr> = (config.host.as_str(), config.port)
        .to_socket_addrs()
        .map_err(|source| StartError::Resolve {
            host: config.host.clone(),
            source,
        })?
        .collect();
    let mut last_error = None;
    for addr in addrs {
        match listen(addr, config.listen_backlog) {
            Ok(listener) => return Ok(listener),
            Err(source) => last_error = Some(StartError::Listen { addr, source }),
        }
    }
    Err(last_error.unwrap_or_else(|| StartError::Resolve {
        host: config.host.clone(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
    }))
}

fn listen(addr: SocketAddr, backlog: u32) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(backlog)
}

/// Accepts until shutdown starts; each connection is served on its own tracked task.
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            _ = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, remote)) => {
                let _ = stream.set_nodelay(true);
                let shared_for_task = Arc::clone(&shared);
                shared
                    .tracker
                    .spawn(http::serve(shared_for_task, stream, remote));
            }
            Err(error) => {
                // EMFILE/ENFILE and friends: wait for descriptors to free up.
                shared.log(1, format!("accept failed: {error}; retrying"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
