//! TLS configuration, both roles: a server's from PEM files, a client's
//! from the system's root certificates plus any the caller trusts.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use crate::Error;

/// A server configuration from a certificate chain and a key in PEM files,
/// checked to belong together, offering ALPN `http/1.1`.
pub(crate) fn config_from_pem(cert_path: &Path, key_path: &Path) -> Result<ServerConfig, Error> {
    let certs = certificates_from_pem(cert_path)?;
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| {
        Error::Tls(format!(
            "cannot read a private key from {}: {e}",
            key_path.display()
        ))
    })?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Tls(format!("the certificate and key do not work together: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Every certificate of a PEM file; at least one, or an error that names
/// the file.
pub(crate) fn certificates_from_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let fail = |what: &str, why: String| Error::Tls(format!("{what} {}: {why}", path.display()));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail("cannot read the certificate file", e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| fail("cannot parse the certificate file", e.to_string()))?;
    if certs.is_empty() {
        return Err(fail(
            "no certificate in",
            "expected a PEM CERTIFICATE block".into(),
        ));
    }
    Ok(certs)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The system's root certificates (`SSL_CERT_FILE` / `SSL_CERT_DIR` when
/// set, else the platform's store), read once per process; or why none
/// could be read.
fn system_roots() -> Result<&'static RootCertStore, &'static str> {
    static ROOTS: OnceLock<Result<RootCertStore, String>> = OnceLock::new();
    let roots = ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        let mut roots = RootCertStore::empty();
        // Certificates that cannot be used (an odd algorithm) are skipped,
        // as a browser would.
        let (_added, _skipped) = roots.add_parsable_certificates(loaded.certs);
        if roots.is_empty() {
            let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
            return Err(if errors.is_empty() {
                "the system has no root certificates".to_owned()
            } else {
                errors.join("; ")
            });
        }
        Ok(roots)
    });
    roots.as_ref().map_err(String::as_str)
}

/// A client configuration that trusts `extra_roots`, and the system's
/// roots too when `system_roots` is set; hostname checks on. Offers no
/// ALPN (a WebSocket handshake is HTTP/1.1, which is what a server assumes
/// without it).
pub(crate) fn client_config(
    extra_roots: &[CertificateDer<'static>],
    use_system_roots: bool,
) -> Result<ClientConfig, Error> {
    let mut roots = RootCertStore::empty();
    if use_system_roots {
        match system_roots() {
            Ok(system) => roots.roots.extend(system.roots.iter().cloned()),
            // The caller's own roots may be all it needs.
            Err(why) if !extra_roots.is_empty() => {
                log::debug!("no system root certificates ({why}); using the given ones")
            }
            Err(why) => {
                return Err(Error::Tls(format!(
                    "no root certificates to trust: the system's could not be read ({why}); \
                     set SSL_CERT_FILE or give the client a CA certificate"
                )))
            }
        }
    }
    for cert in extra_roots {
        roots
            .add(cert.clone())
            .map_err(|e| Error::Tls(format!("cannot trust the given CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(Error::Tls(
            "no root certificates to trust: give the client a CA certificate, or let it use \
             the system's"
                .into(),
        ));
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
