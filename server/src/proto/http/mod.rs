//! HTTP/1.1 as sans-IO code.
//!
//! - [`client`]: the client role: write a request head, read a response
//!   head (bounded), decide how its body is framed, keep the first bytes
//!   of a body.

pub mod client;
