//! An independent client: curl against `examples/hello.rs`.

#[path = "support/example.rs"]
mod example;
#[path = "support/tool.rs"]
mod tool;

use std::process::Command;

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("text")
}

#[test]
fn curl_talks_to_the_hello_example() {
    if Command::new("curl").arg("--version").output().is_err() {
        tool::missing("curl", "apt-get install curl; .ci/run does", tool::in_ci());
        return;
    }
    let server = example::start_example("hello", &[]);
    let base = format!("http://{}", server.addr);

    assert_eq!(curl(&[&format!("{base}/")]), "Hello, World!");

    // POST /echo, with curl's own Expect: 100-continue for a large body.
    assert_eq!(
        curl(&["--data-binary", "some data", &format!("{base}/echo")]),
        "some data"
    );
    let big = "x".repeat(2 * 1024 * 1024);
    let path = std::env::temp_dir().join(format!("greenws-curl-{}.bin", std::process::id()));
    std::fs::write(&path, &big).unwrap();
    let echoed = curl(&[
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        &format!("@{}", path.display()),
        &format!("{base}/echo"),
    ]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(echoed.len(), big.len());

    // A chunked upload.
    let chunked = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "chunked body",
        &format!("{base}/echo"),
    ]);
    assert_eq!(chunked, "chunked body");

    // The streamed response, and its headers.
    let streamed = curl(&["--include", &format!("{base}/stream")]);
    assert!(
        streamed.contains("Transfer-Encoding: chunked"),
        "{streamed}"
    );
    assert!(streamed.ends_with("chunk 10 of 10\n"));

    // HEAD, HTTP/1.0, and several requests over one kept-alive connection.
    let head = curl(&["--head", &format!("{base}/")]);
    assert!(head.starts_with("HTTP/1.1 200 OK"));
    assert!(head.contains("Content-Length: 13"));
    assert_eq!(curl(&["--http1.0", &format!("{base}/")]), "Hello, World!");
    let reused = Command::new("curl")
        .args([
            "--silent",
            "--verbose",
            &format!("{base}/"),
            &format!("{base}/"),
        ])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&reused.stderr);
    assert!(
        log.contains("Re-using existing") || log.contains("Reusing existing"),
        "{log}"
    );

    let missing = curl(&[
        "--write-out",
        "%{http_code}",
        "--output",
        "/dev/null",
        &format!("{base}/nope"),
    ]);
    assert_eq!(missing, "404");
}

#[test]
#[should_panic(expected = "cannot be skipped in CI")]
fn a_missing_tool_fails_the_test_in_ci() {
    tool::missing("a tool", "nowhere", true);
}

#[test]
fn a_missing_tool_skips_the_test_outside_ci() {
    tool::missing("a tool", "nowhere", false);
}
