//! Property tests of the HTTP/1.1 layer: any request the encoder writes
//! parses back to itself, and a stream of pipelined requests (bodies of
//! known length and chunked ones) parses the same whole or split at any
//! byte positions.

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{Method, Version};
use proptest::prelude::*;

use super::chunked::{write_chunk, write_last_chunk, ChunkedDecoder};
use super::client::write_request_head;
use super::head::{parse_head, RequestBodyFraming, RequestHead};
use crate::Limits;

/// One request to encode.
#[derive(Debug, Clone)]
struct Sent {
    method: Method,
    target: String,
    fields: Vec<(String, String)>,
    body: Body,
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Length(Vec<u8>),
    /// Sent in these pieces (an empty piece would end the body early, so
    /// there is none).
    Chunked(Vec<Vec<u8>>),
}

/// A request as the server parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Received {
    method: Method,
    target: String,
    version: Version,
    fields: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::DELETE),
        Just(Method::OPTIONS),
        "[A-Z]{1,10}".prop_map(|m| Method::from_bytes(m.as_bytes()).expect("a token")),
    ]
}

fn target() -> impl Strategy<Value = String> {
    (
        "(/[a-zA-Z0-9._~-]{0,12}){1,4}",
        proptest::option::of("[a-z0-9=&._~-]{0,20}"),
    )
        .prop_map(|(path, query)| match query {
            Some(query) => format!("{path}?{query}"),
            None => path,
        })
}

/// Field lines with no meaning to the parser (framing, `Host` and
/// `Expect` are the encoder's).
fn fields() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = "x-[a-z0-9-]{1,12}|accept|user-agent|cookie|connection";
    let value = "[!-~]([ !-~]{0,30}[!-~])?";
    proptest::collection::vec((name, value), 0..12)
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 1..300)
}

fn body() -> impl Strategy<Value = Body> {
    prop_oneof![
        Just(Body::None),
        bytes().prop_map(Body::Length),
        proptest::collection::vec(bytes(), 0..5).prop_map(Body::Chunked),
    ]
}

fn request() -> impl Strategy<Value = Sent> {
    (method(), target(), fields(), body()).prop_map(|(method, target, fields, body)| Sent {
        method,
        target,
        fields,
        body,
    })
}

/// Writes a request with the client role's encoder.
fn encode(request: &Sent, out: &mut Vec<u8>) {
    let mut fields: Vec<(&str, &[u8])> = vec![("Host", b"example.com")];
    fields.extend(
        request
            .fields
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes())),
    );
    let length;
    match &request.body {
        Body::None => {}
        Body::Length(body) => {
            length = body.len().to_string();
            fields.push(("Content-Length", length.as_bytes()));
        }
        Body::Chunked(_) => fields.push(("Transfer-Encoding", b"chunked")),
    }
    write_request_head(out, &request.method, &request.target, fields);
    match &request.body {
        Body::None => {}
        Body::Length(body) => out.extend_from_slice(body),
        Body::Chunked(pieces) => {
            for piece in pieces {
                write_chunk(out, piece);
            }
            write_last_chunk(out);
        }
    }
}

/// What the server should parse out of `request`.
fn expected(request: &Sent) -> Received {
    let mut fields = vec![("host".to_string(), b"example.com".to_vec())];
    fields.extend(
        request
            .fields
            .iter()
            .map(|(name, value)| (name.clone(), value.as_bytes().to_vec())),
    );
    let body = match &request.body {
        Body::None => Vec::new(),
        Body::Length(body) => {
            fields.push(("content-length".into(), body.len().to_string().into_bytes()));
            body.clone()
        }
        Body::Chunked(pieces) => {
            fields.push(("transfer-encoding".into(), b"chunked".to_vec()));
            pieces.concat()
        }
    };
    // A header map keeps the values of one name together, in the order
    // the name first appeared.
    let mut grouped: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, _) in &fields {
        if grouped.iter().any(|(seen, _)| seen == name) {
            continue;
        }
        grouped.extend(fields.iter().filter(|(n, _)| n == name).cloned());
    }
    Received {
        method: request.method.clone(),
        target: request.target.clone(),
        version: Version::HTTP_11,
        fields: grouped,
        body,
    }
}

/// What is being read: a head, or the body of the head before it.
enum Reading {
    Head,
    Length(RequestHead, u64, Vec<u8>),
    Chunked(RequestHead, Box<ChunkedDecoder>, Vec<u8>),
}

/// The server side of a stream, fed in pieces: the sans-IO head parser
/// and chunked decoder, driven as the connection loop drives them.
struct Server {
    limits: Limits,
    buffered: Vec<u8>,
    reading: Reading,
    received: Vec<Received>,
}

impl Server {
    fn new() -> Self {
        Server {
            limits: Limits::default(),
            buffered: Vec::new(),
            reading: Reading::Head,
            received: Vec::new(),
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buffered.extend_from_slice(bytes);
        while self.step() {}
    }

    /// Takes one step; false when more bytes are needed.
    fn step(&mut self) -> bool {
        match std::mem::replace(&mut self.reading, Reading::Head) {
            Reading::Head => {
                let parsed = parse_head(&self.buffered, &self.limits).expect("a valid head");
                let Some((head, used)) = parsed else {
                    return false;
                };
                self.buffered.drain(..used);
                self.reading = match head.framing {
                    RequestBodyFraming::Empty => {
                        self.finish(head, Vec::new());
                        Reading::Head
                    }
                    RequestBodyFraming::Length(n) => Reading::Length(head, n, Vec::new()),
                    RequestBodyFraming::Chunked => {
                        let decoder =
                            ChunkedDecoder::new(self.limits.max_body, self.limits.max_header_bytes);
                        Reading::Chunked(head, Box::new(decoder), Vec::new())
                    }
                };
                true
            }
            Reading::Length(head, left, mut body) => {
                let take = self.buffered.len().min(left as usize);
                body.extend(self.buffered.drain(..take));
                if take as u64 == left {
                    self.finish(head, body);
                    true
                } else {
                    self.reading = Reading::Length(head, left - take as u64, body);
                    false
                }
            }
            Reading::Chunked(head, mut decoder, mut body) => {
                let step = decoder
                    .decode(&self.buffered, usize::MAX)
                    .expect("a valid chunked body");
                body.extend_from_slice(&self.buffered[step.data]);
                self.buffered.drain(..step.consumed);
                if decoder.is_done() {
                    self.finish(head, body);
                    return true;
                }
                let progressed = step.consumed > 0;
                self.reading = Reading::Chunked(head, decoder, body);
                progressed
            }
        }
    }

    fn finish(&mut self, head: RequestHead, body: Vec<u8>) {
        let fields = head
            .headers
            .iter()
            .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
            .collect();
        self.received.push(Received {
            method: head.method,
            target: head.target,
            version: head.version,
            fields,
            body,
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_request_the_encoder_writes_parses_back_to_itself(request in request()) {
        let mut wire = Vec::new();
        encode(&request, &mut wire);
        let mut server = Server::new();
        server.push(&wire);
        prop_assert_eq!(server.buffered.len(), 0);
        prop_assert_eq!(server.received, vec![expected(&request)]);
        let (head, _) = parse_head(&wire, &Limits::default()).unwrap().unwrap();
        let (path, query) = match request.target.split_once('?') {
            Some((path, query)) => (path, Some(query.to_string())),
            None => (request.target.as_str(), None),
        };
        prop_assert_eq!(head.path, path);
        prop_assert_eq!(head.query, query);
        prop_assert!(head.keep_alive || request.fields.iter().any(|(n, _)| n == "connection"));
        let framing = match &request.body {
            Body::None => RequestBodyFraming::Empty,
            Body::Length(body) => RequestBodyFraming::Length(body.len() as u64),
            Body::Chunked(_) => RequestBodyFraming::Chunked,
        };
        prop_assert_eq!(head.framing, framing);
        prop_assert_eq!(
            head.headers.contains_key(CONTENT_LENGTH),
            matches!(request.body, Body::Length(_))
        );
        prop_assert_eq!(
            head.headers.contains_key(TRANSFER_ENCODING),
            matches!(request.body, Body::Chunked(_))
        );
    }

    #[test]
    fn a_stream_split_anywhere_parses_as_the_whole(
        requests in proptest::collection::vec(request(), 1..5),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut wire = Vec::new();
        for request in &requests {
            encode(request, &mut wire);
        }
        let mut whole = Server::new();
        whole.push(&wire);
        prop_assert_eq!(&whole.received, &requests.iter().map(expected).collect::<Vec<_>>());

        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut.index(wire.len() + 1)).collect();
        cuts.sort_unstable();
        let mut split = Server::new();
        let mut from = 0;
        for cut in cuts.into_iter().chain([wire.len()]) {
            split.push(&wire[from..cut]);
            from = cut;
        }
        prop_assert_eq!(split.buffered.len(), 0);
        prop_assert_eq!(split.received, whole.received);
    }

    #[test]
    fn a_stream_fed_byte_by_byte_parses_as_the_whole(request in request()) {
        let mut wire = Vec::new();
        encode(&request, &mut wire);
        let mut server = Server::new();
        for byte in &wire {
            server.push(std::slice::from_ref(byte));
        }
        prop_assert_eq!(server.received, vec![expected(&request)]);
    }
}
