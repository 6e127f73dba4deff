//! permessage-deflate (RFC 7692): negotiation and the message codec, with
//! no I/O.
//!
//! - [`negotiate_as_server`] / [`client_offer`] + [`negotiate_as_client`]
//!   turn `Sec-WebSocket-Extensions` values into an [`Agreement`]: the
//!   response header and, for each direction, the window and how context
//!   is kept ([`Direction`]).
//! - [`Deflater`] compresses this endpoint's messages whole;
//!   [`CompressedForms`] compresses a broadcast once per distinct setting.
//! - [`Inflater`] decompresses the peer's messages frame by frame, never
//!   holding more than the message limit.
//!
//! # Memory, and the defaults
//!
//! A zlib-rs compressor holds about 320 KiB (window 15) and a decompressor
//! about 44 KiB whatever its window, so ten thousand connections that each
//! kept both would hold 3.6 GB. By default ([`DeflateConfig::default`]):
//!
//! - this endpoint's messages keep no context (the server answers
//!   `server_no_context_takeover`, which RFC 7692 section 7.1.1.1 allows
//!   unasked): compressors come from a small per-thread pool and hold
//!   nothing per connection, and a broadcast is compressed once;
//! - the peer's messages keep a 2 KiB window of history when the peer lets
//!   its window be limited (`client_max_window_bits=11`, which Chromium,
//!   Safari and Python's `websockets` allow) and none otherwise (Firefox
//!   then gets `client_no_context_takeover`); the decompressor exists only
//!   while a message arrives, and the history is loaded into it as a
//!   preset dictionary.
//!
//! Context also decides what compression can leak: an attacker who
//! controls part of a message and sees its compressed size can guess
//! secrets compressed with it (CRIME, BREACH). Without context that is
//! limited to one message; the pooled compressors are reset before every
//! use, so nothing crosses from one connection to another.
//!
//! The threshold (256 bytes), the level (2) and these choices come from
//! the measurements in `measure.rs` and `benches/deflate.sh` (figures in
//! [`DeflateConfig`]'s docs); [`DeflateConfig::prefer_ratio`] keeps full
//! zlib streams instead.
//!
//! The codec runs on a stack of the worker thread, not the greenlet's
//! (`crate::scratch_stack`): zlib's 8 KiB of stack would otherwise stay
//! resident in every greenlet that compressed or decompressed once.
//!
//! # Wiring
//!
//! The server's handshake negotiates (`websocket/upgrade.rs`, the answer in
//! the 101); the socket then gets an [`Inflater`] as the decoder's
//! [`MessageDecompressor`](crate::proto::websocket::MessageDecompressor)
//! (RSV1 on the first frame of a data message, limits on the decompressed
//! size) and a [`Deflater`] in its writer (RSV1 on the frame of each
//! compressed message, control frames never); a `PreparedMessage` keeps
//! its [`CompressedForms`].

mod config;
mod deflater;
mod extensions;
mod history;
mod inflater;
mod negotiation;
mod prepared;

#[cfg(test)]
mod measure;
#[cfg(test)]
mod samples;
#[cfg(test)]
mod tests;

pub use config::{ContextTakeover, DeflateConfig};
pub(crate) use deflater::{CompressError, Deflater};
#[cfg(test)]
use inflater::InflateError;
pub(crate) use inflater::Inflater;
#[cfg(test)]
use negotiation::Direction;
// The client's side of the negotiation: the WebSocket client
// (`greenws::connect`) offers `client_offer` and checks the 101 with
// `negotiate_as_client`.
pub use negotiation::NegotiationError;
pub(crate) use negotiation::{client_offer, negotiate_as_client};
pub(crate) use negotiation::{negotiate_as_server, Agreement, DeflateParams};
pub(crate) use prepared::{Compressed, CompressedForms};
