//! The popular async peer: hyper 1 for HTTP and the upgrade,
//! tokio-tungstenite for WebSocket, on tokio's multi-thread runtime.
//! Same endpoints as `greenws-server`: `/test`, `/echo`, `/data`, `/chat`.
//! `tokio-server PORT WORKERS|default [CERT.pem KEY.pem]` (TLS with
//! tokio-rustls, configured as greenws configures rustls).
//!
//! Written as a competent user would: one task per connection, a split
//! stream and a `tokio::sync::broadcast` channel for the chat, and a 4 KiB
//! read buffer (tungstenite's default of 128 KiB costs memory and time).

use std::convert::Infallible;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, UPGRADE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>;

async fn route(
    mut req: Request<Incoming>,
    chat: broadcast::Sender<Message>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/test" {
        return Ok(benches::peer::test_page());
    }
    let Some(key) = req.headers().get(SEC_WEBSOCKET_KEY).cloned() else {
        return Ok(benches::peer::not_found());
    };
    let upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await;
        match path.as_str() {
            "/echo" => echo(ws).await,
            "/data" => data(ws).await,
            "/chat" => chat_member(ws, chat).await,
            _ => {}
        }
    });
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(UPGRADE, HeaderValue::from_static("websocket"))
        .header(CONNECTION, HeaderValue::from_static("Upgrade"))
        .header(SEC_WEBSOCKET_ACCEPT, derive_accept_key(key.as_bytes()))
        .body(Full::new(Bytes::new()))
        .unwrap())
}

async fn echo(mut ws: Ws) {
    while let Some(Ok(message)) = ws.next().await {
        let data = message.is_text() || message.is_binary();
        if message.is_close() || (data && ws.send(message).await.is_err()) {
            break;
        }
    }
}

async fn data(mut ws: Ws) {
    for i in 0..100 {
        if ws
            .send(Message::text(format!("0 {i} 0.5\n")))
            .await
            .is_err()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = ws.close(None).await;
}

async fn chat_member(ws: Ws, chat: broadcast::Sender<Message>) {
    let (mut sink, mut stream) = ws.split();
    let mut inbox = chat.subscribe();
    let writer = tokio::spawn(async move {
        loop {
            match inbox.recv().await {
                Ok(message) => {
                    if sink.send(message).await.is_err() {
                        break;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    while let Some(Ok(message)) = stream.next().await {
        match message {
            Message::Text(_) | Message::Binary(_) => {
                let _ = chat.send(message);
            }
            Message::Close(_) => break,
            _ => {}
        }
    }
    writer.abort();
}

fn main() {
    let args = benches::peer::server_args();
    let (chat, _) = broadcast::channel(1024);
    benches::peer::serve_hyper(&args, move |req| route(req, chat.clone()));
}
