//! A chat with rooms on `/chat/ROOM` (`/chat` is the lobby), built from
//! gevent-websocket's pieces: `Resource` routes, a `WebSocketApplication`,
//! and a `Hub` so that one slow reader never holds up the others. `/`
//! serves a page to try it (`/#ROOM` for another room).
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
    Hub, Message, Request, Resource, Response, WebSocket, WebSocketApplication, WebSocketHandler,
};

#[derive(Parser)]
#[command(about = "A chat with rooms over WebSocket")]
struct Args {
    #[command(flatten)]
    listen: common::Listen,
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

/// `/chat/ROOM` is in ROOM; `/chat` in the lobby.
fn room(ws: &WebSocket) -> &str {
    match ws.path().strip_prefix("/chat/") {
        Some(room) if !room.is_empty() => room,
        _ => "lobby",
    }
}

impl WebSocketApplication for Chat {
    fn on_open(&self, ws: &WebSocket) {
        let id = self.hub.join(ws);
        self.hub.join_room(id, room(ws));
        let joined = format!("* {} joined {}", ws.peer_addr(), room(ws));
        self.hub.broadcast_to(room(ws), joined);
    }

    fn on_message(&self, ws: &WebSocket, message: Message) {
        if let Message::Text(text) = message {
            let said = format!("{}: {text}", ws.peer_addr());
            self.hub.broadcast_to(room(ws), said);
        }
    }

    fn on_close(&self, ws: &WebSocket, _code: u16, _reason: &str) {
        let left = format!("* {} left", ws.peer_addr());
        self.hub.broadcast_to(room(ws), left);
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
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat/' + room);
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
    common::init_logging();
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
    common::announce(args.listen.scheme(), server.local_addr());
    server.serve_forever(resource)
}
