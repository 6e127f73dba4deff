//! Incoming WebSocket frames, decoded as the bytes arrive (sans-IO), for
//! either role.
//!
//! Payloads are not buffered as frames but unmasked straight into the
//! message being built, and text is checked for UTF-8 as it arrives, so a
//! bad byte fails the connection at once rather than when its frame (or
//! message) ends.
//!
//! What the decoder holds, whatever the peer sends:
//! - the message being assembled: at most `max_message` bytes (checked at
//!   each frame header, or by the decompressor as it inflates; its
//!   allocation never grows past that either);
//! - the carry, bytes read but not decoded yet: at most one read plus an
//!   incomplete header or control frame (131 bytes), as long as the caller
//!   takes every buffered event before it pushes more (see [`Decoder::push`]);
//! - control frames: 125 bytes of payload, within the carry.
//!
//! Taking an event from the carry costs what the event is: consumed bytes
//! are skipped by an offset, not moved, and the carry is compacted only when
//! new bytes arrive behind an incomplete frame.
//!
//! # Compressed messages
//!
//! With a [`MessageDecompressor`] set (permessage-deflate was agreed), the
//! first frame of a text or binary message may have RSV1 set; never a
//! continuation frame nor a control frame. Such a message's payload goes
//! through the decompressor: `max_frame` bounds each frame on the wire,
//! `max_message` the decompressed message, and text is checked for UTF-8
//! on the decompressed bytes.

use super::close::{CloseCode, CloseReason};
use super::frame::{apply_mask, FrameHeader, OpCode, Role, MAX_CONTROL_PAYLOAD};
use super::message::Message;
use super::protocol_error::ProtocolError;

/// What the decoder found.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole text or binary message.
    Message(Message),
    /// A Ping, with its payload (to echo in the Pong).
    Ping(Vec<u8>),
    /// A Pong, with its payload.
    Pong(Vec<u8>),
    /// A Close: its code and reason, or `None` for a Close without a code.
    Close(Option<CloseReason>),
}

/// Decompresses the messages whose first frame has RSV1 set: the hook
/// permessage-deflate (RFC 7692) plugs into a [`Decoder`].
pub trait MessageDecompressor: Send {
    /// Decompresses the next piece of a message's payload (unmasked, as it
    /// arrived; the first call starts a message) and appends it to `out`,
    /// the message so far. `out` must never grow past `limit` bytes: a
    /// message that would is [`ProtocolError::MessageTooLarge`].
    fn decompress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), ProtocolError>;

    /// Ends the message after its last frame (RFC 7692 puts back the
    /// `00 00 ff ff` the sender removed here), appending what is left.
    fn finish_message(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), ProtocolError>;
}

/// A data frame whose payload is still arriving.
struct Streaming {
    remaining: u64,
    mask: Option<[u8; 4]>,
    offset: usize,
    fin: bool,
}

/// A message whose frames are still arriving.
struct Partial {
    text: bool,
    /// Its payload goes through the decompressor.
    compressed: bool,
    /// Empty, and never allocated, while discarding.
    data: Vec<u8>,
    /// `data[..checked]` is known to be valid UTF-8 (text only).
    checked: usize,
    /// Payload bytes received in its frames so far (before decompression,
    /// discarded ones included): how far the message has come.
    received: u64,
}

/// Decodes the frames a peer sends: a client's (masked) for
/// [`Role::Server`], a server's (unmasked) for [`Role::Client`].
///
/// ```
/// use greenws::proto::websocket::{Decoder, Event, FrameHeader, OpCode, Role};
/// use greenws::Message;
///
/// let mut wire = Vec::new();
/// FrameHeader::new(OpCode::Text, 5, Some([7, 7, 7, 7])).append_frame(b"hello", &mut wire);
/// FrameHeader::new(OpCode::Ping, 0, Some([1, 2, 3, 4])).append_frame(b"", &mut wire);
///
/// let mut decoder = Decoder::new(Role::Server, 1 << 20, 1 << 20);
/// // Bytes arrive in any pieces; take every buffered event before pushing more.
/// let (first, second) = wire.split_at_mut(3);
/// assert_eq!(decoder.push(first), Ok(None));
/// assert_eq!(decoder.push(second), Ok(Some(Event::Message(Message::Text("hello".into())))));
/// assert_eq!(decoder.next_buffered(), Ok(Some(Event::Ping(Vec::new()))));
/// assert_eq!(decoder.next_buffered(), Ok(None));
/// ```
pub struct Decoder {
    role: Role,
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
    decompressor: Option<Box<dyn MessageDecompressor>>,
}

impl Decoder {
    /// A decoder for the peer of an endpoint in `role`, refusing frames
    /// over `max_frame` bytes of payload and messages over `max_message`.
    pub fn new(role: Role, max_frame: usize, max_message: usize) -> Self {
        Decoder {
            role,
            carry: Vec::new(),
            start: 0,
            frame: None,
            message: None,
            max_frame: max_frame as u64,
            max_message,
            discarding: false,
            decompressor: None,
        }
    }

    /// Lets the first frame of a message have RSV1 set: such messages are
    /// decompressed by `decompressor` (permessage-deflate was agreed).
    pub fn set_decompressor(&mut self, decompressor: Box<dyn MessageDecompressor>) {
        self.decompressor = Some(decompressor);
    }

    /// Bytes held by a message being assembled.
    pub fn partial_len(&self) -> usize {
        self.message.as_ref().map_or(0, |m| m.data.len())
    }

    /// Whether something from the peer is half way, and how far it came:
    /// `None` between messages with nothing pending; else the payload
    /// received of the message in progress (zero for a frame header or a
    /// control frame that is still incomplete outside a message). Control
    /// frames between a message's fragments do not add to it.
    ///
    /// ```
    /// use greenws::proto::websocket::{Decoder, FrameHeader, OpCode, Role};
    ///
    /// let mut wire = Vec::new();
    /// FrameHeader::new(OpCode::Binary, 4, Some([1, 2, 3, 4])).append_frame(b"abcd", &mut wire);
    /// let mut decoder = Decoder::new(Role::Server, 1 << 20, 1 << 20);
    /// assert_eq!(decoder.in_progress(), None);
    /// assert_eq!(decoder.push(&mut wire[..1]), Ok(None));
    /// assert_eq!(decoder.in_progress(), Some(0));
    /// assert_eq!(decoder.push(&mut wire[1..8]), Ok(None));
    /// assert_eq!(decoder.in_progress(), Some(2));
    /// assert!(decoder.push(&mut wire[8..]).unwrap().is_some());
    /// assert_eq!(decoder.in_progress(), None);
    /// ```
    pub fn in_progress(&self) -> Option<u64> {
        match &self.message {
            Some(message) => Some(message.received),
            None => (self.start < self.carry.len()).then_some(0),
        }
    }

    /// True while a message has begun and its last frame has not ended.
    pub fn is_mid_message(&self) -> bool {
        self.message.is_some()
    }

    /// Bytes the decoder holds: the carry (consumed part included, until
    /// it is compacted) and the message being assembled.
    pub fn held(&self) -> usize {
        self.carry.len() + self.partial_len()
    }

    /// From now on data frames are checked and skipped, never kept, and a
    /// message being assembled is dropped: after our Close, RFC 6455
    /// section 5.5.1 lets us discard what the peer still sends.
    pub fn discard_data(&mut self) {
        self.discarding = true;
        if let Some(message) = &mut self.message {
            message.data = Vec::new();
            message.checked = 0;
        }
    }

    /// True once [`discard_data`](Self::discard_data) was called.
    pub fn is_discarding(&self) -> bool {
        self.discarding
    }

    /// Frees the carry buffer while it is empty (an idle connection then
    /// holds no buffer at all).
    pub fn release_memory(&mut self) {
        if self.start == self.carry.len() && self.carry.capacity() > 0 {
            self.carry = Vec::new();
            self.start = 0;
        }
    }

    /// Keeps bytes to decode later, behind any kept already: for bytes that
    /// arrived before the decoder existed (a client reads the server's
    /// first frames together with the end of its handshake response).
    /// [`next_buffered`](Self::next_buffered) decodes them.
    pub fn buffer(&mut self, bytes: &[u8]) {
        self.carry.extend_from_slice(bytes);
    }

    /// Decodes what earlier pushes left, up to the next event.
    pub fn next_buffered(&mut self) -> Result<Option<Event>, ProtocolError> {
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
    /// `input` is unmasked in place.
    pub fn push(&mut self, input: &mut [u8]) -> Result<Option<Event>, ProtocolError> {
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
    fn decode(&mut self, buf: &mut [u8]) -> Result<(usize, Option<Event>), ProtocolError> {
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
                    message.received += n as u64;
                    if !self.discarding {
                        let chunk = &mut buf[pos..pos + n];
                        if let Some(mask) = frame.mask {
                            apply_mask(chunk, mask, frame.offset);
                            frame.offset = (frame.offset + n) % 4;
                        }
                        if message.compressed {
                            self.decompressor
                                .as_mut()
                                .expect("only a decoder with a decompressor accepts RSV1")
                                .decompress(chunk, &mut message.data, self.max_message)?;
                        } else {
                            make_room(&mut message.data, n, frame, self.max_message);
                            message.data.extend_from_slice(chunk);
                        }
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

            let Some((header, header_len)) = FrameHeader::parse(&buf[pos..])? else {
                return Ok((pos, None));
            };
            match (self.role, header.mask) {
                (Role::Server, None) => return Err(ProtocolError::UnmaskedFrame),
                (Role::Client, Some(_)) => return Err(ProtocolError::MaskedFrame),
                _ => {}
            }
            let compressed = header.rsv1
                && self.decompressor.is_some()
                && matches!(header.opcode, OpCode::Text | OpCode::Binary);
            if header.rsv2 || header.rsv3 || (header.rsv1 && !compressed) {
                return Err(ProtocolError::ReservedBits);
            }
            let len = header.payload_len;
            if header.opcode.is_control() {
                if !header.fin {
                    return Err(ProtocolError::FragmentedControlFrame);
                }
                if len > MAX_CONTROL_PAYLOAD as u64 {
                    return Err(ProtocolError::ControlFrameTooLong { len });
                }
                let end = pos + header_len + len as usize;
                if buf.len() < end {
                    return Ok((pos, None));
                }
                let payload = &mut buf[pos + header_len..end];
                if let Some(mask) = header.mask {
                    apply_mask(payload, mask, 0);
                }
                let event = match header.opcode {
                    OpCode::Ping => Event::Ping(payload.to_vec()),
                    OpCode::Pong => Event::Pong(payload.to_vec()),
                    _ => Event::Close(parse_close(payload)?),
                };
                return Ok((end, Some(event)));
            }
            if len > self.max_frame {
                return Err(ProtocolError::FrameTooLarge {
                    limit: self.max_frame as usize,
                });
            }
            match (header.opcode, &self.message) {
                (OpCode::Continuation, None) => return Err(ProtocolError::UnexpectedContinuation),
                (OpCode::Continuation, Some(_)) => {}
                (_, Some(_)) => return Err(ProtocolError::UnfinishedMessage),
                (opcode, None) => {
                    // A compressed message's size is known only once
                    // inflated: the decompressor grows it as needed.
                    let keep = if self.discarding || compressed {
                        0
                    } else {
                        len.min(64 * 1024)
                    };
                    self.message = Some(Partial {
                        text: opcode == OpCode::Text,
                        compressed,
                        data: Vec::with_capacity(keep as usize),
                        checked: 0,
                        received: 0,
                    });
                }
            }
            let message = self.message.as_ref().expect("a message was just set");
            let so_far = message.data.len() as u64;
            if !message.compressed && so_far + len > self.max_message as u64 {
                return Err(ProtocolError::MessageTooLarge {
                    limit: self.max_message,
                });
            }
            pos += header_len;
            self.frame = Some(Streaming {
                remaining: len,
                mask: header.mask,
                offset: 0,
                fin: header.fin,
            });
        }
    }

    fn finish_message(&mut self) -> Result<Message, ProtocolError> {
        let mut message = self.message.take().expect("a message was being assembled");
        if message.compressed {
            self.decompressor
                .as_mut()
                .expect("only a decoder with a decompressor accepts RSV1")
                .finish_message(&mut message.data, self.max_message)?;
        }
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
fn check_utf8(data: &[u8], checked: &mut usize, complete: bool) -> Result<(), ProtocolError> {
    match std::str::from_utf8(&data[*checked..]) {
        Ok(_) => {
            *checked = data.len();
            Ok(())
        }
        Err(e) if e.error_len().is_none() && !complete => {
            *checked += e.valid_up_to();
            Ok(())
        }
        Err(_) => Err(ProtocolError::InvalidUtf8),
    }
}

/// A Close frame's payload: nothing, or a valid code and a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Result<Option<CloseReason>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::ClosePayloadTooShort),
        [high, low, reason @ ..] => {
            let code = CloseCode::from(u16::from_be_bytes([*high, *low]));
            if !code.is_valid() {
                return Err(ProtocolError::InvalidCloseCode(code));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| ProtocolError::InvalidUtf8)?
                .to_owned();
            Ok(Some(CloseReason { code, reason }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked with a fixed key; `first` is the first byte
    /// as sent (FIN, RSV bits, opcode), reserved opcodes included.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let header = FrameHeader::new(OpCode::Binary, payload.len() as u64, Some(MASK));
        let mut out = Vec::new();
        header.append_frame(payload, &mut out);
        out[0] = first;
        out
    }

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// The longest control frame from a client: a 2-byte header, a 4-byte
    /// mask and 125 bytes of payload.
    const MAX_CONTROL_FRAME: usize = 2 + 4 + MAX_CONTROL_PAYLOAD;

    fn decoder() -> Decoder {
        Decoder::new(Role::Server, 1 << 20, 1 << 20)
    }

    /// Feeds `input` in pieces of `step` bytes and collects the events.
    fn events(input: &[u8], step: usize) -> Result<Vec<Event>, ProtocolError> {
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
                    Event::Close(Some(CloseReason::new(1000, "ok"))),
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
    fn protocol_errors_are_typed_with_their_close_codes() {
        use ProtocolError as P;
        let unmasked = vec![0x81, 0x02, b'h', b'i'];
        let cases: Vec<(Vec<u8>, ProtocolError, u16)> = vec![
            (unmasked, P::UnmaskedFrame, 1002),
            (frame(0xC1, b"x"), P::ReservedBits, 1002), // RSV1 without an extension
            (frame(0xA1, b"x"), P::ReservedBits, 1002), // RSV2
            (frame(0x91, b"x"), P::ReservedBits, 1002), // RSV3
            (frame(0x83, b"x"), P::ReservedOpcode(3), 1002),
            (frame(0x8B, b""), P::ReservedOpcode(0xB), 1002),
            (frame(0x09, b""), P::FragmentedControlFrame, 1002),
            (
                frame(0x89, &[0u8; 126]),
                P::ControlFrameTooLong { len: 126 },
                1002,
            ),
            (frame(0x80, b"x"), P::UnexpectedContinuation, 1002),
            (
                [frame(0x01, b"a"), frame(0x81, b"b")].concat(),
                P::UnfinishedMessage,
                1002,
            ),
            (frame(0x88, &[0x03]), P::ClosePayloadTooShort, 1002),
            (
                frame(0x88, &[0x03, 0xed]), // 1005 on the wire
                P::InvalidCloseCode(1005.into()),
                1002,
            ),
            (
                frame(0x88, &1015u16.to_be_bytes()),
                P::InvalidCloseCode(1015.into()),
                1002,
            ),
            (
                frame(0x88, &1016u16.to_be_bytes()),
                P::InvalidCloseCode(1016.into()),
                1002,
            ),
            (
                frame(0x88, &5000u16.to_be_bytes()),
                P::InvalidCloseCode(5000.into()),
                1002,
            ),
            // Not 1009: the length is malformed.
            (top_bit_length(0x82), P::InvalidPayloadLength, 1002),
            (top_bit_length(0x89), P::InvalidPayloadLength, 1002),
            (frame(0x88, &[0x03, 0xe8, 0xff]), P::InvalidUtf8, 1007),
            (
                frame(0x81, &[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xff]),
                P::InvalidUtf8,
                1007,
            ),
        ];
        for (input, error, code) in cases {
            let err = events(&input, 1000).unwrap_err();
            assert_eq!(err, error, "{input:02x?}");
            assert_eq!(err.close_code(), code, "{input:02x?}");
        }
    }

    #[test]
    fn a_client_takes_unmasked_frames_and_refuses_masked_ones() {
        let mut d = Decoder::new(Role::Client, 1 << 20, 1 << 20);
        let mut wire = Vec::new();
        FrameHeader::new(OpCode::Text, 2, None).append_frame(b"hi", &mut wire);
        FrameHeader::new(OpCode::Ping, 1, None).append_frame(b"p", &mut wire);
        assert_eq!(
            d.push(&mut wire),
            Ok(Some(Event::Message(Message::Text("hi".into()))))
        );
        assert_eq!(d.next_buffered(), Ok(Some(Event::Ping(b"p".to_vec()))));
        let mut masked = frame(0x81, b"hi");
        assert_eq!(d.push(&mut masked), Err(ProtocolError::MaskedFrame));
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
            assert_eq!(got, vec![Event::Close(Some(CloseReason::new(code, "")))]);
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
                Event::Close(Some(CloseReason::new(1000, "")))
            ]
        );
        // Framing rules still hold.
        let mut bad = frame(0x80, b"continuation without a message");
        assert!(d.push(&mut bad).is_err());
    }

    #[test]
    fn a_message_is_allocated_no_larger_than_it_is_or_the_limit() {
        // One frame, arriving in pieces: exactly its size.
        let mut d = Decoder::new(Role::Server, 1 << 20, 1 << 20);
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
        let mut d = Decoder::new(Role::Server, limit, limit);
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
        assert_eq!(d.push(&mut head), Err(ProtocolError::InvalidUtf8));
        // A sequence cut by a frame boundary is fine.
        let input = [frame(0x01, &[0xce]), frame(0x80, &[0xba])].concat();
        let got = events(&input, 1).unwrap();
        assert_eq!(got, vec![Event::Message(Message::Text("κ".into()))]);
        // But not at the end of the message.
        assert_eq!(
            events(&frame(0x81, &[0xce]), 100),
            Err(ProtocolError::InvalidUtf8)
        );
    }

    #[test]
    fn size_limits_at_n_and_n_plus_one() {
        let mut d = Decoder::new(Role::Server, 10, 15);
        let mut ok = frame(0x82, &[0; 10]);
        assert!(matches!(d.push(&mut ok), Ok(Some(Event::Message(_)))));
        let mut big = frame(0x82, &[0; 11]);
        assert_eq!(
            d.push(&mut big),
            Err(ProtocolError::FrameTooLarge { limit: 10 })
        );
        // The message limit counts all fragments, refused at the header.
        let mut d = Decoder::new(Role::Server, 10, 15);
        let mut input = [frame(0x02, &[0; 10]), frame(0x80, &[0; 5])].concat();
        assert!(matches!(d.push(&mut input), Ok(Some(Event::Message(_)))));
        let mut input = [frame(0x02, &[0; 10]), frame(0x80, &[0; 6])].concat();
        assert_eq!(
            Decoder::new(Role::Server, 10, 15).push(&mut input),
            Err(ProtocolError::MessageTooLarge { limit: 15 })
        );
    }

    /// A stand-in for permessage-deflate: every input byte becomes two
    /// (so a message grows as it is "decompressed"), and the end of a
    /// message appends a `!`.
    struct Doubling {
        finished: usize,
    }

    impl MessageDecompressor for Doubling {
        fn decompress(
            &mut self,
            input: &[u8],
            out: &mut Vec<u8>,
            limit: usize,
        ) -> Result<(), ProtocolError> {
            for &b in input {
                if out.len() + 2 > limit {
                    return Err(ProtocolError::MessageTooLarge { limit });
                }
                out.extend_from_slice(&[b, b]);
            }
            Ok(())
        }

        fn finish_message(&mut self, out: &mut Vec<u8>, limit: usize) -> Result<(), ProtocolError> {
            if out.len() + 1 > limit {
                return Err(ProtocolError::MessageTooLarge { limit });
            }
            self.finished += 1;
            out.push(b'!');
            Ok(())
        }
    }

    fn compressing(max_frame: usize, max_message: usize) -> Decoder {
        let mut d = Decoder::new(Role::Server, max_frame, max_message);
        d.set_decompressor(Box::new(Doubling { finished: 0 }));
        d
    }

    /// Feeds `input` to `d` in pieces of `step` bytes; the events or the
    /// first error.
    fn events_of(d: &mut Decoder, input: &[u8], step: usize) -> Result<Vec<Event>, ProtocolError> {
        let mut out = Vec::new();
        for piece in input.chunks(step) {
            let mut piece = piece.to_vec();
            out.extend(d.push(&mut piece)?);
            while let Some(e) = d.next_buffered()? {
                out.push(e);
            }
        }
        Ok(out)
    }

    #[test]
    fn rsv1_on_the_first_frame_sends_the_message_through_the_decompressor() {
        let input = [
            frame(0x41, b"ab"),    // RSV1, text, not final
            frame(0x89, b"ping"),  // a control frame between fragments
            frame(0x80, b"c"),     // continuation, final
            frame(0x82, b"plain"), // an uncompressed message as well
            frame(0xC2, &[1, 2]),  // RSV1, binary, final
        ]
        .concat();
        for step in [1, 3, 1000] {
            let mut d = compressing(1 << 20, 1 << 20);
            assert_eq!(
                events_of(&mut d, &input, step).unwrap(),
                vec![
                    Event::Ping(b"ping".to_vec()),
                    Event::Message(Message::Text("aabbcc!".into())),
                    Event::Message(Message::Binary(b"plain".to_vec())),
                    Event::Message(Message::Binary(vec![1, 1, 2, 2, b'!'])),
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn rsv1_is_refused_on_continuations_control_frames_and_without_a_decompressor() {
        let cases = [
            [frame(0x01, b"a"), frame(0xC0, b"b")].concat(), // RSV1 on a continuation
            frame(0xC9, b""),                                // RSV1 on a ping
            frame(0xC8, &1000u16.to_be_bytes()),             // RSV1 on a close
            frame(0xE1, b"x"),                               // RSV1 and RSV2
        ];
        for input in cases {
            let mut d = compressing(1 << 20, 1 << 20);
            assert_eq!(
                events_of(&mut d, &input, 1000),
                Err(ProtocolError::ReservedBits),
                "{input:02x?}"
            );
        }
        assert_eq!(
            events(&frame(0xC1, b"x"), 1000),
            Err(ProtocolError::ReservedBits)
        );
    }

    #[test]
    fn compressed_messages_have_the_frame_limit_on_the_wire_and_the_message_limit_inflated() {
        // 10 wire bytes pass a frame limit of 10 and inflate to 20 + 1.
        let mut d = compressing(10, 21);
        let got = events_of(&mut d, &frame(0xC2, &[7; 10]), 1000).unwrap();
        assert_eq!(
            got,
            vec![Event::Message(Message::Binary(
                [vec![7; 20], vec![b'!']].concat()
            ))]
        );
        // One more byte on the wire: the frame limit.
        let mut d = compressing(10, 1 << 20);
        assert_eq!(
            events_of(&mut d, &frame(0xC2, &[7; 11]), 1000),
            Err(ProtocolError::FrameTooLarge { limit: 10 })
        );
        // Inflated past the message limit, though the wire bytes are few.
        let mut d = compressing(10, 20);
        assert_eq!(
            events_of(&mut d, &frame(0xC2, &[7; 10]), 1000),
            Err(ProtocolError::MessageTooLarge { limit: 20 })
        );
        // Fragments of a compressed message are not refused at the header
        // for their wire size: 3 frames of 8 bytes inflate to 48 + 1.
        let mut d = compressing(10, 49);
        let input = [
            frame(0x42, &[1; 8]),
            frame(0x00, &[1; 8]),
            frame(0x80, &[1; 8]),
        ]
        .concat();
        assert_eq!(events_of(&mut d, &input, 5).unwrap().len(), 1);
    }

    #[test]
    fn utf8_is_checked_on_the_decompressed_text() {
        // 0xce alone is not UTF-8, but doubled it is still not; 0x61 is.
        let mut d = compressing(1 << 20, 1 << 20);
        assert_eq!(
            events_of(&mut d, &frame(0xC1, &[0x61, 0xce]), 1),
            Err(ProtocolError::InvalidUtf8)
        );
        let mut d = compressing(1 << 20, 1 << 20);
        assert_eq!(
            events_of(&mut d, &frame(0xC1, b"ok"), 1).unwrap(),
            vec![Event::Message(Message::Text("ookk!".into()))]
        );
    }
}
