//! The Autobahn TestSuite's client loop (its fuzzingserver tests a
//! client): read the number of cases, run each one by echoing every
//! message until the server closes, then ask for the reports.
//!
//! ```text
//! cargo build --example autobahn_client
//! AB_REPORTS=/tmp/ab-client bash tests/autobahn/run-client.sh target/debug/examples/autobahn_client
//! ```
//!
//! The URL and agent come from `AB_URL` and `AB_AGENT` (as run-client.sh
//! sets them), or from `--url` and `--agent`.

use std::process::ExitCode;

use clap::Parser;
use greenws::{ClientBuilder, Message, WebSocketConfig};

#[derive(Parser)]
#[command(about = "Run the Autobahn TestSuite's cases against the greenws client")]
struct Args {
    /// The fuzzingserver's URL (default: $AB_URL, else ws://127.0.0.1:9001).
    #[arg(long)]
    url: Option<String>,
    /// The agent name the reports use (default: $AB_AGENT, else greenws).
    #[arg(long)]
    agent: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let _logging = greenws::logging::init("warn").expect("the first logger of the process");
    let url = args
        .url
        .or_else(|| std::env::var("AB_URL").ok())
        .unwrap_or_else(|| "ws://127.0.0.1:9001".into());
    let agent = args
        .agent
        .or_else(|| std::env::var("AB_AGENT").ok())
        .unwrap_or_else(|| "greenws".into());
    match run(&url, &agent) {
        Ok(cases) => {
            eprintln!("autobahn_client: ran {cases} cases as {agent}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("autobahn_client: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(url: &str, agent: &str) -> greenws::Result<u32> {
    let count = case_count(url)?;
    // The cases send messages of up to 16 MiB.
    let config = WebSocketConfig::default()
        .max_message_size(64 << 20)
        .max_frame_size(64 << 20);
    for case in 1..=count {
        let case_url = format!("{url}/runCase?case={case}&agent={agent}");
        let client = ClientBuilder::new(case_url).config(config.clone());
        // A case may refuse us or break the connection: that is its test.
        match client.connect() {
            Ok(ws) => {
                for message in ws.messages() {
                    let Ok(message) = message else { break };
                    if ws.send(message).is_err() {
                        break;
                    }
                }
            }
            Err(e) => log::warn!("case {case}: {e}"),
        }
    }
    let reports = greenws::connect(format!("{url}/updateReports?agent={agent}"))?;
    while let Ok(Some(_)) = reports.receive() {}
    Ok(count)
}

/// The number of cases: one text message from `/getCaseCount`.
fn case_count(url: &str) -> greenws::Result<u32> {
    let ws = greenws::connect(format!("{url}/getCaseCount"))?;
    let count = match ws.receive()? {
        Some(Message::Text(text)) => text.trim().parse().ok(),
        _ => None,
    };
    while let Ok(Some(_)) = ws.receive() {}
    count.ok_or_else(|| {
        greenws::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "getCaseCount did not answer with a number",
        ))
    })
}
