//! The fastest Rust WebSocket stack: fastwebsockets with hyper 1 for HTTP
//! and the upgrade, on tokio's multi-thread runtime. Same endpoints as
//! `greenws-server`: `/test`, `/echo`, `/data`, `/chat`.
//! `fastws-server PORT WORKERS|default [CERT.pem KEY.pem]` (TLS with
//! tokio-rustls, configured as greenws configures rustls).
//!
//! Written as its documentation shows: a `FragmentCollector` for whole
//! messages, the split halves for the chat (the write half behind a tokio
//! mutex, so the reader's obligatory pongs and closes can use it), and a
//! `tokio::sync::broadcast` channel for the fan-out.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use fastwebsockets::{upgrade, FragmentCollector, FragmentCollectorRead, Frame, OpCode, Payload};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::{broadcast, Mutex};

type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

async fn route(
    mut req: Request<Incoming>,
    chat: broadcast::Sender<Vec<u8>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/test" {
        return Ok(benches::peer::test_page());
    }
    let Ok((response, upgrade)) = upgrade::upgrade(&mut req) else {
        return Ok(benches::peer::not_found());
    };
    tokio::spawn(async move {
        let Ok(ws) = upgrade.await else { return };
        match path.as_str() {
            "/echo" => echo(FragmentCollector::new(ws)).await,
            "/data" => data(FragmentCollector::new(ws)).await,
            "/chat" => chat_member(ws, chat).await,
            _ => {}
        }
    });
    let (parts, _) = response.into_parts();
    Ok(Response::from_parts(parts, Full::new(Bytes::new())))
}

async fn echo(mut ws: FragmentCollector<Upgraded>) {
    while let Ok(frame) = ws.read_frame().await {
        let opcode = frame.opcode;
        let data = matches!(opcode, OpCode::Text | OpCode::Binary);
        if opcode == OpCode::Close || (data && ws.write_frame(frame).await.is_err()) {
            break;
        }
    }
}

async fn data(mut ws: FragmentCollector<Upgraded>) {
    for i in 0..100 {
        let line = format!("0 {i} 0.5\n");
        let frame = Frame::text(Payload::Owned(line.into_bytes()));
        if ws.write_frame(frame).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let _ = ws.write_frame(Frame::close(1000, b"")).await;
}

async fn chat_member(ws: fastwebsockets::WebSocket<Upgraded>, chat: broadcast::Sender<Vec<u8>>) {
    let (read, write) = ws.split(tokio::io::split);
    let mut read = FragmentCollectorRead::new(read);
    let write = Arc::new(Mutex::new(write));
    let mut inbox = chat.subscribe();
    let writer = {
        let write = write.clone();
        tokio::spawn(async move {
            loop {
                match inbox.recv().await {
                    Ok(message) => {
                        let frame = Frame::text(Payload::Owned(message));
                        if write.lock().await.write_frame(frame).await.is_err() {
                            break;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
        })
    };
    loop {
        let mut send = |frame| {
            let write = write.clone();
            async move { write.lock().await.write_frame(frame).await }
        };
        match read.read_frame(&mut send).await {
            Ok(frame) => match frame.opcode {
                OpCode::Close => break,
                OpCode::Text | OpCode::Binary => {
                    let _ = chat.send(frame.payload.to_vec());
                }
                _ => {}
            },
            Err(_) => break,
        }
    }
    writer.abort();
}

fn main() {
    let args = benches::peer::server_args();
    let (chat, _) = broadcast::channel(1024);
    benches::peer::serve_hyper(&args, move |req| route(req, chat.clone()));
}
