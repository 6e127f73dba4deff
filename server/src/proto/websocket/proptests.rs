//! Property tests of the frame layer: the decoder against tungstenite's
//! frame encoder (an implementation that is not ours), for any frames it
//! encodes, split at any byte positions; and our encoder and parser
//! against each other and against tungstenite's parser.

use std::io::Cursor;

use proptest::prelude::*;
use tungstenite::protocol::frame::coding::{Data, OpCode as TOpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader as TFrameHeader};

use super::{CloseCode, CloseReason, Decoder, Event, FrameHeader, Message, OpCode, Role};

/// One thing a peer sends.
#[derive(Debug, Clone)]
enum Item {
    /// A data message, cut into fragments at these payload offsets, with
    /// control frames between fragments.
    Message {
        message: Message,
        cuts: Vec<usize>,
        between: Vec<Control>,
    },
    Control(Control),
}

#[derive(Debug, Clone)]
enum Control {
    Ping(Vec<u8>),
    Pong(Vec<u8>),
}

fn payload_len() -> impl Strategy<Value = usize> {
    // Mostly short, sometimes in the 16-bit length form, rarely the 64-bit.
    prop_oneof![
        8 => 0..200usize,
        3 => 126..1200usize,
        1 => 65_536..66_000usize,
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        payload_len().prop_flat_map(|len| {
            // Any characters, so cuts fall inside multi-byte sequences.
            proptest::collection::vec(any::<char>(), len / 3)
                .prop_map(|chars| Message::Text(chars.into_iter().collect()))
        }),
        payload_len().prop_flat_map(|len| {
            proptest::collection::vec(any::<u8>(), len).prop_map(Message::Binary)
        }),
    ]
}

fn control() -> impl Strategy<Value = Control> {
    let payload = || proptest::collection::vec(any::<u8>(), 0..=125);
    prop_oneof![
        payload().prop_map(Control::Ping),
        payload().prop_map(Control::Pong)
    ]
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        4 => (message(), proptest::collection::vec(any::<prop::sample::Index>(), 0..4), proptest::collection::vec(control(), 0..4))
            .prop_map(|(message, cuts, between)| {
                let len = message.len();
                let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(len + 1)).collect();
                cuts.sort_unstable();
                cuts.dedup();
                Item::Message { message, cuts, between }
            }),
        1 => control().prop_map(Item::Control),
    ]
}

fn close() -> impl Strategy<Value = Option<CloseReason>> {
    let code = prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999];
    let reason = proptest::collection::vec(any::<char>(), 0..30).prop_map(|chars| {
        let mut reason: String = chars.into_iter().collect();
        while reason.len() > 123 {
            reason.pop();
        }
        reason
    });
    proptest::option::of((code, reason).prop_map(|(code, reason)| CloseReason::new(code, reason)))
}

/// tungstenite's encoding of `frame`, masked with `mask` if any.
fn encode(mut frame: Frame, mask: Option<[u8; 4]>, out: &mut Vec<u8>) {
    frame.header_mut().mask = mask;
    frame.format(out).expect("writing to a Vec");
}

fn control_frame(control: &Control) -> (Frame, Event) {
    match control {
        Control::Ping(p) => (Frame::ping(p.clone()), Event::Ping(p.clone())),
        Control::Pong(p) => (Frame::pong(p.clone()), Event::Pong(p.clone())),
    }
}

/// The wire bytes of `items` and a close, as tungstenite encodes them, and
/// the events they stand for.
fn wire(
    items: &[Item],
    close: &Option<CloseReason>,
    masks: &mut impl FnMut() -> Option<[u8; 4]>,
) -> (Vec<u8>, Vec<Event>) {
    let mut out = Vec::new();
    let mut events = Vec::new();
    for item in items {
        match item {
            Item::Control(control) => {
                let (frame, event) = control_frame(control);
                encode(frame, masks(), &mut out);
                events.push(event);
            }
            Item::Message {
                message,
                cuts,
                between,
            } => {
                let payload = message.as_bytes();
                let first = if message.is_text() {
                    Data::Text
                } else {
                    Data::Binary
                };
                let mut bounds = vec![0];
                bounds.extend(cuts.iter().copied().filter(|&c| c > 0 && c < payload.len()));
                bounds.push(payload.len());
                let pieces = bounds.len() - 1;
                for (i, window) in bounds.windows(2).enumerate() {
                    let opcode = if i == 0 { first } else { Data::Continue };
                    let last = i + 1 == pieces;
                    let frame = Frame::message(
                        payload[window[0]..window[1]].to_vec(),
                        TOpCode::Data(opcode),
                        last,
                    );
                    encode(frame, masks(), &mut out);
                    if !last {
                        if let Some(control) = between.get(i) {
                            let (frame, event) = control_frame(control);
                            encode(frame, masks(), &mut out);
                            events.push(event);
                        }
                    }
                }
                events.push(Event::Message(message.clone()));
            }
        }
    }
    let close_frame = close
        .as_ref()
        .map(|reason| tungstenite::protocol::CloseFrame {
            code: reason.code.as_u16().into(),
            reason: reason.reason.clone().into(),
        });
    encode(Frame::close(close_frame), masks(), &mut out);
    events.push(Event::Close(close.clone()));
    (out, events)
}

/// Feeds `wire` to a decoder in pieces cut at `splits`, taking every
/// buffered event before the next piece.
fn decode(role: Role, wire: &[u8], splits: &[prop::sample::Index]) -> Vec<Event> {
    let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(wire.len() + 1)).collect();
    cuts.push(0);
    cuts.push(wire.len());
    cuts.sort_unstable();
    let mut decoder = Decoder::new(role, 1 << 20, 1 << 20);
    let mut events = Vec::new();
    for window in cuts.windows(2) {
        let mut piece = wire[window[0]..window[1]].to_vec();
        if let Some(event) = decoder.push(&mut piece).expect("valid frames") {
            events.push(event);
        }
        while let Some(event) = decoder.next_buffered().expect("valid frames") {
            events.push(event);
        }
    }
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// A server decodes whatever a client encodes (masked), cut anywhere.
    #[test]
    fn the_decoder_reads_tungstenites_client_frames_split_anywhere(
        items in proptest::collection::vec(item(), 0..6),
        close in close(),
        keys in proptest::collection::vec(any::<[u8; 4]>(), 1..8),
        splits in proptest::collection::vec(any::<prop::sample::Index>(), 0..24),
    ) {
        let mut next = keys.iter().cycle().copied().map(Some);
        let (wire, expected) = wire(&items, &close, &mut || next.next().unwrap());
        prop_assert_eq!(decode(Role::Server, &wire, &splits), expected);
    }

    /// A client decodes whatever a server encodes (unmasked), cut anywhere.
    #[test]
    fn the_decoder_reads_tungstenites_server_frames_split_anywhere(
        items in proptest::collection::vec(item(), 0..6),
        close in close(),
        splits in proptest::collection::vec(any::<prop::sample::Index>(), 0..24),
    ) {
        let (wire, expected) = wire(&items, &close, &mut || None);
        prop_assert_eq!(decode(Role::Client, &wire, &splits), expected);
    }

    /// Text is refused exactly when its bytes are not UTF-8, however the
    /// bytes are fragmented and cut.
    #[test]
    fn text_is_refused_exactly_when_it_is_not_utf8(
        bytes in proptest::collection::vec(any::<u8>(), 0..40),
        cut in any::<prop::sample::Index>(),
        mask in any::<[u8; 4]>(),
    ) {
        let cut = cut.index(bytes.len() + 1);
        let mut wire = Vec::new();
        encode(Frame::message(bytes[..cut].to_vec(), TOpCode::Data(Data::Text), false), Some(mask), &mut wire);
        encode(Frame::message(bytes[cut..].to_vec(), TOpCode::Data(Data::Continue), true), Some(mask), &mut wire);
        let mut decoder = Decoder::new(Role::Server, 1 << 20, 1 << 20);
        let got = decoder.push(&mut wire);
        match std::str::from_utf8(&bytes) {
            Ok(text) => prop_assert_eq!(got, Ok(Some(Event::Message(Message::Text(text.to_owned()))))),
            Err(_) => prop_assert_eq!(got, Err(super::ProtocolError::InvalidUtf8)),
        }
    }

    /// Our encoder and parser agree with each other and with tungstenite's
    /// parser and encoder, for every header.
    #[test]
    fn frame_headers_round_trip_through_both_implementations(
        fin in any::<bool>(),
        rsv in (any::<bool>(), any::<bool>(), any::<bool>()),
        opcode in prop::sample::select(vec![
            OpCode::Continuation, OpCode::Text, OpCode::Binary, OpCode::Close, OpCode::Ping, OpCode::Pong,
        ]),
        mask in proptest::option::of(any::<[u8; 4]>()),
        payload_len in prop_oneof![0u64..=125, 126u64..=0xFFFF, 0x1_0000u64..(1 << 63)],
    ) {
        let ours = FrameHeader { fin, rsv1: rsv.0, rsv2: rsv.1, rsv3: rsv.2, opcode, mask, payload_len };
        let encoded = ours.encode();
        prop_assert_eq!(FrameHeader::parse(&encoded), Ok(Some((ours, encoded.len()))));

        let mut cursor = Cursor::new(&encoded[..]);
        let (theirs, len) = TFrameHeader::parse(&mut cursor).unwrap().unwrap();
        prop_assert_eq!(len, payload_len);
        prop_assert_eq!(cursor.position() as usize, encoded.len());
        prop_assert_eq!((theirs.is_final, theirs.rsv1, theirs.rsv2, theirs.rsv3), (fin, rsv.0, rsv.1, rsv.2));
        prop_assert_eq!(u8::from(theirs.opcode), opcode.as_u8());
        prop_assert_eq!(theirs.mask, mask);

        let mut their_bytes = Vec::new();
        theirs.format(payload_len, &mut their_bytes).unwrap();
        prop_assert_eq!(&their_bytes[..], &encoded[..]);
    }
}

#[test]
fn a_close_with_a_code_round_trips_as_tungstenite_encodes_it() {
    let reason = Some(CloseReason::new(CloseCode::GOING_AWAY, "bye"));
    let (wire, expected) = wire(&[], &reason, &mut || Some([1, 2, 3, 4]));
    assert_eq!(decode(Role::Server, &wire, &[]), expected);
}
