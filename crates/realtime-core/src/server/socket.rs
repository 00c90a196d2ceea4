//! A WebSocket's TCP stream as the connection engine (`engine`) serves it: a nonblocking
//! `mio` stream plus the readiness the engine last saw for it.
//!
//! The engine registers every socket edge-triggered and sets `readable` / `writable` when
//! epoll reports them; a read or write that finds the kernel empty (or full) clears its
//! flag, and the next edge sets it again. Nothing here allocates: a socket's readiness is two
//! booleans next to its file descriptor (tokio would keep a cache-line-aligned
//! `ScheduledIo` per socket instead).

use std::io::{self, IoSlice, Read, Write};
use std::task::Poll;

pub(crate) struct Socket {
    io: mio::net::TcpStream,
    readable: bool,
    writable: bool,
}

impl Socket {
    /// Takes a stream from tokio (which deregisters it) for the engine to register.
    pub(crate) fn from_tokio(stream: tokio::net::TcpStream) -> io::Result<Self> {
        // tokio hands the stream back still nonblocking.
        let std = stream.into_std()?;
        Ok(Self {
            io: mio::net::TcpStream::from_std(std),
            // Assume both until the kernel says otherwise: a spurious try costs one syscall,
            // a missed edge would cost the socket.
            readable: true,
            writable: true,
        })
    }

    pub(crate) fn source(&mut self) -> &mut mio::net::TcpStream {
        &mut self.io
    }

    /// What epoll reported for this socket.
    pub(crate) fn set_ready(&mut self, readable: bool, writable: bool) {
        self.readable |= readable;
        self.writable |= writable;
    }

    pub(crate) fn poll_read_ready(&self) -> Poll<()> {
        if self.readable {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    pub(crate) fn poll_write_ready(&self) -> Poll<()> {
        if self.writable {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Reads once into `buf`; returns the bytes read and whether the socket is now drained.
    ///
    /// A read shorter than the buffer took everything the kernel had, so readiness is cleared
    /// right away instead of spending a second `recv` on the `WouldBlock` that would say the
    /// same (one read syscall per wake, as uWebSockets makes). Data arriving after the read is
    /// a new edge, which sets the flag again.
    pub(crate) fn read_once(&mut self, buf: &mut [u8]) -> io::Result<(usize, bool)> {
        match (&self.io).read(buf) {
            Ok(n) if n > 0 && n < buf.len() => {
                self.readable = false;
                Ok((n, true))
            }
            Ok(n) => Ok((n, false)),
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                self.readable = false;
                Err(error)
            }
            Err(error) => Err(error),
        }
    }

    /// One vectored write; a full socket buffer clears `writable` until the next edge.
    pub(crate) fn write_vectored(&mut self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        match (&self.io).write_vectored(slices) {
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                self.writable = false;
                Err(error)
            }
            other => other,
        }
    }
}
