//! greenws serving the benchmark endpoints: `/test` (text), WebSocket
//! `/echo`, `/data` (100 points, 1 ms apart) and `/chat` (a broadcast hub).
//!
//! `greenws-server PORT WORKERS|default [CERT.pem KEY.pem]`
//!
//! Logging is set up as the demo and the examples ship it
//! (`server/examples/common/mod.rs`): [`greenws::logging`] on stderr (a
//! bounded buffer and a writer thread, never blocking a worker), `greenws`
//! at `info` (the access log, one line per request) unless `RUST_LOG` says
//! otherwise. `RUST_LOG=warn` turns the access log off.

use std::time::Duration;

use greenws::{
    CloseReason, HandshakeRequest, Hub, MemberId, Message, Request, Resource, Response, Upgrade,
    WebSocket, WebSocketApplication, WebSocketHandler, WsgiServer,
};

struct Echo;

impl WebSocketApplication for Echo {
    type Session = ();

    fn on_open(&self, _ws: &WebSocket, _request: &HandshakeRequest) {}

    fn on_message(&self, _session: &mut (), ws: &WebSocket, message: Message) {
        let _ = ws.send(message);
    }
}

struct Chat {
    hub: Hub,
}

impl WebSocketApplication for Chat {
    type Session = MemberId;

    fn on_open(&self, ws: &WebSocket, _request: &HandshakeRequest) -> MemberId {
        self.hub.join(ws)
    }

    fn on_message(&self, _member: &mut MemberId, _ws: &WebSocket, message: Message) {
        self.hub.broadcast(message);
    }

    fn on_close(&self, member: MemberId, _ws: &WebSocket, _reason: &CloseReason) {
        self.hub.leave(member);
    }
}

fn data(req: &mut Request) -> Response {
    req.upgrade(|ws| {
        for i in 0..100 {
            ws.send(format!("0 {i} 0.5\n"))?;
            green::sleep(Duration::from_millis(1));
        }
        Ok(())
    })
}

fn main() -> greenws::Result<()> {
    let args = benches::peer::server_args();
    let _logging = greenws::logging::init("warn,greenws=info").expect("the only logger");
    if let Some(workers) = args.workers {
        green::Config::new()
            .workers(workers)
            .apply()
            .expect("settings apply at start");
    }
    let resource = Resource::new()
        .app("/test", |_req: &mut Request| {
            Response::bytes("text/plain", "Yes this is a test!".as_bytes())
        })
        .websocket("/echo", Echo)
        .app("/data", data)
        .websocket(
            "/chat",
            Chat {
                hub: Hub::new(1024),
            },
        );
    let mut server =
        WsgiServer::bind(("127.0.0.1", args.port))?.handler_class(WebSocketHandler::new());
    let mut scheme = "http";
    if let Some((cert, key)) = &args.tls {
        server = server.tls(cert, key)?;
        scheme = "https";
    }
    println!("Serving on {scheme}://{}", server.local_addr());
    server.serve_forever(resource)
}
