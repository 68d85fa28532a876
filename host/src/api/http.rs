//! The HTTP side: routes, the middleware that bounds and counts every request, and the accept
//! loop.

use super::error::ApiError;
use super::{
    files, openapi, review, routes, Api, HEADER_READ_TIMEOUT, MAX_CONNECTIONS, MAX_JSON_BODY,
};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::Router;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};
use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Request latency buckets, in seconds: reads of one row take about a millisecond, a
/// complete a few (a HEAD on the store, an enqueue), an upload through the local store up to
/// the request deadline.
pub const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];

/// `attachments_api_requests_total{route,method,status}` and
/// `attachments_api_request_duration_seconds{route,method}`, in a registry of their own.
pub struct ApiMetrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl Default for ApiMetrics {
    fn default() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "attachments_api_requests_total",
                "attachd serve requests, by route template, method and status",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "attachments_api_request_duration_seconds",
                "attachd serve request latency, by route template and method",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route", "method"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(requests.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(duration.clone()))
            .expect("unique metric");
        ApiMetrics {
            registry,
            requests,
            duration,
        }
    }
}

impl ApiMetrics {
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// The route of the local store's upload and download URLs.
pub const UPLOAD_ROUTE: &str = "/files/{*key}";

/// A method as a metrics label: the ones the API serves, and `other` for anything a client
/// makes up (a raw method would let anyone add series without bound).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Every route. Labels of the metrics are these templates (never a raw path, which an
/// attacker could make unbounded).
pub fn router(api: Arc<Api>) -> Router {
    let json_api = Router::new()
        .route("/api/attachments/sign", post(routes::sign))
        .route("/api/attachments/complete", post(routes::complete))
        .route("/api/attachments/{id}", get(routes::show))
        .route("/api/attachments/{id}/events", get(routes::events))
        .route("/api/attachments/{id}/release", post(routes::release))
        .route("/api/attachments/{id}/delete", post(routes::delete))
        .route("/api/review/quarantined", get(routes::quarantined))
        .route("/api/openapi.json", get(openapi::serve_document))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_JSON_BODY));
    let pages = review::routes().layer(axum::extract::DefaultBodyLimit::max(MAX_JSON_BODY));
    // The upload's own limit (the size it was signed for) applies instead.
    let files = Router::new()
        .route(UPLOAD_ROUTE, put(files::upload).get(files::download))
        .layer(axum::extract::DefaultBodyLimit::disable());
    Router::new()
        .merge(json_api)
        .merge(pages)
        .merge(files)
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::NotFound })
        .layer(middleware::from_fn_with_state(api.clone(), bounded))
        .with_state(api)
}

/// Ready when Redis and the database answer. Unlike the worker's, whose port stays inside the
/// deployment, this one may face the clients: the answer names nothing, the log says what.
async fn readyz(State(api): State<Arc<Api>>) -> Response {
    match api.ready.check().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(why) => {
            tracing::warn!(cause = %why, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready\n").into_response()
        }
    }
}

async fn metrics(State(api): State<Arc<Api>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        api.metrics.render(),
    )
        .into_response()
}

/// The deadline, the counters, and the headers every answer carries.
async fn bounded(State(api): State<Arc<Api>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let method = method_label(request.method());
    // An upload through the local store may take minutes; everything else is small.
    let deadline = if route == UPLOAD_ROUTE && request.method() == Method::PUT {
        api.upload_timeout
    } else {
        api.request_timeout
    };
    let mut response = match tokio::time::timeout(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(deadline).into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        "nosniff".parse().expect("valid"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        "no-referrer".parse().expect("valid"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert("no-store".parse().expect("valid"));
    let status = response.status().as_u16().to_string();
    api.metrics
        .requests
        .with_label_values(&[&route, method, &status])
        .inc();
    api.metrics
        .duration
        .with_label_values(&[&route, method])
        .observe(started.elapsed().as_secs_f64());
    response
}

/// An answer must be taken: a client whose connection accepts no byte of it for this long (it
/// sent requests it does not read, or stalls a download) is dropped, rather than holding its
/// connection slot for good.
pub const WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection whose writes must make progress within a time (see [`WRITE_STALL_TIMEOUT`]).
struct MustRead<S> {
    inner: S,
    limit: Duration,
    /// Armed while a write waits for the client; cleared by any progress.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S> MustRead<S> {
    fn new(inner: S, limit: Duration) -> Self {
        MustRead {
            inner,
            limit,
            stall: None,
        }
    }

    /// `Pending` from the socket: pending still, or an error once the stall lasted too long.
    fn waited<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let limit = self.limit;
        let stall = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stall.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// A socket call's answer: a wait counts towards the stall, anything else ends it.
    fn progress<T>(
        &mut self,
        cx: &mut Context<'_>,
        answer: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match answer {
            Poll::Pending => self.waited(cx),
            done => {
                self.stall = None;
                done
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for MustRead<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for MustRead<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let answer = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.progress(cx, answer)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let answer = Pin::new(&mut self.inner).poll_flush(cx);
        self.progress(cx, answer)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Serves `router` on `listener` until `shutdown` fires, then lets requests in flight finish
/// within `grace`. Each connection must send its request head within [`HEADER_READ_TIMEOUT`],
/// read what it is sent (see [`WRITE_STALL_TIMEOUT`]) and ends after `lifetime` whatever it
/// does; at most [`MAX_CONNECTIONS`] are served at once.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    grace: Duration,
    lifetime: Duration,
) {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let tracker = tokio_util::task::TaskTracker::new();
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("never closed"),
            _ = shutdown.cancelled() => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!(error = %e, "API listener accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let _permit = permit;
            let stream = MustRead::new(stream, WRITE_STALL_TIMEOUT);
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(lifetime) => {}
            }
            // Ends after the request in flight, if any, but not later than a stalled write.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(WRITE_STALL_TIMEOUT, conn).await;
        });
    }
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            "API requests still running after {} s; stopping anyway",
            grace.as_secs()
        );
    }
}
