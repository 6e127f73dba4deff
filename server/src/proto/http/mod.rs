//! HTTP/1.1 as sans-IO code: bytes in, decisions and bytes out.
//!
//! - [`head`]: parse a request head (bounded by [`Limits`](crate::Limits)) and
//!   decide how its body is framed.
//! - [`chunked`]: the chunked transfer coding, decoder and encoder.
//! - [`server`]: the server role: response framing, persistence, the
//!   `HEAD`/1xx/204/304 rules, `100 Continue`, the response head.
//! - [`client`]: the client role: write a request head, read a response
//!   head (bounded), decide how its body is framed, keep the first bytes
//!   of a body.

pub mod chunked;
pub mod client;
pub mod head;
pub mod server;

#[cfg(test)]
mod proptests;
