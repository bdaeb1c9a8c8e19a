//! Serving connections, with the bounds `axum::serve` does not offer: at
//! most `max` connections at once (one more gets a short JSON 503 and is
//! closed), a deadline for a request's headers that also closes a
//! connection left idle between requests, and a graceful shutdown that
//! waits at most its grace for connections to finish.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// The bounds on connections.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Connections served at once.
    pub max: usize,
    /// How long a request's headers may take to arrive, counted from when
    /// the connection starts waiting for them: also how long a keep-alive
    /// connection may sit idle.
    pub header_timeout: Duration,
    /// How long shutdown waits for open connections.
    pub grace: Duration,
}

/// What the service counts of its connections, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    /// Connections turned away because as many were open as are served.
    pub refused: Arc<AtomicU64>,
    /// Connections open now.
    pub open: Arc<AtomicU64>,
}

/// One open connection, counted while it lives.
struct Open(Arc<AtomicU64>);

impl Open {
    fn new(open: Arc<AtomicU64>) -> Open {
        open.fetch_add(1, Ordering::Relaxed);
        Open(open)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How serving ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// Every connection finished within the grace.
    Drained,
    /// The grace ran out; these connections were dropped.
    Dropped(usize),
}

/// Accepts and serves connections until `shutdown` resolves, then stops
/// accepting and lets open connections finish for at most the grace.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    bounds: Bounds,
    counts: Counts,
    shutdown: impl std::future::Future<Output = ()>,
) -> Ended {
    let slots = Arc::new(Semaphore::new(bounds.max));
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
            // Reap finished connections as we go.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors, most likely: wait rather than spin.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            counts.refused.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(turn_away(stream));
            continue;
        };
        let app = app.clone();
        let mut stopping = stopping.clone();
        let open = Open::new(counts.open.clone());
        connections.spawn(async move {
            let _slot = slot;
            let _open = open;
            let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let app = app.clone();
                async move {
                    Ok::<_, Infallible>(
                        app.oneshot(request.map(Body::new))
                            .await
                            .unwrap_or_else(|e| match e {}),
                    )
                }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(bounds.header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                () = async { let _ = stopping.wait_for(|s| *s).await; } => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(bounds.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    match drained {
        Ok(()) => Ended::Drained,
        Err(_) => {
            let left = connections.len();
            connections.abort_all();
            Ended::Dropped(left)
        }
    }
}

/// Answers a connection over the cap with a JSON 503 and closes it, giving
/// up after a second on a client that does not read.
async fn turn_away(mut stream: TcpStream) {
    const BODY: &str = r#"{"error":{"code":"too-many-connections","message":"the service has as many connections as it serves at once – retry after the number of seconds in Retry-After"}}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    })
    .await;
}
