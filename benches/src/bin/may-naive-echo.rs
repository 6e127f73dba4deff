//! The naive may + tungstenite echo server, as may's own example writes it:
//! one coroutine per connection, tungstenite's blocking `accept` and
//! `read`/`send` on may's `TcpStream`, no duplex. A 4 KiB read buffer
//! (tungstenite's 128 KiB default would only make it look worse).
//! `may-naive-echo PORT WORKERS|default`; answers a WebSocket on any path.

use may::net::TcpListener;
use tungstenite::protocol::WebSocketConfig;

fn main() {
    let benches::peer::ServerArgs { port, workers, .. } = benches::peer::server_args();
    if let Some(workers) = workers {
        may::config().set_workers(workers);
    }
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind");
    println!("Serving on http://{}", listener.local_addr().unwrap());
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let _ = stream.set_nodelay(true);
        // Safety: the coroutine uses no thread-local state across blocking calls.
        unsafe {
            may::coroutine::spawn(move || {
                let config = WebSocketConfig::default().read_buffer_size(4096);
                let Ok(mut ws) = tungstenite::accept_with_config(stream, Some(config)) else {
                    return;
                };
                while let Ok(message) = ws.read() {
                    let data = message.is_text() || message.is_binary();
                    if message.is_close() || (data && ws.send(message).is_err()) {
                        break;
                    }
                }
            });
        }
    }
}
