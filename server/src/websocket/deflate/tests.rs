//! The codec against itself, against a fresh flate2 stream, against C zlib
//! (samples captured from CPython's `zlib` 1.2.13, which Python's
//! `websockets` uses), against RFC 7692's examples, and against hostile
//! input.

use std::sync::Arc;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};

use super::deflater::SYNC_FLUSH_TAIL;
use super::samples::{chat_json, market_json, plot_line, Rng};
use super::*;
use crate::proto::websocket::{CloseCode, ProtocolError};

const OFF: ContextTakeover = ContextTakeover::Off;
const RETAINED: ContextTakeover = ContextTakeover::Retained;
const DEDICATED: ContextTakeover = ContextTakeover::Dedicated;

fn direction(window_bits: u8, context: ContextTakeover) -> Direction {
    Direction {
        window_bits,
        context,
    }
}

fn hex(text: &str) -> Vec<u8> {
    data_encoding::HEXLOWER.decode(text.as_bytes()).unwrap()
}

/// Decompresses one whole message fed in `pieces`.
fn inflate_pieces(
    inflater: &mut Inflater,
    pieces: &[&[u8]],
    limit: usize,
) -> Result<Vec<u8>, InflateError> {
    let mut out = Vec::new();
    for piece in pieces {
        inflater.decompress(piece, &mut out, limit)?;
    }
    inflater.finish_message(&mut out, limit)?;
    Ok(out)
}

fn inflate(inflater: &mut Inflater, payload: &[u8]) -> Vec<u8> {
    inflate_pieces(inflater, &[payload], usize::MAX).unwrap()
}

/// What an independent peer sends: a flate2 stream it keeps (context
/// takeover), sync-flushed, tail removed.
fn peer_compress(compress: &mut Compress, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    let start = compress.total_in();
    loop {
        let consumed = (compress.total_in() - start) as usize;
        compress
            .compress_vec(&message[consumed..], &mut out, FlushCompress::Sync)
            .unwrap();
        if compress.total_in() - start == message.len() as u64 && out.len() < out.capacity() {
            break;
        }
        out.reserve(out.capacity());
    }
    assert!(out.ends_with(&SYNC_FLUSH_TAIL));
    out.truncate(out.len() - 4);
    out
}

/// What an independent peer receives: the tail put back, decompressed by a
/// flate2 stream it keeps.
fn peer_decompress(decompress: &mut Decompress, payload: &[u8]) -> Vec<u8> {
    let mut input = payload.to_vec();
    input.extend_from_slice(&SYNC_FLUSH_TAIL);
    let mut out = Vec::with_capacity(64 * 1024);
    let start = decompress.total_in();
    loop {
        let consumed = (decompress.total_in() - start) as usize;
        decompress
            .decompress_vec(&input[consumed..], &mut out, FlushDecompress::Sync)
            .unwrap();
        if decompress.total_in() - start == input.len() as u64 && out.len() < out.capacity() {
            return out;
        }
        out.reserve(out.capacity());
    }
}

// RFC 7692 section 7.2.3.

#[test]
fn rfc_hello_in_one_frame_and_in_two() {
    let mut inflater = Inflater::new(direction(15, OFF));
    assert_eq!(inflate(&mut inflater, &hex("f248cdc9c90700")), b"Hello");
    let fragments: [&[u8]; 2] = [&hex("f248cd"), &hex("c9c90700")];
    assert_eq!(
        inflate_pieces(&mut inflater, &fragments, 5).unwrap(),
        b"Hello"
    );
}

#[test]
fn rfc_second_hello_refers_to_the_first_with_context_only() {
    for context in [RETAINED, DEDICATED] {
        let mut inflater = Inflater::new(direction(15, context));
        assert_eq!(inflate(&mut inflater, &hex("f248cdc9c90700")), b"Hello");
        assert_eq!(
            inflate(&mut inflater, &hex("f200110000")),
            b"Hello",
            "{context:?}"
        );
    }
    // Without context the back-reference points at nothing.
    let mut inflater = Inflater::new(direction(15, OFF));
    assert_eq!(inflate(&mut inflater, &hex("f248cdc9c90700")), b"Hello");
    assert!(matches!(
        inflate_pieces(&mut inflater, &[&hex("f200110000")], 100),
        Err(InflateError::Corrupt(_))
    ));
}

#[test]
fn rfc_stored_block_bfinal_block_and_two_blocks() {
    for context in [OFF, RETAINED, DEDICATED] {
        let mut inflater = Inflater::new(direction(15, context));
        for payload in [
            "0005 00faff48656c6c6f00",
            "f348cdc9c9070000",
            "f24805000000ffffcac9c90700",
            // C zlib with Z_FINISH: a final block and nothing after it.
            "f348cdc9c90700",
        ] {
            let payload = hex(&payload.replace(" ", ""));
            assert_eq!(
                inflate(&mut inflater, &payload),
                b"Hello",
                "{context:?} {payload:x?}"
            );
        }
        // The history goes on across a final block.
        if context != OFF {
            assert_eq!(
                inflate(&mut inflater, &hex("f200110000")),
                b"Hello",
                "{context:?}"
            );
        }
    }
}

#[test]
fn empty_messages() {
    let mut inflater = Inflater::new(direction(15, RETAINED));
    // No payload at all, the stripped empty stored block, a static block.
    for payload in ["", "00", "0200"] {
        assert_eq!(inflate(&mut inflater, &hex(payload)), b"", "{payload}");
    }
    let mut deflater = Deflater::new(
        direction(15, DEDICATED),
        &DeflateConfig::default().threshold(0),
    );
    let compressed = deflater.compress(b"").unwrap().unwrap();
    assert_eq!(
        inflate(&mut Inflater::new(direction(15, OFF)), &compressed),
        b""
    );
}

// C zlib (CPython 3.11, zlib 1.2.13): compressobj(6, DEFLATED, -wbits,
// memLevel), compress + flush(Z_SYNC_FLUSH), tail removed; one stream kept
// across the messages of each sample (context takeover).

#[test]
fn decodes_c_zlib_chat_messages_with_context() {
    let messages: [&[u8]; 3] = [
        br#"{"type":"chat","room":"lobby","user":"alice","text":"Hello, everyone! How are you today?"}"#,
        br#"{"type":"chat","room":"lobby","user":"bob","text":"Hello alice! Fine, thanks. How are you today?"}"#,
        br#"{"type":"chat","room":"lobby","user":"alice","text":"Great! Hello, everyone, again."}"#,
    ];
    let payloads = [
        "0cc7c10d80200c05d0556acf4ce0c52b6b00fe4413b4068bda1877b7eff65e563bc023972529076e229baf4acee6ed279a37d5b5c0ab78d41b51ab04c28566b263a02837a50632e9a432279bf8fb01",
        "aa26cae4a4fc24347315c096292ab865e6a5ea28946424e66517eb61b50100",
        "22ce0634b7bb17a52696005d8cea051d85c4f4c4cc3c3da55a0000",
    ];
    // wbits 12, memLevel 5: Python websockets' own server settings.
    for context in [RETAINED, DEDICATED] {
        let mut inflater = Inflater::new(direction(12, context));
        for (message, payload) in messages.iter().zip(payloads) {
            assert_eq!(
                inflate(&mut inflater, &hex(payload)),
                *message,
                "{context:?}"
            );
        }
    }
}

/// Node 20.20's zlib (1.3.1, Chromium's fork), the way Node's `ws` uses it:
/// `createDeflateRaw({ windowBits: 15, level: 6, memLevel: 8 })` kept
/// across messages, `flush(Z_SYNC_FLUSH)` after each, tail removed.
#[test]
fn decodes_node_zlib_chat_messages_with_context() {
    let messages: [&[u8]; 3] = [
        br#"{"type":"chat","room":"lobby","user":"alice","text":"Hello, everyone! How are you today?"}"#,
        br#"{"type":"chat","room":"lobby","user":"bob","text":"Hello alice! Fine, thanks. How are you today?"}"#,
        br#"{"type":"chat","room":"lobby","user":"alice","text":"Great! Hello, everyone, again."}"#,
    ];
    let payloads = [
        "04c1410e80200c04c0afd43df3022e5efd06e0269aa03558d4c6f877675e981f4444599221a0a96e88a89ab323a09f6c8848752d4480f131444cac5583f06273dd39c8a4b7a44671ed623a271ff1fd00",
        "aa26cae4a4fc24347315c096292ab865e6a5ea28946424e66517eb61b50100",
        "22ce0634b7bb17a52696282aa079414721313d31334f4fa91600",
    ];
    for context in [RETAINED, DEDICATED] {
        let mut inflater = Inflater::new(direction(15, context));
        for (message, payload) in messages.iter().zip(payloads) {
            assert_eq!(
                inflate(&mut inflater, &hex(payload)),
                *message,
                "{context:?}"
            );
        }
    }
}

/// Forty numbered lines; C zlib's second message below refers into the
/// first, up to its 1 KiB window back.
fn fox_lines(seed: usize) -> Vec<u8> {
    (0..40)
        .map(|i| {
            format!(
                "{i}: the quick brown fox jumps over {} lazy dogs\n",
                (i * seed) % 13
            )
        })
        .collect::<String>()
        .into_bytes()
}

const FOX_WINDOW_10: [&str; 2] = [
    "84d2c71102410c44d13b5128841d89756483593c2cde45cfb575faf7aea91abd5fcdecb11decfadc2d0fb6b88defb3adc78fed9fa7cbddc6d770b3ca8ef3dfd756e3e63e29b86e65edb82eb20e5c77b29ee2da655de3ba977583eb9075cbbfd41376389fcabae7c7f586a5c27dad73f62c7ac6c2a28dce9934c5c5a65a5761d4741a56d5be0ab3a6cb30ab1656d8551373664d8d39bb6a64ceaca9326757adccd93555e60cab9539c3a6db30ac56e60c9b4ec3b05a5930ac5e26d8552b0b76d5ca82595365c1ae5a59306baa2cd8552b0b764d9505c36a65c1b07a9b3f00",
    "94d2b10dc0000803c199b08b64ffc9d23ed5931e5942f7eeca6b67e5a7aeba997e25e6a60fae0fa41c775106e3a08cdd3919976b127f9c73a53b0e5a9ebbe8cb73175d713929eb9a83e99a77542630aecac0e6c0bae61d9689c561d958dc9519c45d5959dc755516876565715856167765067157569683eb9a775766507765653db8ae798765657558565677650675575656775d95d56159591d9695d55d99c107",
];

#[test]
fn decodes_c_zlib_with_a_1_kib_window_frame_by_frame() {
    let first = hex(FOX_WINDOW_10[0]);
    let second = hex(FOX_WINDOW_10[1]);
    // Retained history is exactly the agreed 1 KiB; every split of the
    // second message into two frames decodes the same.
    for split in 0..=second.len() {
        let mut inflater = Inflater::new(direction(10, RETAINED));
        assert_eq!(inflate(&mut inflater, &first), fox_lines(7));
        let pieces: [&[u8]; 2] = [&second[..split], &second[split..]];
        assert_eq!(
            inflate_pieces(&mut inflater, &pieces, usize::MAX).unwrap(),
            fox_lines(5),
            "split at {split}"
        );
    }
}

#[test]
fn a_peer_that_reaches_past_the_agreed_window_is_refused() {
    // The peer compresses with a 1 KiB window; its second message repeats
    // the start of the first, 700 bytes back (zlib reaches at most
    // 1024 - 262 bytes back with this window).
    let mut rng = Rng::new(17);
    let first = rng.bytes(700);
    let second = first[..200].to_vec();
    let mut peer = Compress::new_with_window_bits(Compression::new(6), false, 10);
    let payloads = [
        peer_compress(&mut peer, &first),
        peer_compress(&mut peer, &second),
    ];
    assert!(
        payloads[1].len() < 20,
        "the second message is a back-reference"
    );
    // The agreed 1 KiB window decodes it.
    let mut inflater = Inflater::new(direction(10, RETAINED));
    assert_eq!(inflate(&mut inflater, &payloads[0]), first);
    assert_eq!(inflate(&mut inflater, &payloads[1]), second);
    // Had 512 bytes been agreed, the history ends before the reference.
    let mut inflater = Inflater::new(direction(9, RETAINED));
    assert_eq!(inflate(&mut inflater, &payloads[0]), first);
    let error = inflate_pieces(&mut inflater, &[&payloads[1]], usize::MAX).unwrap_err();
    assert!(
        matches!(&error, InflateError::Corrupt(why) if why.contains("too far back")),
        "{error}"
    );
    assert_eq!(
        ProtocolError::from(error).close_code(),
        CloseCode::PROTOCOL_ERROR
    );
    // And the inflater stays failed.
    assert!(inflater.decompress(b"", &mut Vec::new(), 10).is_err());
}

// Round trips with independent flate2 streams, for every context and a
// range of windows.

#[test]
fn our_messages_decode_with_a_fresh_flate2_stream_kept_by_the_peer() {
    for context in [OFF, RETAINED, DEDICATED] {
        for bits in [8, 9, 12, 15] {
            for level in [1, 9] {
                let config = DeflateConfig::default().level(level).threshold(64);
                let mut deflater = Deflater::new(direction(bits, context), &config);
                let mut peer = Decompress::new_with_window_bits(false, bits.max(9));
                let mut rng = Rng::new(u64::from(bits) * 100 + u64::from(level));
                let mut compressed = 0;
                for seq in 0..30 {
                    let message = match seq % 3 {
                        0 => market_json(seq, &mut rng),
                        1 => chat_json(seq, &mut rng),
                        _ => plot_line(seq, &mut rng),
                    };
                    match deflater.compress(&message).unwrap() {
                        // RSV1 clear: the peer does not decompress it.
                        None => assert!(context != DEDICATED || message.len() < 64),
                        Some(payload) => {
                            compressed += 1;
                            if context == OFF {
                                peer = Decompress::new_with_window_bits(false, bits.max(9));
                            }
                            assert_eq!(
                                peer_decompress(&mut peer, &payload),
                                message,
                                "{context:?} {bits} {level} {seq}"
                            );
                        }
                    }
                }
                assert!(compressed >= 10, "{context:?} {bits} {level}: {compressed}");
            }
        }
    }
}

#[test]
fn peer_messages_from_a_flate2_stream_decode_in_any_framing() {
    for context in [OFF, RETAINED, DEDICATED] {
        for bits in [9, 12, 15] {
            let mut inflater = Inflater::new(direction(bits, context));
            let mut peer = Compress::new_with_window_bits(Compression::new(6), false, bits);
            let mut rng = Rng::new(u64::from(bits));
            for seq in 0..30 {
                if context == OFF {
                    peer.reset();
                }
                let message = if seq % 2 == 0 {
                    market_json(seq, &mut rng)
                } else {
                    chat_json(seq, &mut rng)
                };
                let payload = peer_compress(&mut peer, &message);
                let frame = 1 + (seq as usize * 37) % 500;
                let pieces: Vec<&[u8]> = payload.chunks(frame).collect();
                assert_eq!(
                    inflate_pieces(&mut inflater, &pieces, message.len()).unwrap(),
                    message,
                    "{context:?} {bits} {seq}"
                );
            }
        }
    }
}

#[test]
fn every_split_into_two_and_three_frames_decodes_the_same() {
    let mut rng = Rng::new(7);
    let message = market_json(1, &mut rng);
    let payload = Deflater::new(direction(15, OFF), &DeflateConfig::default())
        .compress(&message)
        .unwrap()
        .unwrap();
    for first in 0..=payload.len() {
        let mut inflater = Inflater::new(direction(15, OFF));
        let pieces = [&payload[..first], &payload[first..]];
        assert_eq!(
            inflate_pieces(&mut inflater, &pieces, message.len()).unwrap(),
            message,
            "{first}"
        );
    }
    for first in (0..=payload.len()).step_by(13) {
        for second in (first..=payload.len()).step_by(11) {
            let mut inflater = Inflater::new(direction(15, OFF));
            let pieces = [
                &payload[..first],
                &payload[first..second],
                &payload[second..],
            ];
            assert_eq!(
                inflate_pieces(&mut inflater, &pieces, message.len()).unwrap(),
                message,
                "{first} {second}"
            );
        }
    }
}

// Limits and bombs.

/// A raw deflate stream of `gib` GiB of zeros, built without compressing
/// them all: after the first MiB, every further MiB compresses to the same
/// bytes (matches one byte back into zeros).
fn zero_bomb(mib: usize) -> Vec<u8> {
    let mut compress = Compress::new(Compression::new(9), false);
    let zeros = vec![0u8; 1 << 20];
    let mut first = peer_compress(&mut compress, &zeros);
    first.extend_from_slice(&SYNC_FLUSH_TAIL);
    let mut next = peer_compress(&mut compress, &zeros);
    next.extend_from_slice(&SYNC_FLUSH_TAIL);
    let mut bomb = first;
    for _ in 1..mib {
        bomb.extend_from_slice(&next);
    }
    bomb
}

#[test]
fn the_zero_bomb_is_what_it_claims() {
    let bomb = zero_bomb(3);
    let mut inflater = Inflater::new(direction(15, OFF));
    let out = inflate_pieces(&mut inflater, &[&bomb], usize::MAX).unwrap();
    assert_eq!(out.len(), 3 << 20);
    assert!(out.iter().all(|&b| b == 0));
}

#[test]
fn a_1_gib_bomb_in_1_kib_frames_stops_at_the_limit_without_growing_past_it() {
    let bomb = zero_bomb(1024);
    assert!(bomb.len() < 2 << 20, "{} bytes", bomb.len());
    let limit = 1 << 20;
    let mut inflater = Inflater::new(direction(15, RETAINED));
    let mut out = Vec::new();
    let mut fed = 0;
    let error = bomb
        .chunks(1024)
        .find_map(|frame| {
            fed += frame.len();
            inflater.decompress(frame, &mut out, limit).err()
        })
        .expect("the bomb is refused");
    assert_eq!(error, InflateError::TooLarge { limit });
    assert_eq!(
        ProtocolError::from(error.clone()).close_code(),
        CloseCode::MESSAGE_TOO_BIG
    );
    assert_eq!(out.len(), limit);
    assert!(out.capacity() <= limit, "capacity {}", out.capacity());
    // It stopped at the limit, not at the end of the bomb.
    assert!(fed <= 4 * 1024, "fed {fed} bytes");
}

#[test]
fn the_limit_holds_even_when_the_buffer_is_larger() {
    let mut rng = Rng::new(3);
    let message = market_json(0, &mut rng);
    let payload = Deflater::new(direction(15, OFF), &DeflateConfig::default())
        .compress(&message)
        .unwrap()
        .unwrap();
    let limit = message.len() - 1;
    let mut out = Vec::with_capacity(2 * message.len());
    let mut inflater = Inflater::new(direction(15, OFF));
    let result = inflater
        .decompress(&payload, &mut out, limit)
        .and_then(|()| inflater.finish_message(&mut out, limit));
    assert_eq!(result, Err(InflateError::TooLarge { limit }));
    assert_eq!(out.len(), limit);
}

#[test]
fn a_message_of_exactly_the_limit_passes_and_one_byte_more_fails() {
    let mut rng = Rng::new(11);
    let message = market_json(0, &mut rng);
    let payload = Deflater::new(direction(15, OFF), &DeflateConfig::default())
        .compress(&message)
        .unwrap()
        .unwrap();
    let n = message.len();
    for (limit, ok) in [(n - 1, false), (n, true), (n + 1, true)] {
        for frame in [1, 100, payload.len()] {
            let pieces: Vec<&[u8]> = payload.chunks(frame).collect();
            let result = inflate_pieces(&mut Inflater::new(direction(15, OFF)), &pieces, limit);
            assert_eq!(result.is_ok(), ok, "limit {limit}, frames of {frame}");
            if let Ok(out) = result {
                assert_eq!(out, message);
            }
        }
    }
    // A limit of zero still lets an empty message through.
    assert_eq!(
        inflate_pieces(&mut Inflater::new(direction(15, OFF)), &[&hex("00")], 0),
        Ok(vec![])
    );
}

#[test]
fn garbage_is_refused_without_panicking() {
    let mut rng = Rng::new(99);
    let mut refused = 0;
    for len in 1..200 {
        let garbage = rng.bytes(len);
        let mut inflater = Inflater::new(direction(15, RETAINED));
        match inflate_pieces(&mut inflater, &[&garbage], 1 << 16) {
            Err(InflateError::Corrupt(_)) | Err(InflateError::TooLarge { .. }) => refused += 1,
            Ok(_) => {}
        }
    }
    assert!(refused > 150, "only {refused} of 199 refused");
    // BTYPE 11 is reserved.
    let error =
        inflate_pieces(&mut Inflater::new(direction(15, OFF)), &[&[0x07]], 100).unwrap_err();
    assert!(matches!(error, InflateError::Corrupt(_)));
}

// The compressor's own rules.

#[test]
fn a_window_of_8_never_matches_further_back_than_256_bytes() {
    // 300 random bytes twice: only a match 300 back could shrink it.
    let mut rng = Rng::new(5);
    let block = rng.bytes(300);
    let twice = [block.clone(), block].concat();
    let config = DeflateConfig::default().level(9);
    let compressed = |bits| {
        Deflater::new(direction(bits, DEDICATED), &config)
            .compress(&twice)
            .unwrap()
            .unwrap()
            .len()
    };
    assert!(compressed(8) > 590, "window 8: {}", compressed(8));
    assert!(compressed(10) < 350, "window 10: {}", compressed(10));
}

#[test]
fn small_or_incompressible_messages_go_out_as_they_are() {
    let config = DeflateConfig::default().threshold(100);
    let mut rng = Rng::new(8);
    for context in [OFF, RETAINED] {
        let mut deflater = Deflater::new(direction(15, context), &config);
        assert_eq!(deflater.compress(&[b'a'; 99]).unwrap(), None);
        assert!(deflater.compress(&[b'a'; 100]).unwrap().is_some());
        assert_eq!(
            deflater.compress(&rng.bytes(4096)).unwrap(),
            None,
            "{context:?}"
        );
    }
    // A dedicated stream took the data in: it must send it compressed.
    let mut deflater = Deflater::new(direction(15, DEDICATED), &config);
    let random = rng.bytes(4096);
    let payload = deflater.compress(&random).unwrap().unwrap();
    assert_eq!(
        peer_decompress(&mut Decompress::new(false), &payload),
        random
    );
}

#[test]
fn retained_history_matches_what_the_peer_kept() {
    // Uncompressed messages are not in the peer's window: the history
    // must skip them too, or the next message refers to the wrong bytes.
    let config = DeflateConfig::default().threshold(50);
    let mut deflater = Deflater::new(direction(10, RETAINED), &config);
    let mut peer = Decompress::new_with_window_bits(false, 10);
    let mut rng = Rng::new(21);
    for seq in 0..200 {
        let message = match seq % 4 {
            0 => rng.bytes(60),
            1 => chat_json(seq, &mut rng),
            2 => plot_line(seq, &mut rng),
            _ => market_json(seq, &mut rng),
        };
        if let Some(payload) = deflater.compress(&message).unwrap() {
            assert_eq!(peer_decompress(&mut peer, &payload), message, "{seq}");
        }
    }
    assert_eq!(deflater.retained_bytes(), 1024);
}

#[test]
fn retained_context_compresses_like_a_dedicated_stream() {
    let mut rng = Rng::new(4);
    let messages: Vec<Vec<u8>> = (0..20).map(|seq| chat_json(seq, &mut rng)).collect();
    let config = DeflateConfig::default().threshold(0);
    let total = |context| {
        let mut deflater = Deflater::new(direction(12, context), &config);
        messages
            .iter()
            .map(|m| deflater.compress(m).unwrap().map_or(m.len(), |c| c.len()))
            .sum::<usize>()
    };
    let (off, retained, dedicated) = (total(OFF), total(RETAINED), total(DEDICATED));
    assert!(retained * 10 < off * 8, "retained {retained}, off {off}");
    assert!(
        retained.abs_diff(dedicated) * 20 < dedicated,
        "retained {retained}, dedicated {dedicated}"
    );
}

#[test]
fn inflater_keeps_only_the_history_between_messages() {
    let mut rng = Rng::new(6);
    let config = DeflateConfig::default();
    let mut peer = Deflater::new(direction(12, DEDICATED), &config);
    for (context, expected) in [(OFF, 0), (RETAINED, 4096)] {
        let mut inflater = Inflater::new(direction(12, context));
        for seq in 0..3 {
            let message = market_json(seq, &mut rng);
            let payload = peer.compress(&message).unwrap().unwrap();
            let mut out = Vec::new();
            inflater.decompress(&payload, &mut out, usize::MAX).unwrap();
            assert!(inflater.in_message());
            inflater.finish_message(&mut out, usize::MAX).unwrap();
            assert!(!inflater.in_message());
            if context == OFF {
                peer = Deflater::new(direction(12, DEDICATED), &config);
            }
        }
        assert_eq!(inflater.retained_bytes(), expected, "{context:?}");
    }
}

// Broadcasts.

#[test]
fn a_broadcast_is_compressed_once_per_setting() {
    let mut rng = Rng::new(12);
    let message = market_json(0, &mut rng);
    let prepared = CompressedForms::default();
    let default = DeflateConfig::default();
    let mut members: Vec<Deflater> = (0..5)
        .map(|_| Deflater::new(direction(15, OFF), &default))
        .collect();
    let sent: Vec<Compressed> = members
        .iter_mut()
        .map(|deflater| {
            prepared
                .compressed_for(&message, deflater)
                .unwrap()
                .unwrap()
        })
        .collect();
    let Compressed::Shared(first) = &sent[0] else {
        panic!("not shared")
    };
    for other in &sent[1..] {
        assert!(matches!(other, Compressed::Shared(bytes) if Arc::ptr_eq(bytes, first)));
    }
    assert_eq!(prepared.shared_forms(), 1);
    // Another level or window makes another form; a member with context
    // gets its own bytes; one with a higher threshold gets the payload.
    let mut level_9 = Deflater::new(direction(15, OFF), &default.clone().level(9));
    let mut window_10 = Deflater::new(direction(10, OFF), &default);
    let mut retained = Deflater::new(direction(12, RETAINED), &default);
    let mut picky = Deflater::new(direction(15, OFF), &default.clone().threshold(1 << 20));
    assert!(matches!(
        prepared.compressed_for(&message, &mut level_9).unwrap(),
        Some(Compressed::Shared(_))
    ));
    assert!(matches!(
        prepared.compressed_for(&message, &mut window_10).unwrap(),
        Some(Compressed::Shared(_))
    ));
    assert_eq!(prepared.shared_forms(), 3);
    let own = prepared
        .compressed_for(&message, &mut retained)
        .unwrap()
        .unwrap();
    assert!(matches!(own, Compressed::Owned(_)));
    assert_eq!(prepared.compressed_for(&message, &mut picky).unwrap(), None);
    for payload in [&*sent[0], &*own] {
        assert_eq!(
            peer_decompress(&mut Decompress::new(false), payload),
            message
        );
    }
}

// Inside a greenlet.

#[test]
fn compresses_and_decompresses_on_a_default_greenlet_stack() {
    let worked = green::spawn(|| {
        let mut rng = Rng::new(13);
        let message: Vec<u8> = (0..64).flat_map(|seq| market_json(seq, &mut rng)).collect();
        for level in [1, 9] {
            let config = DeflateConfig::default().level(level);
            for context in [OFF, RETAINED, DEDICATED] {
                let payload = Deflater::new(direction(15, context), &config)
                    .compress(&message)
                    .unwrap()
                    .unwrap();
                let mut inflater = Inflater::new(direction(15, context));
                assert_eq!(
                    inflate_pieces(&mut inflater, &[&payload], message.len()).unwrap(),
                    message
                );
            }
        }
        true
    })
    .join()
    .unwrap();
    assert!(worked);
}

// Negotiation and codec together.

/// One side of a negotiated connection.
struct Endpoint {
    deflater: Deflater,
    inflater: Inflater,
}

impl Endpoint {
    fn new(agreement: &Agreement, config: &DeflateConfig) -> Self {
        Endpoint {
            deflater: Deflater::new(agreement.outgoing, config),
            inflater: Inflater::new(agreement.incoming),
        }
    }

    /// Sends `message` to `peer`, which checks it arrives intact, in
    /// frames of `frame` bytes.
    fn send(
        &mut self,
        peer: &mut Endpoint,
        message: &[u8],
        frame: usize,
    ) -> Result<(), CompressError> {
        let Some(payload) = self.deflater.compress(message)? else {
            return Ok(());
        };
        let pieces: Vec<&[u8]> = payload.chunks(frame).collect();
        let received = inflate_pieces(&mut peer.inflater, &pieces, message.len()).unwrap();
        assert_eq!(received, message);
        Ok(())
    }
}

#[test]
fn negotiated_endpoints_talk_both_ways() {
    let contexts = [OFF, RETAINED, DEDICATED];
    let mut configs = vec![
        DeflateConfig::default(),
        DeflateConfig::default().prefer_ratio(),
    ];
    for context in contexts {
        for bits in [8, 11] {
            configs.push(
                DeflateConfig::default()
                    .threshold(0)
                    .compress_context(context)
                    .decompress_context(context)
                    .compress_window_bits(bits)
                    .decompress_window_bits(bits),
            );
        }
    }
    let mut rng = Rng::new(31);
    for server_config in &configs {
        for client_config in &configs {
            let offer = client_offer(client_config).unwrap();
            let at_server = negotiate_as_server(server_config, [offer.as_bytes()]).unwrap();
            let response = at_server.response_header();
            let at_client: Result<Option<Agreement>, NegotiationError> =
                negotiate_as_client(client_config, [response.as_bytes()]);
            let at_client = at_client.unwrap().unwrap();
            let params: DeflateParams = at_client.params;
            assert_eq!(params, at_server.params);
            let mut server = Endpoint::new(&at_server, server_config);
            let mut client = Endpoint::new(&at_client, client_config);
            for seq in 0..12 {
                let message = match seq % 3 {
                    0 => market_json(seq, &mut rng),
                    1 => chat_json(seq, &mut rng),
                    _ => plot_line(seq, &mut rng),
                };
                let frame = 1 + (seq as usize * 131) % 700;
                server.send(&mut client, &message, frame).unwrap();
                client.send(&mut server, &message, frame).unwrap();
            }
        }
    }
}

#[test]
fn a_flood_of_final_blocks_is_refused() {
    // Each `03 00` is an empty block with BFINAL set: without a bound,
    // every two bytes of input would cost a new zlib stream.
    let flood: Vec<u8> = [0x03, 0x00].repeat(1 << 19);
    for context in [OFF, RETAINED, DEDICATED] {
        let mut inflater = Inflater::new(direction(15, context));
        let error = inflate_pieces(&mut inflater, &[&flood], 1 << 20).unwrap_err();
        assert!(
            matches!(&error, InflateError::Corrupt(why) if why.contains("final blocks")),
            "{context:?}: {error}"
        );
    }
    // A few are fine: a message per final block, or a final block with
    // RFC 7692's stored-block header after it.
    let mut inflater = Inflater::new(direction(15, OFF));
    assert_eq!(inflate(&mut inflater, &[0x03, 0x00, 0x03, 0x00, 0x00]), b"");
}
