//! The HTTP server: accepts connections and hands their requests to the router, with the bounds
//! `axum::serve` does not set. A client gets `header_read_timeout` to send a request's headers
//! (on a new connection from when the server starts waiting for them; on a kept-alive one from
//! the request's first byte, after at most `idle_timeout` of quiet: see [`clock`]), so a client
//! that never finishes its headers cannot hold a connection. At most `max_connections`
//! connections are open at once; at the bound the server stops accepting, and further clients
//! wait in the kernel's listen backlog until a connection closes, rather than being accepted only
//! to be dropped.
//!
//! HTTP/1.1 only, as before (the gateway never had HTTP/2 compiled in; TLS and HTTP/2 belong to
//! the proxy in front of it).

mod clock;

use axum::{body::Body, extract::ConnectInfo, Router};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::TokioIo;
use std::{future::Future, pin::pin, sync::Arc, time::Duration};
use tokio::{
    net::TcpListener,
    sync::{watch, Semaphore},
};
use tower::ServiceExt;

/// File descriptors kept for everything but client connections: database pools (SQLite keeps
/// three files per connection), exec pools, the listener, the runtime's own.
const RESERVED_FILES: u64 = 256;

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl ConnectionLimits {
    /// `max_connections` as configured, but never past what the process's open-file limit
    /// allows: a gateway out of descriptors can no longer open its own database either.
    pub fn new(
        header_read_timeout: Duration,
        idle_timeout: Duration,
        max_connections: usize,
    ) -> Self {
        let allowed = open_file_limit()
            .map(|limit| limit.saturating_sub(RESERVED_FILES).max(1))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(usize::MAX);
        let wanted = max_connections.max(1);
        // Not a warning: a default install (soft limit 1024) would warn at every start.
        if wanted > allowed {
            tracing::info!(
                wanted,
                allowed,
                "serving fewer connections at once than HOOP_MAX_CONNECTIONS: the open-file limit \
                 allows no more; raise it (`ulimit -n`, LimitNOFILE= in a systemd unit) to serve more"
            );
        }
        Self {
            header_read_timeout: header_read_timeout.max(Duration::from_millis(1)),
            idle_timeout: idle_timeout.max(Duration::from_millis(1)),
            // The drain takes every slot at once, which counts in u32.
            max_connections: wanted.min(allowed).min(u32::MAX as usize),
        }
    }
}

fn open_file_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, lets every
/// request in flight finish (idle connections close), and returns once all connections closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let mut http = http1::Builder::new();
    http.header_read_timeout(limits.header_read_timeout)
        .keep_alive(true);
    let http = Arc::new(http);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = pin!(shutdown);

    loop {
        // A free slot first: at the bound, connections wait in the kernel's backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            () = &mut shutdown => break,
        };
        let Ok(slot) = slot else { break };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let (http, router, mut stopping) = (http.clone(), router.clone(), stopping.clone());
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
                    // The peer address feeds the failed-authentication throttle.
                    request.extensions_mut().insert(ConnectInfo(peer));
                    router.clone().oneshot(request.map(Body::new))
                });
            let (stream, clock) =
                clock::watch(stream, limits.header_read_timeout, limits.idle_timeout);
            let mut http = (*http).clone();
            http.timer(clock);
            let mut connection = pin!(http
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades());
            let mut draining = false;
            loop {
                tokio::select! {
                    result = connection.as_mut() => {
                        if let Err(e) = result {
                            tracing::trace!(error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = stopping.wait_for(|stop| *stop), if !draining => {
                        draining = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(slot);
        });
    }

    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends: when all are free, all have ended.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// As `axum::serve` does: a connection reset before it was accepted is nothing; anything else
/// (out of file descriptors, say) is logged, and the loop waits a moment before trying again.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
