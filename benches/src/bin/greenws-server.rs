//! greenws serving the benchmark endpoints: `/test` (text), WebSocket
//! `/echo`, `/data` (100 points, 1 ms apart) and `/chat` (a broadcast hub).
//!
//! `greenws-server PORT WORKERS|default [CERT.pem KEY.pem]`
//!
//! Logging is set up as the demo and the examples ship it
//! (`server/examples/common/mod.rs`): env_logger on stderr, `greenws` at
//! `info` (the access log, one line per request) unless `RUST_LOG` says
//! otherwise. `RUST_LOG=warn` turns the access log off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use greenws::http::StatusCode;
use greenws::{
    Hub, MemberId, Message, Request, Resource, Response, WebSocket, WebSocketApplication,
    WebSocketHandler, WsgiServer,
};

struct Echo;

impl WebSocketApplication for Echo {
    fn on_message(&self, ws: &WebSocket, message: Message) {
        let _ = ws.send(message);
    }
}

struct Chat {
    hub: Hub,
    members: Mutex<HashMap<u64, MemberId>>,
}

impl WebSocketApplication for Chat {
    fn on_open(&self, ws: &WebSocket) {
        let id = self.hub.join(ws);
        self.members.lock().unwrap().insert(ws.id(), id);
    }

    fn on_message(&self, _ws: &WebSocket, message: Message) {
        self.hub.broadcast(message);
    }

    fn on_close(&self, ws: &WebSocket, _code: u16, _reason: &str) {
        if let Some(id) = self.members.lock().unwrap().remove(&ws.id()) {
            self.hub.leave(id);
        }
    }
}

fn data(req: &mut Request) -> Response {
    let Some(ws) = req.websocket() else {
        return Response::new(StatusCode::UPGRADE_REQUIRED);
    };
    for i in 0..100 {
        if ws.send(format!("0 {i} 0.5\n")).is_err() {
            break;
        }
        green::sleep(Duration::from_millis(1));
    }
    Response::upgraded()
}

fn main() -> greenws::Result<()> {
    let args = benches::peer::server_args();
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("warn,greenws=info"),
    )
    .init();
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
                members: Mutex::new(HashMap::new()),
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
