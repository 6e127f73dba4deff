//! TLS configuration from PEM files.

use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::Error;

/// A server configuration from a certificate chain and a key in PEM files,
/// checked to belong together, offering ALPN `http/1.1`.
pub(crate) fn config_from_pem(cert_path: &Path, key_path: &Path) -> Result<ServerConfig, Error> {
    let fail = |what: &str, path: &Path, why: String| {
        Error::Tls(format!("{what} {}: {why}", path.display()))
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| fail("cannot read the certificate file", cert_path, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            fail(
                "cannot parse the certificate file",
                cert_path,
                e.to_string(),
            )
        })?;
    if certs.is_empty() {
        return Err(fail(
            "no certificate in",
            cert_path,
            "expected a PEM CERTIFICATE block".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|e| fail("cannot read a private key from", key_path, e.to_string()))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(format!("the certificate and key do not work together: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
