//! Request bodies must keep arriving. The header timeout ends a client that never finishes its
//! headers; this ends one that sends a body a byte at a time (`Content-Length: 1000000`, a
//! byte every few seconds), which would otherwise hold its connection, and with enough of them
//! every connection slot, for as long as it liked.
//!
//! A body has `grace` to arrive, plus one second for every `min_rate` bytes that have arrived,
//! so a large body on a slow but honest link still makes it, and a trickle is cut off soon
//! after the grace. The handler reading it then fails with [`TooSlow`] in its error chain
//! (answered 408), and the connection, whose body was not read to the end, is closed.

use axum::{
    body::{Body, Bytes},
    extract::Request,
    middleware::Next,
    response::Response,
};
use http_body::Frame;
use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tokio::time::{Instant, Sleep};

/// How fast a body must arrive: see the module.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    pub grace: Duration,
    /// Bytes a second that earn a second more.
    pub min_rate: u64,
}

/// Middleware: every request body is read at [`Pace`] or not at all.
pub async fn pace_bodies(
    axum::extract::State(pace): axum::extract::State<Pace>,
    request: Request,
    next: Next,
) -> Response {
    let request = request.map(|body| Body::new(PacedBody::new(body, pace)));
    next.run(request).await
}

/// The body was not sent fast enough.
#[derive(Debug, thiserror::Error)]
#[error("the request body arrived too slowly")]
pub struct TooSlow;

/// Whether an error (a body read's, through its sources) is [`TooSlow`].
pub fn is_too_slow(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(e) = next {
        if e.is::<TooSlow>() {
            return true;
        }
        next = e.source();
    }
    false
}

struct PacedBody {
    inner: Body,
    pace: Pace,
    started: Instant,
    received: u64,
    deadline: Pin<Box<Sleep>>,
}

impl PacedBody {
    fn new(inner: Body, pace: Pace) -> Self {
        let started = Instant::now();
        Self {
            inner,
            pace,
            started,
            received: 0,
            deadline: Box::pin(tokio::time::sleep_until(started + pace.grace)),
        }
    }

    fn allowed(&self) -> Duration {
        let earned = self.received / self.pace.min_rate.max(1);
        self.pace.grace + Duration::from_secs(earned)
    }
}

impl http_body::Body for PacedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received = this.received.saturating_add(data.len() as u64);
                    let until = this.started + this.allowed();
                    this.deadline.as_mut().reset(until);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(TooSlow)))),
                Poll::Pending => Poll::Pending,
            },
            done => done,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
