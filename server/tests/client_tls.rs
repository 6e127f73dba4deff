//! The client over TLS (`wss://`): trusting a CA given to the builder (as
//! a certificate or a PEM file), SNI and the host name checked, and the
//! errors for a certificate of other names, an untrusted one, and a CA
//! file that cannot be read.

mod client_support;

use client_support::{start_echo, TestCa};
use greenws::{ClientBuilder, CloseCode, Error, Message};

fn wss_url(server: &greenws::ServerHandle, host: &str) -> String {
    format!("wss://{host}:{}/echo", server.local_addr().port())
}

#[test]
fn wss_works_with_a_ca_given_as_a_certificate_or_a_file() {
    let ca = TestCa::new("trusted");
    let server = start_echo(Some(&ca));
    let by_certificate = ClientBuilder::new(wss_url(&server, "localhost"))
        .system_roots(false)
        .root_certificate(ca.ca_der.clone());
    let by_file = ClientBuilder::new(wss_url(&server, "localhost")).ca_file(&ca.ca_pem);
    for client in [by_certificate, by_file] {
        // Twice: the second connection reuses the builder's TLS setup.
        for _ in 0..2 {
            let ws = client.connect().unwrap();
            let big = "TLS ".repeat(50_000);
            for message in [Message::from("hello over TLS"), Message::from(big)] {
                ws.send(&message).unwrap();
                assert_eq!(ws.receive().unwrap(), Some(message));
            }
            ws.close(CloseCode::NORMAL, "").unwrap();
        }
    }
}

#[test]
fn a_certificate_for_another_name_says_which_name_did_not_match() {
    let ca = TestCa::new("mismatch");
    let server = start_echo(Some(&ca));
    // The certificate is for localhost; 127.0.0.1 is the same server.
    let result = ClientBuilder::new(wss_url(&server, "127.0.0.1"))
        .root_certificate(ca.ca_der.clone())
        .connect();
    let error = result.unwrap_err();
    match &error {
        Error::CertificateNameMismatch {
            expected,
            presented,
        } => {
            assert_eq!(expected, "127.0.0.1");
            assert_eq!(presented, &["localhost"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error.to_string(),
        "the server's certificate is not valid for \"127.0.0.1\" (it is for localhost)"
    );
}

#[test]
fn an_untrusted_certificate_fails_the_tls_handshake() {
    let ca = TestCa::new("untrusted");
    let server = start_echo(Some(&ca));
    // The system's roots know nothing of the test CA; neither does a CA of
    // its own.
    let other_ca = TestCa::new("other");
    for client in [
        ClientBuilder::new(wss_url(&server, "localhost")),
        ClientBuilder::new(wss_url(&server, "localhost"))
            .system_roots(false)
            .root_certificate(other_ca.ca_der.clone()),
    ] {
        match client.connect() {
            Err(Error::TlsHandshake { host, source }) => {
                assert_eq!(host, "localhost");
                let rustls_error = source
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<rustls::Error>());
                assert_eq!(
                    rustls_error,
                    Some(&rustls::Error::InvalidCertificate(
                        rustls::CertificateError::UnknownIssuer
                    )),
                    "{source}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn a_ca_file_that_cannot_be_read_or_no_roots_at_all_is_a_tls_setup_error() {
    let missing = std::env::temp_dir().join("greenws-no-such-ca.pem");
    match ClientBuilder::new("wss://localhost:1/")
        .ca_file(&missing)
        .connect()
    {
        Err(Error::Tls(why)) => assert!(why.contains("greenws-no-such-ca.pem"), "{why}"),
        other => panic!("{other:?}"),
    }
    match ClientBuilder::new("wss://localhost:1/")
        .system_roots(false)
        .connect()
    {
        Err(Error::Tls(why)) => assert!(why.contains("no root certificates"), "{why}"),
        other => panic!("{other:?}"),
    }
}
