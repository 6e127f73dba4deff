//! The settings of permessage-deflate, for either role.

/// How one direction of a connection keeps LZ77 history ("context") from
/// one message to the next. More history compresses better, especially
/// small messages that resemble earlier ones, and costs memory per
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContextTakeover {
    /// Every message is compressed on its own (RFC 7692's
    /// `*_no_context_takeover`). Nothing is kept between messages: compressors
    /// come from a per-thread pool and decompressors are freed after each
    /// message, and a broadcast is compressed once for every receiver with
    /// the same settings.
    Off,
    /// History is kept between messages as the last 2^window_bits bytes of
    /// plaintext (at most 2 KiB with the default window), and fed to a
    /// fresh zlib stream as a preset dictionary when the next message
    /// starts. The ratio of a full context, the memory of a small buffer,
    /// and some CPU per message to load the dictionary (a few microseconds
    /// at 4 KiB, tens at 32 KiB).
    Retained,
    /// A zlib stream per connection, kept for its whole life: the best
    /// ratio and the least CPU per message, and the most memory (about
    /// 320 KiB to compress with a 32 KiB window, about 44 KiB to
    /// decompress, whatever the window).
    Dedicated,
}

/// permessage-deflate settings (RFC 7692), the same for a server and a
/// client. "Compress" is this endpoint's own messages, "decompress" the
/// peer's.
///
/// The defaults keep an idle connection small and the CPU per message low:
///
/// - this endpoint's messages keep no context (a server answers
///   `server_no_context_takeover`), so compressors are shared per thread,
///   nothing is kept per connection, and a broadcast is compressed once for
///   all receivers;
/// - the peer's messages keep 2 KiB of history where the peer lets its
///   window be limited (the server answers `client_max_window_bits=11`;
///   Chromium, Node's `ws` and Python's `websockets` offer this) and none
///   where it does not (Firefox: `client_no_context_takeover`);
/// - level 2, and messages under 256 bytes sent as they are.
///
/// Why, as measured (release build, zlib-rs 0.6; `deflate::measure` for
/// the codec, `benches/deflate.sh` for whole connections):
///
/// - Memory: the peer's history is almost all an idle connection keeps
///   for compression. 10 000 idle connections that exchanged ten 4 KiB
///   JSON messages with Chromium's offer hold 13.2 KiB resident each with
///   these defaults, 10.8 KiB without compression (2.4 KiB more: the
///   2 KiB history and the codec's bookkeeping); a 4 KiB history would add
///   2 KiB more, and [`prefer_ratio`](Self::prefer_ratio) holds about
///   420 KiB of heap. Firefox's offer (no history) adds 0.4 KiB.
/// - The peer's ratio: Chromium compresses at level 6 with the window the
///   server names. With 2 KiB of context it sends 19.7% of 4 KiB
///   market-data JSON whose values change and 20.7% of 100-byte chat
///   messages; with 4 KiB, 20.1% and 18.8%; with 1 KiB, 31.2% and 22.4% (a
///   window that small also cuts matches within a 4 KiB message); with
///   none, 26.9% and 83.5%.
/// - This side's level: on the same 4 KiB JSON without context, level 2
///   sends 28.4% of the bytes for 27 us of CPU per message; level 3 27.6%
///   for 32 us, level 6 26.9% for 37 us, level 1 37.3% for 13 us. A
///   dedicated stream with context sends 21.4% at level 2 for 23 us, at
///   375 KiB per connection.
/// - The threshold: under 256 bytes, compressing a message on its own saves
///   at most a quarter of it and costs about 6 us, mostly resetting zlib's
///   128 KiB hash table; from 256 bytes up it saves about half or more.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    enabled: bool,
    threshold: usize,
    level: u32,
    compress_window_bits: u8,
    decompress_window_bits: u8,
    compress_context: ContextTakeover,
    decompress_context: ContextTakeover,
}

impl Default for DeflateConfig {
    /// Compression on; messages under 256 bytes sent as they are; level 2;
    /// this endpoint compresses with a 32 KiB window and no context; the
    /// peer keeps a 2 KiB window of context where it allows it.
    fn default() -> Self {
        DeflateConfig {
            enabled: true,
            threshold: 256,
            level: 2,
            compress_window_bits: 15,
            decompress_window_bits: 11,
            compress_context: ContextTakeover::Off,
            decompress_context: ContextTakeover::Retained,
        }
    }
}

impl DeflateConfig {
    /// The defaults (see [`Default`](#impl-Default-for-DeflateConfig)).
    pub fn new() -> Self {
        Self::default()
    }

    /// Compression off: the extension is never offered nor accepted.
    pub fn disabled() -> Self {
        DeflateConfig {
            enabled: false,
            ..Self::default()
        }
    }

    /// Ratio over memory: full 32 KiB windows and a dedicated zlib stream
    /// per connection in both directions. Each connection then holds about
    /// 420 KiB of heap (360 KiB resident) once it has sent and received a
    /// compressed message, and a broadcast is compressed once per receiver.
    pub fn prefer_ratio(self) -> Self {
        DeflateConfig {
            compress_window_bits: 15,
            decompress_window_bits: 15,
            compress_context: ContextTakeover::Dedicated,
            decompress_context: ContextTakeover::Dedicated,
            ..self
        }
    }

    /// Turns the extension on or off.
    pub fn enabled(mut self, enabled: bool) -> Self {
        self.enabled = enabled;
        self
    }

    /// Messages shorter than this many bytes are sent uncompressed (RSV1 is
    /// per message); compressing them costs more CPU than it saves bytes.
    pub fn threshold(mut self, bytes: usize) -> Self {
        self.threshold = bytes;
        self
    }

    /// zlib's compression level, 1 (fastest) to 9 (smallest).
    ///
    /// # Panics
    /// If `level` is not in 1..=9.
    pub fn level(mut self, level: u32) -> Self {
        assert!(
            (1..=9).contains(&level),
            "the compression level is 1..=9, not {level}"
        );
        self.level = level;
        self
    }

    /// The largest LZ77 window this endpoint compresses with, as the base-2
    /// logarithm of its size (8..=15); the peer may ask for less. A window
    /// of 8 is compressed with zlib's 9, whose matches never reach further
    /// back than 250 bytes.
    ///
    /// # Panics
    /// If `bits` is not in 8..=15.
    pub fn compress_window_bits(mut self, bits: u8) -> Self {
        assert_window_bits(bits);
        self.compress_window_bits = bits;
        self
    }

    /// The largest LZ77 window the peer may compress with, when the peer
    /// lets it be limited (base-2 logarithm, 8..=15). With
    /// [`ContextTakeover::Retained`] it is also the history kept per
    /// connection: a peer that does not let its window be limited this far
    /// is asked to keep no context instead.
    ///
    /// # Panics
    /// If `bits` is not in 8..=15.
    pub fn decompress_window_bits(mut self, bits: u8) -> Self {
        assert_window_bits(bits);
        self.decompress_window_bits = bits;
        self
    }

    /// How this endpoint's own messages keep context.
    pub fn compress_context(mut self, context: ContextTakeover) -> Self {
        self.compress_context = context;
        self
    }

    /// How the peer's messages keep context.
    pub fn decompress_context(mut self, context: ContextTakeover) -> Self {
        self.decompress_context = context;
        self
    }

    /// Whether the extension is offered or accepted.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// See [`threshold`](Self::threshold).
    pub fn compression_threshold(&self) -> usize {
        self.threshold
    }

    /// See [`level`](Self::level).
    pub fn compression_level(&self) -> u32 {
        self.level
    }

    /// See [`compress_window_bits`](Self::compress_window_bits).
    pub fn max_compress_window_bits(&self) -> u8 {
        self.compress_window_bits
    }

    /// See [`decompress_window_bits`](Self::decompress_window_bits).
    pub fn max_decompress_window_bits(&self) -> u8 {
        self.decompress_window_bits
    }

    /// See [`compress_context`](Self::compress_context).
    pub fn compress_context_takeover(&self) -> ContextTakeover {
        self.compress_context
    }

    /// See [`decompress_context`](Self::decompress_context).
    pub fn decompress_context_takeover(&self) -> ContextTakeover {
        self.decompress_context
    }
}

fn assert_window_bits(bits: u8) {
    assert!(
        (8..=15).contains(&bits),
        "window bits are 8..=15, not {bits}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_each_field() {
        let config = DeflateConfig::new()
            .threshold(512)
            .level(6)
            .compress_window_bits(10)
            .decompress_window_bits(9)
            .compress_context(ContextTakeover::Retained)
            .decompress_context(ContextTakeover::Off);
        assert!(config.is_enabled());
        assert_eq!(config.compression_threshold(), 512);
        assert_eq!(config.compression_level(), 6);
        assert_eq!(config.max_compress_window_bits(), 10);
        assert_eq!(config.max_decompress_window_bits(), 9);
        assert_eq!(
            config.compress_context_takeover(),
            ContextTakeover::Retained
        );
        assert_eq!(config.decompress_context_takeover(), ContextTakeover::Off);
        assert!(!DeflateConfig::disabled().is_enabled());
        assert!(DeflateConfig::disabled().enabled(true).is_enabled());
    }

    #[test]
    fn prefer_ratio_keeps_full_windows_and_streams() {
        let config = DeflateConfig::new().level(9).prefer_ratio();
        assert_eq!(config.compression_level(), 9);
        assert_eq!(config.max_decompress_window_bits(), 15);
        assert_eq!(
            config.compress_context_takeover(),
            ContextTakeover::Dedicated
        );
        assert_eq!(
            config.decompress_context_takeover(),
            ContextTakeover::Dedicated
        );
    }

    #[test]
    #[should_panic(expected = "window bits are 8..=15, not 16")]
    fn window_bits_over_15_are_refused() {
        let _ = DeflateConfig::new().compress_window_bits(16);
    }

    #[test]
    #[should_panic(expected = "window bits are 8..=15, not 7")]
    fn window_bits_under_8_are_refused() {
        let _ = DeflateConfig::new().decompress_window_bits(7);
    }

    #[test]
    #[should_panic(expected = "the compression level is 1..=9, not 0")]
    fn level_0_is_refused() {
        let _ = DeflateConfig::new().level(0);
    }
}
