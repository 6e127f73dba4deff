//! Message framing by RFC 9112 sections 6 and 7 (Content-Length,
//! Transfer-Encoding, chunk extensions and trailers) for every HTTP
//! version: whatever could be read two ways is refused and the connection
//! closed, so a request hidden behind it is never answered (request
//! smuggling).

mod support;

use greenws::http::StatusCode;
use greenws::{Request, Response};
use support::{get, start, Client};

fn app(req: &mut Request) -> Response {
    match req.read_body() {
        Ok(body) => Response::bytes("application/octet-stream", body),
        Err(e) => Response::text(e.to_string()).with_status(StatusCode::UNPROCESSABLE_ENTITY),
    }
}

/// Sends `raw` with a second request pipelined behind it, and expects
/// `status` and then a closed connection: the second request is never
/// read as one.
fn refused_and_closed(raw: &str, status: u16) {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    c.send(format!("{raw}{}", get("/smuggled")));
    let r = c.reply();
    assert_eq!(r.status, status, "{raw:?}: {}", r.text());
    assert_eq!(r.header("connection"), Some("close"), "{raw:?}");
    assert!(c.is_closed(), "a request behind {raw:?} was answered");
}

#[test]
fn transfer_encoding_in_http_1_0_is_refused() {
    // RFC 9112 section 6.1: an HTTP/1.0 message with Transfer-Encoding has
    // faulty framing, even with Content-Length; close after answering.
    refused_and_closed(
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n0\r\n\r\n",
        400,
    );
    refused_and_closed(
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\
         Connection: keep-alive\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn transfer_encoding_must_end_in_chunked_once() {
    // RFC 9112 section 6.3: chunked not last means the length cannot be
    // known: 400 and close. A coding we do not implement before chunked:
    // 501 (section 6.1).
    for (te, status) in [
        ("chunked, gzip", 400),
        ("gzip", 400),
        ("identity", 400),
        ("chunked;q=1", 400),
        ("\"chunked\"", 400),
        ("chunked, chunked", 400),
        (", chunked", 400),
        ("", 400),
        ("gzip, chunked", 501),
    ] {
        refused_and_closed(
            &format!("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n"),
            status,
        );
    }
    refused_and_closed(
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\
         Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn content_length_with_transfer_encoding_is_refused_in_any_order() {
    refused_and_closed(
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
    );
    refused_and_closed(
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
        400,
    );
}

#[test]
fn duplicate_or_invalid_content_length_is_refused() {
    for cl in [
        "Content-Length: 3\r\nContent-Length: 4",
        "Content-Length: 3, 4",
        "Content-Length: 3,",
        "Content-Length: -1",
        "Content-Length: +3",
        "Content-Length: 0x3",
        "Content-Length: 1_0",
        "Content-Length: 3 4",
        "Content-Length:",
        "Content-Length: 99999999999999999999999",
        "Content-Length : 3",
        " Content-Length: 3",
    ] {
        refused_and_closed(
            &format!("POST / HTTP/1.1\r\nHost: t\r\n{cl}\r\n\r\nabcd"),
            400,
        );
    }
}

#[test]
fn repeated_equal_content_lengths_and_http_1_0_keep_alive_stay_in_step() {
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    let r = c.request(
        "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3, 3\r\nContent-Length: 3\r\n\r\nabc",
    );
    assert_eq!(r.text(), "abc");
    // HTTP/1.0 with keep-alive and a Content-Length body: the next request
    // on the connection is read where the body ends.
    let r =
        c.request("POST / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(
        (r.text().as_str(), r.header("connection")),
        ("hello", Some("keep-alive"))
    );
    let r = c.request("POST / HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(
        (r.text().as_str(), r.header("connection")),
        ("hi", Some("close"))
    );
    assert!(c.is_closed());
}

/// A chunked request whose body is `chunks` (size lines, data, trailers).
fn chunked(chunks: &str) -> String {
    format!("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{chunks}")
}

#[test]
fn chunk_extensions_and_trailers_are_validated() {
    // RFC 9112 section 7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name
    // [ BWS "=" BWS chunk-ext-val ] ), a token or a quoted string; section
    // 7.1.2: trailers are field lines. The codec's tests try every form;
    // here a few, over a socket.
    let server = start(app);
    let mut c = Client::connect(server.local_addr());
    for accepted in [
        "5 ; a = b\r\nhello\r\n0\r\n\r\n",
        "5;a=\"q \\\" s; x=y\";b\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n0\r\nX-Sum: abc\r\n\r\n",
    ] {
        assert_eq!(c.request(chunked(accepted)).text(), "hello", "{accepted:?}");
    }
    for refused in [
        "5 \r\nhello\r\n0\r\n\r\n",
        "5;a=b c\r\nhello\r\n0\r\n\r\n",
        "5;a=\"unterminated\r\nhello\r\n0\r\n\r\n",
        "5;a=b\rc\r\nhello\r\n0\r\n\r\n",
        "5\r\nhello\r\n0\r\nBad Trailer\r\n\r\n",
        "5\r\nhello\r\n0\r\nX: a\x00b\r\n\r\n",
        "5\r\nhello\r\n0\r\nX: v\r\n folded\r\n\r\n",
    ] {
        refused_and_closed(&chunked(refused), 400);
    }
}

#[test]
fn chunk_framing_errors_are_refused() {
    for body in [
        "5\nhello\r\n0\r\n\r\n",
        "5\r\nhello\n0\r\n\r\n",
        "5\r\nhelloXX0\r\n\r\n",
        "x\r\n",
        "-5\r\nhello\r\n0\r\n\r\n",
        "0x5\r\nhello\r\n0\r\n\r\n",
        "ffffffffffffffff1\r\n",
        "\r\n",
    ] {
        refused_and_closed(&chunked(body), 400);
    }
}
