//! Helpers for the client's tests: a test certificate authority, servers
//! to connect to, and the Python venv with `websockets`.

#![allow(dead_code)]

use std::path::PathBuf;

use greenws::{Request, Response, ServerHandle, Upgrade, WebSocketHandler, WsgiServer};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::CertificateDer;

/// A certificate authority made for a test, and a server certificate it
/// signed for `localhost` (only), as PEM files in a fresh directory.
pub struct TestCa {
    pub dir: PathBuf,
    /// The CA's certificate (PEM), for a client to trust.
    pub ca_pem: PathBuf,
    pub ca_der: CertificateDer<'static>,
    /// The server's certificate chain and key (PEM).
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl TestCa {
    /// A new CA in a directory named after `name` and the process.
    pub fn new(name: &str) -> TestCa {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("greenws test CA {name}"));
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::CrlSign,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        let mut server_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        server_params.use_authority_key_identifier_extension = true;
        server_params
            .extended_key_usages
            .push(rcgen::ExtendedKeyUsagePurpose::ServerAuth);
        let server_key = KeyPair::generate().unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

        let dir =
            std::env::temp_dir().join(format!("greenws-client-ca-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca = TestCa {
            ca_pem: dir.join("ca.pem"),
            ca_der: ca_cert.der().clone(),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            dir,
        };
        std::fs::write(&ca.ca_pem, ca_cert.pem()).unwrap();
        std::fs::write(&ca.server_cert, server_cert.pem()).unwrap();
        std::fs::write(&ca.server_key, server_key.serialize_pem()).unwrap();
        ca
    }
}

/// Our echo server on 127.0.0.1, port 0; over TLS with the CA's server
/// certificate when `tls` is given. Every path echoes.
pub fn start_echo(tls: Option<&TestCa>) -> ServerHandle {
    let mut server = WsgiServer::bind("127.0.0.1:0").unwrap();
    if let Some(ca) = tls {
        server = server.tls(&ca.server_cert, &ca.server_key).unwrap();
    }
    server
        .handler_class(WebSocketHandler::new())
        .start(|req: &mut Request| -> Response {
            req.upgrade(|ws| {
                for message in ws.messages() {
                    ws.send(message?)?;
                }
                Ok(())
            })
        })
        .unwrap()
}

/// True when the tests run in CI (`CI=true` or `1`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The venv `.ci/run` makes, with Python's `websockets`.
pub const PYTHON_VENV: &str = "/tmp/greenws-ci-venv";

/// The venv's Python, if it has `websockets`; else `None` after saying
/// why the test is skipped, or a panic in CI (where nothing may be
/// skipped).
pub fn python_with_websockets() -> Option<PathBuf> {
    let python = PathBuf::from(PYTHON_VENV).join("bin/python");
    let has_websockets = std::process::Command::new(&python)
        .args(["-c", "import websockets"])
        .status()
        .is_ok_and(|status| status.success());
    if has_websockets {
        return Some(python);
    }
    let how =
        format!("python3 -m venv {PYTHON_VENV} && {PYTHON_VENV}/bin/pip install 'websockets>=13'");
    if in_ci() {
        panic!("Python's websockets is missing and CI=true: this test cannot be skipped ({how})");
    }
    eprintln!("SKIPPED: Python's websockets is missing ({how}); with CI=true this test fails");
    None
}
