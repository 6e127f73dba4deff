//! A command-line WebSocket client: connects to a `ws://` or `wss://` URL,
//! prints each message that arrives, and sends each line of stdin. At the
//! end of stdin it closes (1000) and waits for the server's Close; what
//! the server sends after our Close (an echo still on its way) is not
//! printed, as RFC 6455 allows.
//!
//! ```text
//! cargo run --example echo -- --port 9001 &
//! cargo run --example client -- ws://127.0.0.1:9001/echo
//! cargo run --example client -- wss://chat.example.com/room \
//!     --header "Authorization: Bearer 7f3a" --protocol chat.v1 --ca my-ca.pem
//! ```

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use greenws::{ClientBuilder, CloseCode, Message, WebSocket};

#[derive(Parser)]
#[command(about = "Connect to a WebSocket, print what arrives, send each line of stdin")]
struct Args {
    /// The ws:// or wss:// URL to connect to.
    url: String,
    /// A header for the handshake, as "Name: value" (Origin, Authorization,
    /// Cookie...); repeat for more.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// A subprotocol to offer; repeat for more, in order of preference.
    #[arg(long = "protocol", short = 'p', value_name = "NAME")]
    protocols: Vec<String>,
    /// A CA certificate (PEM) to trust for wss://, besides the system's.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Seconds to connect, and again for the TLS and WebSocket handshakes.
    #[arg(long, default_value = "10", value_name = "SECONDS", value_parser = seconds)]
    timeout: Duration,
    /// Send each line as a binary message instead of text.
    #[arg(long)]
    binary: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _logging = greenws::logging::init("warn").expect("the first logger of the process");
    let ws = match builder(&args).connect() {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("client: {e}");
            return ExitCode::FAILURE;
        }
    };
    match ws.protocol() {
        Some(protocol) => eprintln!("connected to {} (subprotocol {protocol})", args.url),
        None => eprintln!("connected to {}", args.url),
    }
    // Plain threads: stdin and stdout are blocking std I/O, which has no
    // place on a greenlet; the WebSocket handle works from threads too.
    let printer = {
        let ws = ws.clone();
        std::thread::spawn(move || print_messages(&ws))
    };
    let binary = args.binary;
    std::thread::spawn(move || send_lines(&ws, binary));
    // The printer ends when the connection does (the server closed, or
    // stdin ended and our Close was answered); the sender may still wait
    // for a line.
    match printer.join() {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("client: {e}");
            ExitCode::FAILURE
        }
        Err(_) => ExitCode::FAILURE,
    }
}

fn seconds(text: &str) -> Result<Duration, String> {
    text.parse()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{text:?} is not a number of seconds"))
}

/// The client the flags describe.
fn builder(args: &Args) -> ClientBuilder {
    let mut client = ClientBuilder::new(&args.url)
        .protocols(args.protocols.iter().cloned())
        .connect_timeout(args.timeout)
        .handshake_timeout(args.timeout);
    for header in &args.headers {
        let (name, value) = header.split_once(':').unwrap_or((header, ""));
        client = client.header(name.trim(), value.trim());
    }
    if let Some(ca) = &args.ca {
        client = client.ca_file(ca);
    }
    client
}

/// Prints every message: text as it is, binary as its length and hex.
fn print_messages(ws: &WebSocket) -> greenws::Result<()> {
    for message in ws.messages() {
        let mut stdout = std::io::stdout().lock();
        let _ = match message? {
            Message::Text(text) => writeln!(stdout, "{text}"),
            Message::Binary(bytes) => {
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                writeln!(stdout, "<{} bytes: {hex}>", bytes.len())
            }
        };
        let _ = stdout.flush();
    }
    if let Some(reason) = ws.close_reason() {
        eprintln!("closed: {} {}", reason.code.as_u16(), reason.reason);
    }
    Ok(())
}

/// Sends each line of stdin; closes at its end.
fn send_lines(ws: &WebSocket, binary: bool) {
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let sent = match binary {
            true => ws.send(line.into_bytes()),
            false => ws.send(line),
        };
        if sent.is_err() {
            return; // the connection is gone; the printer says why
        }
    }
    let _ = ws.close(CloseCode::NORMAL, "");
}
