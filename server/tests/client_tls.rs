//! The client over TLS (`wss://`): trusting a CA given to the builder (as
//! a certificate or a PEM file), SNI and the host name checked, and the
//! errors for a certificate of other names, an untrusted one, and a CA
//! file that cannot be read.

mod client_support;
#[path = "support/example.rs"]
mod example;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

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
fn wss_works_from_greenlets_with_the_default_stack() {
    let ca = TestCa::new("greenlets");
    let server = start_echo(Some(&ca));
    let client = ClientBuilder::new(wss_url(&server, "localhost"))
        .system_roots(false)
        .root_certificate(ca.ca_der.clone());
    let greenlets: Vec<_> = (0..20)
        .map(|i| {
            let client = client.clone();
            green::spawn(move || -> greenws::Result<()> {
                let ws = client.connect()?;
                ws.send(format!("hello {i}"))?;
                assert_eq!(ws.receive()?, Some(Message::from(format!("hello {i}"))));
                ws.close(CloseCode::NORMAL, "")
            })
        })
        .collect();
    for greenlet in greenlets {
        greenlet.join().unwrap().unwrap();
    }
}

/// The TLS handshake's deep steps, the random generator's seeding and the
/// codec run on the worker thread's scratch stack: a client greenlet needs
/// little of its own, even in a debug build (without that, its first
/// `connect` took over 48 KiB there, and a stack overflow ends the
/// process).
#[test]
fn a_wss_client_fits_in_half_the_default_stack() {
    let ca = TestCa::new("small-stack");
    let server = start_echo(Some(&ca));
    let client = ClientBuilder::new(wss_url(&server, "localhost"))
        .system_roots(false)
        .root_certificate(ca.ca_der.clone());
    let half = green::DEFAULT_STACK_SIZE / 2;
    let greenlet = green::Builder::new()
        .stack_size(half)
        .spawn(move || -> greenws::Result<()> {
            let ws = client.connect()?;
            for i in 0..100 {
                let message = Message::from(format!("{i} ").repeat(300));
                ws.send(&message)?;
                assert_eq!(ws.receive()?, Some(message));
            }
            ws.close(CloseCode::NORMAL, "")
        })
        .unwrap();
    greenlet.join().unwrap().unwrap();
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

/// The client example (`examples/client.rs`) run with `env` set: says
/// hello through the echo server at `url` and reports the echo, or its
/// error output.
fn say_hello_with_the_example(
    url: &str,
    env: &[(&str, &std::path::Path)],
) -> Result<String, String> {
    let mut command = Command::new(example::example_path("client"));
    command
        .arg(url)
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .spawn()
        .expect("the client example (cargo build --examples)");
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(b"hello\n");
    let mut echoed = String::new();
    let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut echoed);
    drop(stdin); // the end of stdin: the client closes
    let output = child.wait_with_output().unwrap();
    let errors = String::from_utf8_lossy(&output.stderr).into_owned();
    match output.status.success() {
        true => Ok(echoed),
        false => Err(errors),
    }
}

#[test]
fn the_system_roots_are_those_of_ssl_cert_file_when_it_is_set() {
    let ca = TestCa::new("ssl-cert-file");
    let server = start_echo(Some(&ca));
    let url = wss_url(&server, "localhost");
    assert_eq!(
        say_hello_with_the_example(&url, &[("SSL_CERT_FILE", &ca.ca_pem)]),
        Ok("hello\n".to_owned())
    );
    // Without it, the system's roots do not know the test CA.
    let refused = say_hello_with_the_example(&url, &[]).unwrap_err();
    assert!(
        refused.contains("TLS handshake with localhost failed")
            && refused.contains("UnknownIssuer"),
        "{refused}"
    );
    // --ca works without it.
    let mut with_ca = Command::new(example::example_path("client"));
    with_ca
        .arg(&url)
        .arg("--ca")
        .arg(&ca.ca_pem)
        .env_remove("SSL_CERT_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let output = with_ca.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
