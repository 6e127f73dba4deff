//! What the benchmark servers share: their command line, and (for the async
//! peers) the way they serve hyper connections.

use std::convert::Infallible;
use std::future::Future;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// A benchmark server's arguments: `PORT WORKERS [more...]`.
pub struct ServerArgs {
    /// The port to listen on (127.0.0.1).
    pub port: u16,
    /// Worker threads.
    pub workers: usize,
    /// Whatever follows.
    pub rest: Vec<String>,
}

/// Reads `PORT WORKERS [more...]` (defaults: 8000, 1).
pub fn server_args() -> ServerArgs {
    let mut args = std::env::args().skip(1);
    ServerArgs {
        port: args.next().and_then(|p| p.parse().ok()).unwrap_or(8000),
        workers: args.next().and_then(|w| w.parse().ok()).unwrap_or(1),
        rest: args.collect(),
    }
}

/// The `/test` reply every server gives: `Yes this is a test!` as text.
pub fn test_page() -> Response<Full<Bytes>> {
    Response::builder()
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from_static(b"Yes this is a test!")))
        .expect("a valid response")
}

/// An empty 404, for paths that are neither `/test` nor a WebSocket.
pub fn not_found() -> Response<Full<Bytes>> {
    Response::builder()
        .status(hyper::StatusCode::NOT_FOUND)
        .body(Full::new(Bytes::new()))
        .expect("a valid response")
}

/// Serves `route` over HTTP/1.1 (upgrades allowed) on tokio's multi-thread
/// runtime, one task per connection, as a hyper user would.
pub fn serve_hyper<F, Fut>(args: &ServerArgs, route: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .expect("bind");
        println!(
            "Serving on http://{}",
            listener.local_addr().expect("bound")
        );
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let route = route.clone();
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(route))
                    .with_upgrades()
                    .await;
            });
        }
    });
}
