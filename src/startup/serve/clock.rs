//! Idle time is not header time. hyper has one timer on an HTTP/1 server connection, the header
//! read timeout, and starts it whenever it waits for a request head: on a kept-alive connection
//! that includes the idle time between requests, so a connection would be closed after the
//! header timeout of quiet. A load balancer that keeps idle connections open longer (AWS ALB: 60 s)
//! then sends a request on a connection the gateway is closing, and answers its client 502.
//!
//! So each connection gets its own clock, told by the connection's reads when a request begins:
//! - a new connection has `header` from when hyper starts waiting for the first request's head
//!   (a client that connects and sends nothing gets no more than one that sends half a head);
//! - a kept-alive connection may then idle for `idle`, and from the first byte of the next
//!   request has `header` to finish its head.

use hyper::rt::{Sleep, Timer};
use std::{
    future::Future,
    io,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

#[derive(Debug, Default)]
struct Marks {
    /// How often hyper has started waiting for a head on this connection.
    waits: u64,
    /// When bytes last began arriving after hyper started waiting.
    first_byte: Option<Instant>,
}

type Shared = Arc<Mutex<Marks>>;

/// The connection's clock: hyper's [`Timer`], which hyper asks for a sleep only when it starts
/// waiting for a request head.
#[derive(Clone)]
pub struct HeadClock {
    marks: Shared,
    header: Duration,
    idle: Duration,
}

/// The connection's stream, noting when bytes arrive.
pub struct Marked<S> {
    stream: S,
    marks: Shared,
}

/// A clock and the stream it watches.
pub fn watch<S>(stream: S, header: Duration, idle: Duration) -> (Marked<S>, HeadClock) {
    let marks = Shared::default();
    let clock = HeadClock {
        marks: marks.clone(),
        header,
        idle,
    };
    (Marked { stream, marks }, clock)
}

impl Timer for HeadClock {
    /// hyper's HTTP/1 server asks only for `sleep_until` (its one timer); anything else would be
    /// timed as a wait for a head, which can only end a connection sooner.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    /// `deadline` is now + the header timeout hyper was given, which is `header`.
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        let waiting_since = deadline.checked_sub(self.header).unwrap_or(deadline);
        let kept_alive = match self.marks.lock() {
            Ok(mut marks) => {
                marks.waits += 1;
                marks.first_byte = None;
                marks.waits > 1
            }
            // Poisoned: fail closed, to the shorter bound.
            Err(_) => false,
        };
        let first = tokio::time::Instant::from_std(deadline);
        Box::pin(HeadDeadline {
            clock: self.clone(),
            waiting_since,
            kept_alive,
            sleep: Box::pin(tokio::time::sleep_until(first)),
        })
    }
}

/// Resolves when the connection has waited too long for a request head.
struct HeadDeadline {
    clock: HeadClock,
    waiting_since: Instant,
    kept_alive: bool,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl HeadDeadline {
    fn deadline(&self) -> Instant {
        if !self.kept_alive {
            return self.waiting_since + self.clock.header;
        }
        let first_byte = self
            .clock
            .marks
            .lock()
            .map_or(Some(self.waiting_since), |m| m.first_byte);
        match first_byte {
            Some(at) => at + self.clock.header,
            None => self.waiting_since + self.clock.idle,
        }
    }
}

/// hyper polls this whenever the connection wakes, so a first byte moves the deadline at once.
impl Future for HeadDeadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let deadline = tokio::time::Instant::from_std(this.deadline());
        if this.sleep.deadline() != deadline {
            this.sleep.as_mut().reset(deadline);
        }
        this.sleep.as_mut().poll(cx)
    }
}

impl Sleep for HeadDeadline {}

impl<S: AsyncRead + Unpin> AsyncRead for Marked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            if let Ok(mut marks) = this.marks.lock() {
                marks.first_byte.get_or_insert_with(Instant::now);
            }
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Marked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
