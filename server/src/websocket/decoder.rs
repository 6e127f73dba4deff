//! Incoming WebSocket frames, decoded as the bytes arrive (sans-IO).
//!
//! Frame headers are parsed by tungstenite's `FrameHeader`; payloads are not
//! buffered as frames but unmasked straight into the message being built,
//! and text is checked for UTF-8 as it arrives, so a bad byte fails the
//! connection at once rather than when its frame (or message) ends.
//!
//! What the decoder holds, whatever the peer sends:
//! - the message being assembled: at most `max_message` bytes (checked at
//!   each frame header; its allocation never grows past that either);
//! - the carry, bytes read but not decoded yet: at most one read plus an
//!   incomplete header or control frame (131 bytes), as long as the caller
//!   takes every buffered event before it pushes more (see [`Decoder::push`]);
//! - control frames: 125 bytes of payload, within the carry.
//!
//! Taking an event from the carry costs what the event is: consumed bytes
//! are skipped by an offset, not moved, and the carry is compacted only when
//! new bytes arrive behind an incomplete frame.

use std::io::Cursor;

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use super::message::{is_valid_close_code, CloseReason, Message};

/// The longest payload of a control frame (RFC 6455 section 5.5).
const MAX_CONTROL_PAYLOAD: u64 = 125;

/// What the decoder found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Message(Message),
    Ping(Vec<u8>),
    Pong,
    Close(Option<CloseReason>),
}

/// Why the peer's input is refused, with the close code to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Broken framing or a protocol rule broken (1002).
    Protocol(&'static str),
    /// Text that is not UTF-8 (1007).
    InvalidUtf8,
    /// A frame or message over the limit (1009).
    TooLarge,
}

impl DecodeError {
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            DecodeError::Protocol(_) => 1002,
            DecodeError::InvalidUtf8 => 1007,
            DecodeError::TooLarge => 1009,
        }
    }
}

/// A data frame whose payload is still arriving.
struct Streaming {
    remaining: u64,
    mask: [u8; 4],
    offset: usize,
    fin: bool,
}

/// A message whose frames are still arriving.
struct Partial {
    text: bool,
    /// Empty, and never allocated, while discarding.
    data: Vec<u8>,
    /// `data[..checked]` is known to be valid UTF-8 (text only).
    checked: usize,
}

/// Decodes a client's frames.
pub(crate) struct Decoder {
    /// `carry[start..]` holds bytes received but not decoded yet (what
    /// followed the last event, or an incomplete header or control frame).
    carry: Vec<u8>,
    start: usize,
    frame: Option<Streaming>,
    message: Option<Partial>,
    max_frame: u64,
    max_message: usize,
    /// Data frames are checked and skipped, not kept.
    discarding: bool,
}

impl Decoder {
    pub(crate) fn new(max_frame: usize, max_message: usize) -> Self {
        Decoder {
            carry: Vec::new(),
            start: 0,
            frame: None,
            message: None,
            max_frame: max_frame as u64,
            max_message,
            discarding: false,
        }
    }

    /// Bytes held by a message being assembled.
    pub(crate) fn partial_len(&self) -> usize {
        self.message.as_ref().map_or(0, |m| m.data.len())
    }

    /// Bytes the decoder holds: the carry (consumed part included, until
    /// it is compacted) and the message being assembled.
    pub(crate) fn held(&self) -> usize {
        self.carry.len() + self.partial_len()
    }

    /// From now on data frames are checked and skipped, never kept, and a
    /// message being assembled is dropped: after our Close, RFC 6455
    /// section 5.5.1 lets us discard what the peer still sends.
    pub(crate) fn discard_data(&mut self) {
        self.discarding = true;
        if let Some(message) = &mut self.message {
            message.data = Vec::new();
            message.checked = 0;
        }
    }

    /// True once [`discard_data`](Self::discard_data) was called.
    pub(crate) fn is_discarding(&self) -> bool {
        self.discarding
    }

    /// Frees the carry buffer while it is empty (an idle connection then
    /// holds no buffer at all).
    pub(crate) fn release_memory(&mut self) {
        if self.start == self.carry.len() && self.carry.capacity() > 0 {
            self.carry = Vec::new();
            self.start = 0;
        }
    }

    /// Decodes what earlier reads left, up to the next event.
    pub(crate) fn next_buffered(&mut self) -> Result<Option<Event>, DecodeError> {
        if self.start == self.carry.len() {
            return Ok(None);
        }
        let mut carry = std::mem::take(&mut self.carry);
        let result = self.decode(&mut carry[self.start..]);
        self.carry = carry;
        let (used, event) = result?;
        self.start += used;
        if self.start == self.carry.len() {
            self.carry.clear();
            self.start = 0;
        }
        Ok(event)
    }

    /// Decodes newly read bytes up to the next event; what follows it is
    /// kept for later. Take every buffered event first
    /// ([`next_buffered`](Self::next_buffered) until `None`): new bytes go
    /// behind what is kept, which is then at most an incomplete frame.
    pub(crate) fn push(&mut self, input: &mut [u8]) -> Result<Option<Event>, DecodeError> {
        if self.start < self.carry.len() {
            self.carry.drain(..self.start);
            self.start = 0;
            self.carry.reserve_exact(input.len());
            self.carry.extend_from_slice(input);
            return self.next_buffered();
        }
        let (used, event) = self.decode(input)?;
        let rest = &input[used..];
        self.carry.clear();
        self.start = 0;
        self.carry.reserve_exact(rest.len());
        self.carry.extend_from_slice(rest);
        Ok(event)
    }

    /// Decodes from `buf` until an event or the end of what is complete;
    /// gives the bytes used.
    fn decode(&mut self, buf: &mut [u8]) -> Result<(usize, Option<Event>), DecodeError> {
        let mut pos = 0;
        loop {
            if let Some(frame) = &mut self.frame {
                let n = frame.remaining.min((buf.len() - pos) as u64) as usize;
                let message = self
                    .message
                    .as_mut()
                    .expect("a streaming frame has a message");
                if n > 0 {
                    frame.remaining -= n as u64;
                    if !self.discarding {
                        let chunk = &mut buf[pos..pos + n];
                        unmask(chunk, frame.mask, frame.offset);
                        frame.offset = (frame.offset + n) % 4;
                        make_room(&mut message.data, n, frame, self.max_message);
                        message.data.extend_from_slice(chunk);
                        if message.text {
                            check_utf8(&message.data, &mut message.checked, false)?;
                        }
                    }
                    pos += n;
                }
                if frame.remaining > 0 {
                    return Ok((pos, None));
                }
                let fin = frame.fin;
                self.frame = None;
                if fin {
                    if self.discarding {
                        self.message = None;
                        continue;
                    }
                    return Ok((pos, Some(Event::Message(self.finish_message()?))));
                }
                continue;
            }

            let mut cursor = Cursor::new(&buf[pos..]);
            let (header, len) = match FrameHeader::parse(&mut cursor) {
                Ok(Some(parsed)) => parsed,
                Ok(None) => return Ok((pos, None)),
                Err(_) => return Err(DecodeError::Protocol("reserved opcode")),
            };
            let header_len = cursor.position() as usize;
            if len >> 63 != 0 {
                return Err(DecodeError::Protocol(
                    "a 64-bit payload length with the most significant bit set",
                ));
            }
            if header.rsv1 || header.rsv2 || header.rsv3 {
                return Err(DecodeError::Protocol(
                    "reserved bits set without an extension",
                ));
            }
            let Some(mask) = header.mask else {
                return Err(DecodeError::Protocol("unmasked frame from a client"));
            };
            match header.opcode {
                OpCode::Control(control) => {
                    if !header.is_final {
                        return Err(DecodeError::Protocol("fragmented control frame"));
                    }
                    if len > MAX_CONTROL_PAYLOAD {
                        return Err(DecodeError::Protocol(
                            "control frame payload over 125 bytes",
                        ));
                    }
                    let end = pos + header_len + len as usize;
                    if buf.len() < end {
                        return Ok((pos, None));
                    }
                    let payload = &mut buf[pos + header_len..end];
                    unmask(payload, mask, 0);
                    let event = match control {
                        Control::Ping => Event::Ping(payload.to_vec()),
                        Control::Pong => Event::Pong,
                        Control::Close => Event::Close(parse_close(payload)?),
                        Control::Reserved(_) => unreachable!("refused by the header parser"),
                    };
                    return Ok((end, Some(event)));
                }
                OpCode::Data(data) => {
                    if len > self.max_frame {
                        return Err(DecodeError::TooLarge);
                    }
                    match (data, &self.message) {
                        (Data::Continue, None) => {
                            return Err(DecodeError::Protocol(
                                "continuation frame without a message",
                            ))
                        }
                        (Data::Text | Data::Binary, Some(_)) => {
                            return Err(DecodeError::Protocol(
                                "new message before the last one ended",
                            ))
                        }
                        (Data::Text | Data::Binary, None) => {
                            let keep = if self.discarding {
                                0
                            } else {
                                len.min(64 * 1024)
                            };
                            self.message = Some(Partial {
                                text: data == Data::Text,
                                data: Vec::with_capacity(keep as usize),
                                checked: 0,
                            });
                        }
                        (Data::Continue, Some(_)) => {}
                        (Data::Reserved(_), _) => unreachable!("refused by the header parser"),
                    }
                    let so_far = self.partial_len() as u64;
                    if so_far + len > self.max_message as u64 {
                        return Err(DecodeError::TooLarge);
                    }
                    pos += header_len;
                    self.frame = Some(Streaming {
                        remaining: len,
                        mask,
                        offset: 0,
                        fin: header.is_final,
                    });
                }
            }
        }
    }

    fn finish_message(&mut self) -> Result<Message, DecodeError> {
        let mut message = self.message.take().expect("a message was being assembled");
        if message.text {
            check_utf8(&message.data, &mut message.checked, true)?;
            // Safety: check_utf8 with `complete` verified all of it.
            Ok(Message::Text(unsafe {
                String::from_utf8_unchecked(message.data)
            }))
        } else {
            Ok(Message::Binary(message.data))
        }
    }
}

/// Makes room in a message for `n` more bytes of `frame` (whose
/// `remaining` already excludes them). Grows by doubling, so a message of
/// many small fragments costs amortised constant time per byte, but never
/// past the message limit, nor past the end of a final frame: a message
/// sent as one frame is allocated exactly.
fn make_room(data: &mut Vec<u8>, n: usize, frame: &Streaming, max_message: usize) {
    if data.capacity() - data.len() >= n {
        return;
    }
    let needed = data.len() + n;
    let mut target = (data.capacity() * 2).min(max_message);
    if frame.fin {
        let frame_end =
            needed.saturating_add(usize::try_from(frame.remaining).unwrap_or(usize::MAX));
        target = target.min(frame_end);
    }
    data.reserve_exact(target.max(needed) - data.len());
}

/// Checks `data[*checked..]` for UTF-8, tolerating a sequence cut at the
/// end unless the text is `complete`.
fn check_utf8(data: &[u8], checked: &mut usize, complete: bool) -> Result<(), DecodeError> {
    match std::str::from_utf8(&data[*checked..]) {
        Ok(_) => {
            *checked = data.len();
            Ok(())
        }
        Err(e) if e.error_len().is_none() && !complete => {
            *checked += e.valid_up_to();
            Ok(())
        }
        Err(_) => Err(DecodeError::InvalidUtf8),
    }
}

fn parse_close(payload: &[u8]) -> Result<Option<CloseReason>, DecodeError> {
    match payload.len() {
        0 => Ok(None),
        1 => Err(DecodeError::Protocol("close payload of one byte")),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            if !is_valid_close_code(code) {
                return Err(DecodeError::Protocol("close code not allowed on the wire"));
            }
            let reason = std::str::from_utf8(&payload[2..])
                .map_err(|_| DecodeError::InvalidUtf8)?
                .to_owned();
            Ok(Some(CloseReason { code, reason }))
        }
    }
}

/// XORs `buf` with the mask, `offset` bytes into the mask's cycle.
pub(crate) fn unmask(buf: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut rotated = [0u8; 8];
    for (i, b) in rotated.iter_mut().enumerate() {
        *b = mask[(i + offset) % 4];
    }
    let word = u64::from_ne_bytes(rotated);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let v = u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= rotated[i % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with a fixed key.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    /// The longest control frame from a client: a 2-byte header, a 4-byte
    /// mask and 125 bytes of payload.
    const MAX_CONTROL_FRAME: usize = 2 + 4 + MAX_CONTROL_PAYLOAD as usize;

    fn decoder() -> Decoder {
        Decoder::new(1 << 20, 1 << 20)
    }

    /// Feeds `input` in pieces of `step` bytes and collects the events.
    fn events(input: &[u8], step: usize) -> Result<Vec<Event>, DecodeError> {
        let mut d = decoder();
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            let mut piece = piece.to_vec();
            if let Some(e) = d.push(&mut piece)? {
                out.push(e);
            }
            while let Some(e) = d.next_buffered()? {
                out.push(e);
            }
        }
        Ok(out)
    }

    #[test]
    fn messages_in_any_pieces() {
        let mut input = frame(0x81, b"hello");
        input.extend(frame(0x82, &[1, 2, 3]));
        input.extend(frame(0x01, "héllo ".as_bytes()));
        input.extend(frame(0x89, b"ping!"));
        input.extend(frame(0x80, "wörld".as_bytes()));
        input.extend(frame(0x81, b""));
        input.extend(frame(0x88, &[0x03, 0xe8, b'o', b'k']));
        for step in [1, 2, 3, 5, 7, 1000] {
            assert_eq!(
                events(&input, step).unwrap(),
                vec![
                    Event::Message(Message::Text("hello".into())),
                    Event::Message(Message::Binary(vec![1, 2, 3])),
                    Event::Ping(b"ping!".to_vec()),
                    Event::Message(Message::Text("héllo wörld".into())),
                    Event::Message(Message::Text(String::new())),
                    Event::Close(Some(CloseReason {
                        code: 1000,
                        reason: "ok".into()
                    })),
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn long_lengths_and_mask_offsets() {
        for len in [125, 126, 65535, 65536, 100_003] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let got = events(&frame(0x82, &payload), 4093).unwrap();
            assert_eq!(
                got,
                vec![Event::Message(Message::Binary(payload))],
                "len {len}"
            );
        }
    }

    #[test]
    fn protocol_errors() {
        let unmasked = vec![0x81, 0x02, b'h', b'i'];
        let cases: Vec<(Vec<u8>, u16)> = vec![
            (unmasked, 1002),
            (frame(0xC1, b"x"), 1002),        // RSV1 without an extension
            (frame(0x83, b"x"), 1002),        // reserved data opcode
            (frame(0x8B, b""), 1002),         // reserved control opcode
            (frame(0x09, b""), 1002),         // fragmented ping
            (frame(0x89, &[0u8; 126]), 1002), // control frame too long
            (frame(0x80, b"x"), 1002),        // continuation without a message
            ([frame(0x01, b"a"), frame(0x81, b"b")].concat(), 1002),
            (frame(0x88, &[0x03]), 1002),       // one-byte close
            (frame(0x88, &[0x03, 0xed]), 1002), // 1005 on the wire
            (frame(0x88, &1015u16.to_be_bytes()), 1002),
            (frame(0x88, &1016u16.to_be_bytes()), 1002),
            (frame(0x88, &5000u16.to_be_bytes()), 1002),
            (top_bit_length(0x82), 1002), // not 1009: the length is malformed
            (top_bit_length(0x89), 1002),
            (frame(0x88, &[0x03, 0xe8, 0xff]), 1007),
            (
                frame(0x81, &[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xff]),
                1007,
            ),
        ];
        for (input, code) in cases {
            let err = events(&input, 1000).unwrap_err();
            assert_eq!(err.close_code(), code, "{input:?}");
        }
    }

    /// A frame header whose 64-bit length has the most significant bit set.
    fn top_bit_length(first: u8) -> Vec<u8> {
        let mut out = vec![first, 0x80 | 127];
        out.extend_from_slice(&(1u64 << 63).to_be_bytes());
        out.extend_from_slice(&[1, 2, 3, 4]);
        out
    }

    #[test]
    fn every_valid_close_code_is_accepted() {
        for code in [1000, 1003, 1007, 1011, 1012, 1013, 1014, 3000, 4999] {
            let got = events(&frame(0x88, &u16::to_be_bytes(code)), 1000).unwrap();
            assert_eq!(
                got,
                vec![Event::Close(Some(CloseReason {
                    code,
                    reason: String::new()
                }))]
            );
        }
    }

    #[test]
    fn control_frames_at_125_and_126_bytes() {
        let got = events(&frame(0x89, &[9; 125]), 7).unwrap();
        assert_eq!(got, vec![Event::Ping(vec![9; 125])]);
        let err = events(&frame(0x89, &[9; 126]), 7).unwrap_err();
        assert_eq!(err.close_code(), 1002);
        assert_eq!(MAX_CONTROL_FRAME, frame(0x89, &[9; 125]).len());
    }

    #[test]
    fn taking_an_event_from_the_carry_does_not_move_the_rest() {
        // One large read of many small messages, as a 256 KiB read gives.
        let one = frame(0x82, &[5; 20]);
        let count = 256 * 1024 / one.len();
        let mut input = one.repeat(count);
        let mut d = decoder();
        assert!(matches!(d.push(&mut input), Ok(Some(Event::Message(_)))));
        let kept = d.carry.len();
        let at = d.carry.as_ptr();
        for taken in 1..count - 1 {
            assert!(matches!(d.next_buffered(), Ok(Some(Event::Message(_)))));
            // The event is skipped by the offset: no byte moves, so the
            // cost is the event's, not the rest of the read's.
            assert_eq!((d.carry.len(), d.carry.as_ptr()), (kept, at));
            assert_eq!(d.start, taken * one.len());
        }
        assert!(matches!(d.next_buffered(), Ok(Some(Event::Message(_)))));
        assert!(d.carry.is_empty(), "emptied once all is taken");
    }

    #[test]
    fn the_carry_holds_one_read_and_an_incomplete_control_frame_at_most() {
        // Reads of 4 KiB cut ping frames anywhere; take every event before
        // the next read, as the socket does.
        let ping = frame(0x89, &[1; 125]);
        let input = ping.repeat(500);
        let mut d = decoder();
        let mut pings = 0;
        for piece in input.chunks(4096) {
            let mut piece = piece.to_vec();
            pings += usize::from(d.push(&mut piece).unwrap().is_some());
            assert!(d.carry.len() <= 4096 + MAX_CONTROL_FRAME);
            while d.next_buffered().unwrap().is_some() {
                pings += 1;
            }
            assert!(d.carry.len() - d.start < MAX_CONTROL_FRAME);
        }
        assert_eq!(pings, 500);
    }

    #[test]
    fn discarding_skips_data_but_still_sees_control_frames() {
        let mut d = decoder();
        // A message begun before the switch is dropped too.
        let mut first = frame(0x01, &[b'a'; 1000]);
        assert_eq!(d.push(&mut first), Ok(None));
        assert_eq!(d.partial_len(), 1000);
        d.discard_data();
        assert_eq!(d.partial_len(), 0);
        let mut input = [
            frame(0x80, &[0xff; 5000]), // not UTF-8: not even looked at
            frame(0x82, &[1; 100_000]),
            frame(0x89, b"still here"),
            frame(0x88, &1000u16.to_be_bytes()),
        ]
        .concat();
        let mut got = Vec::new();
        for piece in input.chunks_mut(3000) {
            if let Some(e) = d.push(piece).unwrap() {
                got.push(e);
            }
            while let Some(e) = d.next_buffered().unwrap() {
                got.push(e);
            }
            assert_eq!(d.partial_len(), 0, "nothing kept");
        }
        assert_eq!(
            got,
            vec![
                Event::Ping(b"still here".to_vec()),
                Event::Close(Some(CloseReason {
                    code: 1000,
                    reason: String::new()
                }))
            ]
        );
        // Framing rules still hold.
        let mut bad = frame(0x80, b"continuation without a message");
        assert!(d.push(&mut bad).is_err());
    }

    #[test]
    fn a_message_is_allocated_no_larger_than_it_is_or_the_limit() {
        // One frame, arriving in pieces: exactly its size.
        let mut d = Decoder::new(1 << 20, 1 << 20);
        let input = frame(0x82, &[3; 300_000]);
        let mut message = None;
        for piece in input.chunks(65536) {
            message = message.or(d.push(&mut piece.to_vec()).unwrap());
        }
        let Some(Event::Message(Message::Binary(data))) = message else {
            panic!("a message")
        };
        assert_eq!((data.len(), data.capacity()), (300_000, 300_000));
        // Many fragments: doubling, never past the limit.
        let limit = 100_000;
        let mut d = Decoder::new(limit, limit);
        let mut input = frame(0x02, &[1; 1000]);
        for _ in 0..98 {
            input.extend(frame(0x00, &[1; 1000]));
        }
        input.extend(frame(0x80, &[1; 1000]));
        let Ok(Some(Event::Message(Message::Binary(data)))) = d.push(&mut input) else {
            panic!("a message")
        };
        assert_eq!(data.len(), limit);
        assert_eq!(data.capacity(), limit);
    }

    #[test]
    fn invalid_utf8_fails_before_the_frame_ends() {
        let mut d = decoder();
        let whole = frame(0x81, &[b'a', 0xff, b'b', b'c', b'd', b'e']);
        // Header and the first two payload bytes only.
        let mut head = whole[..8].to_vec();
        assert_eq!(d.push(&mut head), Err(DecodeError::InvalidUtf8));
        // A sequence cut by a frame boundary is fine.
        let input = [frame(0x01, &[0xce]), frame(0x80, &[0xba])].concat();
        let got = events(&input, 1).unwrap();
        assert_eq!(got, vec![Event::Message(Message::Text("κ".into()))]);
        // But not at the end of the message.
        assert_eq!(
            events(&frame(0x81, &[0xce]), 100),
            Err(DecodeError::InvalidUtf8)
        );
    }

    #[test]
    fn size_limits_at_n_and_n_plus_one() {
        let mut d = Decoder::new(10, 15);
        let mut ok = frame(0x82, &[0; 10]);
        assert!(matches!(d.push(&mut ok), Ok(Some(Event::Message(_)))));
        let mut big = frame(0x82, &[0; 11]);
        assert_eq!(d.push(&mut big), Err(DecodeError::TooLarge));
        // The message limit counts all fragments, refused at the header.
        let mut d = Decoder::new(10, 15);
        let mut input = [frame(0x02, &[0; 10]), frame(0x80, &[0; 5])].concat();
        assert!(matches!(d.push(&mut input), Ok(Some(Event::Message(_)))));
        let mut input = [frame(0x02, &[0; 10]), frame(0x80, &[0; 6])].concat();
        assert_eq!(
            Decoder::new(10, 15).push(&mut input),
            Err(DecodeError::TooLarge)
        );
    }

    #[test]
    fn unmask_matches_the_plain_loop_at_every_offset() {
        let mask = [1, 2, 3, 4];
        for offset in 0..4 {
            for len in 0..20 {
                let mut fast: Vec<u8> = (0..len as u8).collect();
                let plain: Vec<u8> = fast
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ mask[(i + offset) % 4])
                    .collect();
                unmask(&mut fast, mask, offset);
                assert_eq!(fast, plain);
            }
        }
    }
}
