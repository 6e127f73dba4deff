//! The two setups every workload runs in, and what each one models.

use benches::affinity::cpus_available;
use clap::ValueEnum;

/// How the servers and the load generator are placed on the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Setup {
    /// One worker thread per server, pinned to CPU 0; the generator on CPU 1.
    Isolated,
    /// Every server at its default worker count, nothing pinned.
    Defaults,
}

impl Setup {
    /// Both, in the order they run.
    pub const ALL: &'static [Setup] = &[Setup::Isolated, Setup::Defaults];

    pub fn name(self) -> &'static str {
        match self {
            Setup::Isolated => "isolated",
            Setup::Defaults => "defaults",
        }
    }

    /// What the setup models, in one line.
    pub fn models(self) -> &'static str {
        match self {
            Setup::Isolated => {
                "each server with one worker thread pinned to CPU 0 and the load generator pinned to \
                 CPU 1: what each server's code costs when nothing competes for its core"
            }
            Setup::Defaults => {
                "each server at its default worker count (one per CPU), unpinned, sharing the CPUs with \
                 the load generator, greenws with its access log as shipped: what a user gets from \
                 `cargo run --release` on a small machine"
            }
        }
    }

    /// The worker-count argument the servers get.
    pub fn workers_arg(self) -> &'static str {
        match self {
            Setup::Isolated => "1",
            Setup::Defaults => "default",
        }
    }

    /// The CPU the server is pinned to, if any.
    pub fn server_cpu(self) -> Option<usize> {
        match self {
            Setup::Isolated if cpus_available() >= 2 => Some(0),
            _ => None,
        }
    }

    /// The CPU the load generator (and wrk) is pinned to, if any.
    pub fn load_cpu(self) -> Option<usize> {
        match self {
            Setup::Isolated if cpus_available() >= 2 => Some(1),
            _ => None,
        }
    }
}
