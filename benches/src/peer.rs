//! What the benchmark servers share: their command line, the `/test` page,
//! TLS from PEM files, and (for the async peers) serving hyper connections.

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// A benchmark server's arguments: `PORT WORKERS [CERT.pem KEY.pem]`.
pub struct ServerArgs {
    /// The port to listen on (127.0.0.1).
    pub port: u16,
    /// Worker threads; `None` (the word `default`) leaves the count to the
    /// runtime's default, as a user who configures nothing gets.
    pub workers: Option<usize>,
    /// A certificate chain and its key (PEM): serve TLS.
    pub tls: Option<(String, String)>,
}

/// Reads `PORT WORKERS [CERT KEY]` (defaults: 8000, default).
pub fn server_args() -> ServerArgs {
    let mut args = std::env::args().skip(1);
    let port = args.next().and_then(|p| p.parse().ok()).unwrap_or(8000);
    let workers = args.next().and_then(|w| w.parse().ok());
    let tls = match (args.next(), args.next()) {
        (Some(cert), Some(key)) => Some((cert, key)),
        _ => None,
    };
    ServerArgs { port, workers, tls }
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

/// A rustls server configuration as greenws builds one (`greenws::tls`):
/// the ring provider, rustls's safe default versions and cipher suites,
/// ALPN `http/1.1`. The peers use it so that every wss contender
/// negotiates the same protocol and suite.
pub fn rustls_server_config(cert: &Path, key: &Path) -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("read the certificate file")
        .collect::<Result<_, _>>()
        .expect("PEM certificates");
    let key = PrivateKeyDer::from_pem_file(key).expect("a PEM private key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the certificate and key belong together");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// Serves `route` over HTTP/1.1 (upgrades allowed) on tokio's multi-thread
/// runtime, one task per connection, as a hyper user would; over TLS with
/// tokio-rustls when `args.tls` is set.
pub fn serve_hyper<F, Fut>(args: &ServerArgs, route: F)
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = args.workers {
        builder.worker_threads(workers);
    }
    let rt = builder.enable_all().build().expect("tokio runtime");
    let tls = args.tls.as_ref().map(|(cert, key)| {
        tokio_rustls::TlsAcceptor::from(Arc::new(rustls_server_config(
            Path::new(cert),
            Path::new(key),
        )))
    });
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port))
            .await
            .expect("bind");
        let scheme = if tls.is_some() { "https" } else { "http" };
        println!(
            "Serving on {scheme}://{}",
            listener.local_addr().expect("bound")
        );
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let route = route.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let http = http1::Builder::new();
                let _ = match tls {
                    None => {
                        http.serve_connection(TokioIo::new(stream), service_fn(route))
                            .with_upgrades()
                            .await
                    }
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        http.serve_connection(TokioIo::new(stream), service_fn(route))
                            .with_upgrades()
                            .await
                    }
                };
            });
        }
    });
}
