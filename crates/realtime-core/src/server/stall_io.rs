//! A socket wrapper that records whether the kernel is refusing writes.
//!
//! `send` reports `BACKPRESSURE` (0) only when the socket is really not keeping up; the
//! writer task cannot see that through tungstenite, so this wrapper sets a flag whenever a
//! write returns `Pending` and clears it on the next write that goes through.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

pub(crate) struct StallIo<T> {
    inner: T,
    stalled: Arc<AtomicBool>,
}

impl<T> StallIo<T> {
    pub(crate) fn new(inner: T, stalled: Arc<AtomicBool>) -> Self {
        Self { inner, stalled }
    }

    fn record<R>(&self, poll: &Poll<R>) {
        match poll {
            Poll::Pending => self.stalled.store(true, Ordering::Relaxed),
            Poll::Ready(_) if self.stalled.load(Ordering::Relaxed) => {
                self.stalled.store(false, Ordering::Relaxed)
            }
            Poll::Ready(_) => {}
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for StallIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for StallIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.record(&poll);
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.record(&poll);
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
