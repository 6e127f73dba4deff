//! A chat with rooms on `/chat/ROOM` (`/chat` is the lobby), built from
//! gevent-websocket's pieces: `Resource` routes, a `WebSocketApplication`
//! whose session is each connection's name (`?name=ada`) and room, and a
//! `Hub` so that one slow reader never holds up the others. `/` serves a
//! page to try it (`/#ROOM` for another room, `/?name=ada` to pick a name).
//!
//! With `--redis URL`, instances that use the same Redis share their rooms:
//!
//! ```text
//! cargo run --example chat -- --port 8000   # then open http://127.0.0.1:8000/
//! cargo run --example chat -- --port 8001 --redis redis://127.0.0.1:6379/ &
//! cargo run --example chat -- --port 8002 --redis redis://127.0.0.1:6379/
//! ```

mod common;

use clap::Parser;
use greenws::{
    CloseReason, HandshakeRequest, Hub, Message, Request, Resource, Response, WebSocket,
    WebSocketApplication, WebSocketHandler,
};
use percent_encoding::percent_decode_str;

#[derive(Parser)]
#[command(about = "A chat with rooms over WebSocket")]
struct Args {
    #[command(flatten)]
    listen: common::Listen,
    #[command(flatten)]
    runtime: common::Runtime,
    /// Share the rooms with every chat that uses this Redis
    /// (redis://[:password@]host[:port]/).
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
}

/// Each message goes to the sender's room. A member leaves the hub by
/// itself when its connection closes.
#[derive(Clone)]
struct Chat {
    hub: Hub,
}

/// Who a connection is: `?name=` of its URL (else its address), and its
/// room (`/chat/ROOM`, or the lobby for `/chat`).
struct Seat {
    name: String,
    room: String,
}

impl WebSocketApplication for Chat {
    type Session = Seat;

    fn on_open(&self, ws: &WebSocket, request: &HandshakeRequest) -> Seat {
        let name = match request.query_param("name") {
            Some(name) if !name.is_empty() => {
                let name = percent_decode_str(name).decode_utf8_lossy();
                name.chars().take(32).collect()
            }
            _ => ws.peer_addr().to_string(),
        };
        let room = match ws.path().strip_prefix("/chat/") {
            Some(room) if !room.is_empty() => room.to_owned(),
            _ => "lobby".to_owned(),
        };
        let id = self.hub.join(ws);
        self.hub.join_room(id, &room);
        self.hub
            .broadcast_to(&room, format!("* {name} joined {room}"));
        Seat { name, room }
    }

    fn on_message(&self, seat: &mut Seat, _ws: &WebSocket, message: Message) {
        if let Message::Text(text) = message {
            let said = format!("{}: {text}", seat.name);
            self.hub.broadcast_to(&seat.room, said);
        }
    }

    fn on_close(&self, seat: Seat, _ws: &WebSocket, _reason: &CloseReason) {
        self.hub
            .broadcast_to(&seat.room, format!("* {} left", seat.name));
    }
}

const PAGE: &str = r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>greenws chat</title>
<style>body{font:16px sans-serif;max-width:40em;margin:1em auto;padding:0 1em}
#log{border:1px solid #ccc;height:60vh;overflow-y:auto;padding:.5em;white-space:pre-wrap}
form{display:flex;gap:.5em;margin-top:.5em}input{flex:1;font:inherit}</style></head>
<body><h3>greenws chat</h3><div id="log"></div>
<form id="f"><input id="m" autocomplete="off" placeholder="say something"><button>Send</button></form>
<script>
const log = document.getElementById('log');
const add = t => { log.textContent += t + '\n'; log.scrollTop = log.scrollHeight; };
const room = location.hash.slice(1) || 'lobby';
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat/' + room + location.search);
ws.onopen = () => add('* connected to ' + room);
ws.onmessage = e => add(e.data);
ws.onclose = e => add('* disconnected (' + e.code + ')');
document.getElementById('f').onsubmit = e => {
  e.preventDefault();
  const m = document.getElementById('m');
  if (m.value && ws.readyState === 1) { ws.send(m.value); m.value = ''; }
};
</script></body></html>"#;

fn main() -> greenws::Result<()> {
    let args = Args::parse();
    let _logging = common::init_logging();
    args.runtime.apply()?;
    let mut hub = Hub::builder().capacity(256).prefix("chat:");
    if let Some(url) = &args.redis {
        hub = hub.redis(url);
    }
    let chat = Chat { hub: hub.build()? };
    let resource = Resource::new()
        .websocket("/chat", chat.clone())
        .websocket("/chat/*", chat)
        .app("/", |_req: &mut Request| Response::html(PAGE));
    let server = args.listen.bind()?.handler_class(WebSocketHandler::new());
    common::start_until_signal(server, args.listen.scheme(), resource)?.wait();
    Ok(())
}
