//! A broadcast chat on `/chat`, built from gevent-websocket's pieces:
//! `Resource` routes, a `WebSocketApplication`, and a `Hub` so that one
//! slow reader never holds up the others. `/` serves a page to try it.
//!
//! ```text
//! cargo run --example chat -- --port 8000   # then open http://127.0.0.1:8000/
//! ```

mod common;

use std::collections::HashMap;
use std::sync::Mutex;

use clap::Parser;
use greenws::{
    Hub, MemberId, Message, Request, Resource, Response, WebSocket, WebSocketApplication,
    WebSocketHandler,
};

#[derive(Parser)]
#[command(about = "A broadcast chat over WebSocket")]
struct Args {
    #[command(flatten)]
    listen: common::Listen,
}

/// Everyone in one room; each message goes to all.
struct Chat {
    hub: Hub,
    members: Mutex<HashMap<u64, MemberId>>,
}

impl WebSocketApplication for Chat {
    fn on_open(&self, ws: &WebSocket) {
        let id = self.hub.join(ws);
        self.members.lock().unwrap().insert(ws.id(), id);
        self.hub.broadcast(format!(
            "* {} joined ({} here)",
            ws.peer_addr(),
            self.hub.len()
        ));
    }

    fn on_message(&self, ws: &WebSocket, message: Message) {
        if let Message::Text(text) = message {
            self.hub.broadcast(format!("{}: {text}", ws.peer_addr()));
        }
    }

    fn on_close(&self, ws: &WebSocket, _code: u16, _reason: &str) {
        if let Some(id) = self.members.lock().unwrap().remove(&ws.id()) {
            self.hub.leave(id);
        }
        self.hub.broadcast(format!("* {} left", ws.peer_addr()));
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
const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/chat');
ws.onopen = () => add('* connected');
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
    let chat = Chat {
        hub: Hub::new(256),
        members: Mutex::new(HashMap::new()),
    };
    let resource = Resource::new()
        .websocket("/chat", chat)
        .app("/", |_req: &mut Request| Response::html(PAGE));
    let server = args.listen.bind()?.handler_class(WebSocketHandler::new());
    common::announce(args.listen.scheme(), server.local_addr());
    server.serve_forever(resource)
}
