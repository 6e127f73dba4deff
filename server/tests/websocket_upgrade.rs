//! The app's side of the opening handshake: `req.upgrade(|ws| ...)`, the
//! offer (subprotocol choice, headers on the 101), the handshake request
//! kept by the socket (query, headers, cookies), a handler class passing
//! data to the app through the request's extensions, and how a session
//! that ends badly is closed.

mod support;
#[path = "support/ws.rs"]
mod ws;

use std::time::Duration;

use greenws::{
    CloseReason, Handler, HandshakeRequest, Message, Request, Resource, Response, ServerHandle,
    Upgrade, WebSocket, WebSocketApplication, WebSocketHandler, WsgiServer,
};
use ws::{connect_with, Raw};

type Reports = green::Queue<String>;

fn report(reports: &Reports) -> String {
    reports
        .get_timeout(Duration::from_secs(10))
        .expect("the app reports")
}

/// A handler class over the WebSocket one: it also says who is asking
/// (the `X-User` header a trusted proxy would set), for the app.
#[derive(Clone)]
struct User(String);

struct WithUser(WebSocketHandler);

impl Handler for WithUser {
    fn prepare(&self, request: &mut Request<'_>) -> Option<Response> {
        if let Some(user) = request.header("x-user") {
            let user = User(user.to_owned());
            request.extensions_mut().insert(user);
        }
        self.0.prepare(request)
    }
}

fn start(reports: Reports) -> ServerHandle {
    let handler = WebSocketHandler::new()
        .protocols(["chat.v1"])
        .response_header("x-served-by", "greenws");
    WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WithUser(handler))
        .start(move |req: &mut Request| app(req, &reports))
        .unwrap()
}

fn app(req: &mut Request, reports: &Reports) -> Response {
    match req.path() {
        "/request" => {
            let user = req.extensions().get::<User>().map(|u| u.0.clone());
            req.upgrade(|ws| {
                let request = ws.request();
                ws.send(format!(
                    "user {user:?}, path {}, query {:?}, token {:?}, session {:?}, cookies {:?}, agent {:?}",
                    request.path(),
                    request.query(),
                    request.query_param("token"),
                    request.cookie("session"),
                    request.cookies().collect::<Vec<_>>(),
                    request.header("user-agent"),
                ))?;
                let _ = ws.receive();
                Ok(())
            })
        }
        "/offer" => {
            let Some(offer) = req.websocket_offer() else {
                return Response::text("no offer");
            };
            reports.put(format!(
                "offered {:?}, the handler would agree on {:?}",
                offer.offered_protocols(),
                offer.protocol()
            ));
            let offer = offer
                .protocols(&["chat.v2"])
                .header("set-cookie", "session=fresh; HttpOnly");
            offer.accept(req, |ws| {
                ws.send(format!("speaking {:?}", ws.protocol()))?;
                let _ = ws.receive();
                Ok(())
            })
        }
        "/error" => req.upgrade(|ws| {
            ws.send("about to fail")?;
            // A ping may carry 125 bytes: this is the app's error.
            ws.ping(vec![0u8; 126])?;
            Ok(())
        }),
        // A 101 that no protocol switch stands behind.
        "/fake-101" => Response::new(greenws::http::StatusCode::SWITCHING_PROTOCOLS),
        _ => req.upgrade(|_ws| Ok(())),
    }
}

#[test]
fn the_socket_keeps_the_handshake_request_and_the_handler_class_data() {
    let server = start(Reports::unbounded());
    let (mut client, _) = connect_with(
        server.local_addr(),
        "/request?token=t0k3n&x=1",
        &[
            ("Cookie", "theme=dark; session=s3ss10n"),
            ("User-Agent", "tests/1.0"),
            ("X-User", "ada"),
        ],
    )
    .unwrap();
    assert_eq!(
        client.read().unwrap().into_text().unwrap().as_str(),
        "user Some(\"ada\"), path /request, query Some(\"token=t0k3n&x=1\"), token Some(\"t0k3n\"), \
         session Some(\"s3ss10n\"), cookies [(\"theme\", \"dark\"), (\"session\", \"s3ss10n\")], \
         agent Some(\"tests/1.0\")"
    );
}

#[test]
fn the_offer_chooses_the_subprotocol_and_adds_headers_to_the_101() {
    let reports = Reports::unbounded();
    let server = start(reports.clone());
    let (mut client, response) = connect_with(
        server.local_addr(),
        "/offer",
        &[("Sec-WebSocket-Protocol", "chat.v2, chat.v1")],
    )
    .unwrap();
    assert_eq!(
        report(&reports),
        "offered [\"chat.v2\", \"chat.v1\"], the handler would agree on Some(\"chat.v1\")"
    );
    let headers = response.headers();
    assert_eq!(headers["sec-websocket-protocol"], "chat.v2");
    assert_eq!(headers["set-cookie"], "session=fresh; HttpOnly");
    // The handler class's own header is on every 101.
    assert_eq!(headers["x-served-by"], "greenws");
    assert_eq!(
        client.read().unwrap().into_text().unwrap().as_str(),
        "speaking Some(\"chat.v2\")"
    );
}

#[test]
fn a_plain_request_to_upgrade_gets_426() {
    let server = start(Reports::unbounded());
    let mut client = support::Client::connect(server.local_addr());
    let reply = client.request(support::get("/anything"));
    assert_eq!(reply.status, 426);
    assert_eq!(reply.header("upgrade"), Some("websocket"));
    assert_eq!(reply.header("sec-websocket-version"), Some("13"));
    // The connection stays usable for HTTP.
    let offer = client.request(support::get("/offer"));
    assert_eq!((offer.status, offer.text().as_str()), (200, "no offer"));
}

#[test]
fn a_101_without_a_protocol_switch_is_a_500() {
    let server = start(Reports::unbounded());
    let mut client = support::Client::connect(server.local_addr());
    let reply = client.request(support::get("/fake-101"));
    assert_eq!(reply.status, 500);
    assert_eq!(reply.header("connection"), Some("close"));
}

#[test]
fn a_session_that_returns_an_error_is_closed_with_1011() {
    let server = start(Reports::unbounded());
    let mut raw = Raw::connect(server.local_addr(), "/error");
    assert_eq!(raw.read_frame().unwrap(), (0x81, b"about to fail".to_vec()));
    assert_eq!(raw.read_close_code(), 1011);
}

/// Keeps each connection's name, given in the query string, as its
/// session.
struct Named {
    events: Reports,
}

impl WebSocketApplication for Named {
    type Session = String;

    fn on_open(&self, _ws: &WebSocket, request: &HandshakeRequest) -> String {
        request.query_param("name").unwrap_or("nobody").to_owned()
    }

    fn on_message(&self, name: &mut String, ws: &WebSocket, message: Message) {
        if let Message::Text(text) = message {
            if let Some(new) = text.strip_prefix("rename ") {
                *name = new.to_owned();
            }
            let _ = ws.send(format!("{name}: {text}"));
        }
    }

    fn on_close(&self, name: String, _ws: &WebSocket, reason: &CloseReason) {
        self.events
            .put(format!("{name} left with {}", reason.code.as_u16()));
    }
}

#[test]
fn each_connection_has_its_own_session() {
    let events = Reports::unbounded();
    let server = WsgiServer::bind("127.0.0.1:0")
        .unwrap()
        .handler_class(WebSocketHandler::new())
        .start(Resource::new().websocket(
            "/named",
            Named {
                events: events.clone(),
            },
        ))
        .unwrap();
    let addr = server.local_addr();
    let mut ada = ws::connect(addr, "/named?name=ada");
    let mut bob = ws::connect(addr, "/named?name=bob");
    let say = |client: &mut ws::Client, text: &str| {
        client.send(tungstenite::Message::text(text)).unwrap();
        client.read().unwrap().into_text().unwrap().to_string()
    };
    assert_eq!(say(&mut ada, "hi"), "ada: hi");
    assert_eq!(say(&mut bob, "rename robert"), "robert: rename robert");
    assert_eq!(say(&mut ada, "still me"), "ada: still me");
    assert_eq!(say(&mut bob, "yes"), "robert: yes");
    ada.close(None).unwrap();
    while ada.read().is_ok() {}
    assert_eq!(report(&events), "ada left with 1005");
    drop(bob);
    assert_eq!(report(&events), "robert left with 1006");
}
