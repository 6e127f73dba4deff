//! The HTTP/1.1 codec: pure functions over bytes, no sockets. The connection
//! loop feeds it what it reads and writes what it produces; it is public so
//! that it can be tested and fuzzed on its own.

pub mod chunked;
pub mod encode;
pub mod head;
