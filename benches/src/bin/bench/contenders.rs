//! The servers under test. Every one serves the same endpoints where it
//! can: `/test` (text), WebSocket `/echo`, and `/chat` (one room, every
//! message to every member).

use crate::setup::Setup;

/// greenws with its access log off (`RUST_LOG=warn`).
pub const GREENWS: &str = "greenws";
/// greenws with its access log as the demo and examples ship it (on,
/// stderr to a file).
pub const GREENWS_LOG: &str = "greenws +log";
/// hyper + tokio-tungstenite on tokio (hyper alone for HTTP).
pub const TOKIO: &str = "tokio-tungstenite";
/// hyper + fastwebsockets on tokio (hyper alone for HTTP).
pub const FASTWS: &str = "fastwebsockets";
/// may_minihttp: the HTTP ceiling on the same runtime.
pub const MINIHTTP: &str = "may_minihttp";
/// may + tungstenite, one coroutine per connection, no duplex.
pub const NAIVE_MAY: &str = "naive may";
/// gevent's pywsgi with gevent-websocket: the seed's own stack.
pub const GEVENT: &str = "gevent";

/// What starts a contender.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Program {
    /// A binary of this package (`target/release/NAME`), run as
    /// `NAME PORT WORKERS|default [CERT KEY]`.
    Bin(&'static str),
    /// `benches/gevent_server.py PORT` in the venv that run.sh prepares.
    Gevent,
}

/// A server under test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Contender {
    /// The column header.
    pub name: &'static str,
    pub program: Program,
    /// `RUST_LOG` for the server: `Some` sets it, `None` leaves it unset
    /// (the binary's own default).
    pub rust_log: Option<&'static str>,
    /// What it is, for the legend under the tables.
    pub about: &'static str,
}

/// Every contender, in column order.
pub const CONTENDERS: &[Contender] = &[
    Contender {
        name: GREENWS,
        program: Program::Bin("greenws-server"),
        rust_log: Some("warn"),
        about: "greenws, access log off (`RUST_LOG=warn`)",
    },
    Contender {
        name: GREENWS_LOG,
        program: Program::Bin("greenws-server"),
        rust_log: None,
        about: "greenws with the access log as shipped (on; stderr to a file, as a service's log would be)",
    },
    Contender {
        name: TOKIO,
        program: Program::Bin("tokio-server"),
        rust_log: None,
        about: "hyper 1 + tokio-tungstenite on tokio (HTTP rows: hyper alone)",
    },
    Contender {
        name: FASTWS,
        program: Program::Bin("fastws-server"),
        rust_log: None,
        about: "hyper 1 + fastwebsockets on tokio (HTTP rows: hyper alone)",
    },
    Contender {
        name: MINIHTTP,
        program: Program::Bin("minihttp-hello"),
        rust_log: None,
        about: "may_minihttp, the HTTP ceiling on the same runtime (answers `Hello, World!`)",
    },
    Contender {
        name: NAIVE_MAY,
        program: Program::Bin("may-naive-echo"),
        rust_log: None,
        about: "may + tungstenite's blocking API, one coroutine per connection",
    },
    Contender {
        name: GEVENT,
        program: Program::Gevent,
        rust_log: None,
        about: "gevent's pywsgi + gevent-websocket (one thread; TCP_NODELAY set like the others)",
    },
];

/// The contender called `name`.
pub fn contender(name: &str) -> &'static Contender {
    CONTENDERS
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no contender called {name:?}"))
}

impl Setup {
    /// greenws as this setup runs it where only one greenws runs: without
    /// the access log when isolated, as shipped with the defaults.
    pub fn greenws(self) -> &'static str {
        match self {
            Setup::Isolated => GREENWS,
            Setup::Defaults => GREENWS_LOG,
        }
    }

    /// The contenders of a workload in this setup: a workload that names
    /// [`GREENWS`] alone gets [`Setup::greenws`] instead.
    pub fn contenders_of(self, declared: &[&'static str]) -> Vec<&'static str> {
        let both = declared.contains(&GREENWS) && declared.contains(&GREENWS_LOG);
        declared
            .iter()
            .map(|&name| {
                if name == GREENWS && !both {
                    self.greenws()
                } else {
                    name
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greenws_runs_as_shipped_in_the_defaults_setup() {
        assert_eq!(
            Setup::Defaults.contenders_of(&[GREENWS, TOKIO]),
            [GREENWS_LOG, TOKIO]
        );
        assert_eq!(
            Setup::Isolated.contenders_of(&[GREENWS, TOKIO]),
            [GREENWS, TOKIO]
        );
        assert_eq!(
            Setup::Defaults.contenders_of(&[GREENWS, GREENWS_LOG]),
            [GREENWS, GREENWS_LOG],
            "where both run, both stay"
        );
    }

    #[test]
    fn every_name_is_a_contender() {
        for c in CONTENDERS {
            assert_eq!(contender(c.name), c);
        }
    }
}
