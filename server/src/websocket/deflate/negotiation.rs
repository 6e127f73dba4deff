//! Negotiating permessage-deflate (RFC 7692 sections 5 and 7.1), both
//! roles, as pure functions over `Sec-WebSocket-Extensions` values.
//!
//! The server picks the first offer it can accept and declines the others;
//! an offer with an unknown, repeated or invalid parameter is declined and
//! the handshake goes on (RFC 7692 never asks a server to fail it). The
//! client fails the connection when the server's answer is not one it can
//! accept (section 7, "the client MUST _Fail the WebSocket Connection_").

use std::fmt;

use super::config::{ContextTakeover, DeflateConfig};
use super::extensions::{self, Param};

/// The registered name of the extension.
pub(crate) const EXTENSION_NAME: &str = "permessage-deflate";

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// The parameters of RFC 7692 section 7.1 in an agreement (a handshake
/// response names exactly these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct DeflateParams {
    pub(crate) server_no_context_takeover: bool,
    pub(crate) client_no_context_takeover: bool,
    pub(crate) server_max_window_bits: Option<u8>,
    pub(crate) client_max_window_bits: Option<u8>,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value that states these parameters.
    pub(crate) fn header_value(&self) -> String {
        let mut value = String::from(EXTENSION_NAME);
        if self.server_no_context_takeover {
            value.push_str("; ");
            value.push_str(SERVER_NO_CONTEXT_TAKEOVER);
        }
        if self.client_no_context_takeover {
            value.push_str("; ");
            value.push_str(CLIENT_NO_CONTEXT_TAKEOVER);
        }
        if let Some(bits) = self.server_max_window_bits {
            value.push_str(&format!("; {SERVER_MAX_WINDOW_BITS}={bits}"));
        }
        if let Some(bits) = self.client_max_window_bits {
            value.push_str(&format!("; {CLIENT_MAX_WINDOW_BITS}={bits}"));
        }
        value
    }
}

/// How one direction of a connection compresses, as agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Direction {
    /// The LZ77 window the sender may use (base-2 logarithm, 8..=15).
    pub(crate) window_bits: u8,
    /// How history is kept between messages.
    pub(crate) context: ContextTakeover,
}

/// A successful negotiation, from this endpoint's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreement {
    /// What the handshake response says.
    pub(crate) params: DeflateParams,
    /// This endpoint's messages.
    pub(crate) outgoing: Direction,
    /// The peer's messages.
    pub(crate) incoming: Direction,
}

impl Agreement {
    /// The `Sec-WebSocket-Extensions` value of the handshake response.
    pub(crate) fn response_header(&self) -> String {
        self.params.header_value()
    }
}

/// Why the client must fail a connection whose handshake response it
/// cannot accept (RFC 6455 section 9.1, RFC 7692 section 7).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NegotiationError {
    /// The header does not follow the extension grammar.
    Malformed(String),
    /// The server named an extension the client did not offer.
    UnofferedExtension(String),
    /// The server named permessage-deflate more than once.
    DuplicateExtension,
    /// A parameter RFC 7692 does not define for a response.
    UnknownParameter(String),
    /// A parameter given twice.
    DuplicateParameter(&'static str),
    /// A parameter with a value it may not have, or without one it needs.
    InvalidValue {
        /// The parameter.
        parameter: &'static str,
        /// Its value as sent (`None`: it had none).
        value: Option<String>,
    },
    /// The server left out a parameter the client's offer required it to
    /// answer.
    MissingParameter(&'static str),
    /// The server allowed itself a larger window than the client offered.
    WindowTooLarge {
        /// The parameter.
        parameter: &'static str,
        /// What the client offered.
        offered: u8,
        /// What the server answered.
        answered: u8,
    },
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NegotiationError::Malformed(why) => {
                write!(f, "malformed Sec-WebSocket-Extensions: {why}")
            }
            NegotiationError::UnofferedExtension(name) => {
                write!(
                    f,
                    "the server agreed to the extension {name:?}, which was not offered"
                )
            }
            NegotiationError::DuplicateExtension => {
                write!(f, "the server agreed to {EXTENSION_NAME} more than once")
            }
            NegotiationError::UnknownParameter(name) => {
                write!(f, "unknown {EXTENSION_NAME} parameter {name:?}")
            }
            NegotiationError::DuplicateParameter(name) => {
                write!(f, "{EXTENSION_NAME} parameter {name} given twice")
            }
            NegotiationError::InvalidValue {
                parameter,
                value: Some(value),
            } => write!(f, "invalid value {value:?} for {parameter}"),
            NegotiationError::InvalidValue {
                parameter,
                value: None,
            } => write!(f, "{parameter} needs a value"),
            NegotiationError::MissingParameter(name) => {
                write!(f, "the server did not answer the offered {name}")
            }
            NegotiationError::WindowTooLarge {
                parameter,
                offered,
                answered,
            } => write!(
                f,
                "the server answered {parameter}={answered}, more than the {offered} offered"
            ),
        }
    }
}

impl std::error::Error for NegotiationError {}

/// `client_max_window_bits` in an offer: present without a value ("I can
/// use any window you name") or with one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientWindow {
    Unspecified,
    Bits(u8),
}

/// The parameters of one offer or response, checked for form.
#[derive(Debug, Default)]
struct Parsed {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    client_max_window_bits: Option<ClientWindow>,
}

impl Parsed {
    /// Reads the parameters; `client_max_window_bits` may lack a value only
    /// in an offer.
    fn from_params(params: &[Param], is_offer: bool) -> Result<Parsed, NegotiationError> {
        let mut parsed = Parsed::default();
        for param in params {
            let name = param.name.to_ascii_lowercase();
            let value = param.value.as_deref();
            match name.as_str() {
                SERVER_NO_CONTEXT_TAKEOVER => {
                    set_flag(
                        &mut parsed.server_no_context_takeover,
                        SERVER_NO_CONTEXT_TAKEOVER,
                        value,
                    )?;
                }
                CLIENT_NO_CONTEXT_TAKEOVER => {
                    set_flag(
                        &mut parsed.client_no_context_takeover,
                        CLIENT_NO_CONTEXT_TAKEOVER,
                        value,
                    )?;
                }
                SERVER_MAX_WINDOW_BITS => {
                    if parsed.server_max_window_bits.is_some() {
                        return Err(NegotiationError::DuplicateParameter(SERVER_MAX_WINDOW_BITS));
                    }
                    parsed.server_max_window_bits =
                        Some(window_bits(SERVER_MAX_WINDOW_BITS, value)?);
                }
                CLIENT_MAX_WINDOW_BITS => {
                    if parsed.client_max_window_bits.is_some() {
                        return Err(NegotiationError::DuplicateParameter(CLIENT_MAX_WINDOW_BITS));
                    }
                    parsed.client_max_window_bits = Some(match value {
                        None if is_offer => ClientWindow::Unspecified,
                        _ => ClientWindow::Bits(window_bits(CLIENT_MAX_WINDOW_BITS, value)?),
                    });
                }
                _ => return Err(NegotiationError::UnknownParameter(param.name.clone())),
            }
        }
        Ok(parsed)
    }
}

fn set_flag(
    flag: &mut bool,
    name: &'static str,
    value: Option<&str>,
) -> Result<(), NegotiationError> {
    if *flag {
        return Err(NegotiationError::DuplicateParameter(name));
    }
    if let Some(value) = value {
        return Err(NegotiationError::InvalidValue {
            parameter: name,
            value: Some(value.to_owned()),
        });
    }
    *flag = true;
    Ok(())
}

/// A window size: a decimal 8 to 15 without leading zeros (RFC 7692
/// section 7.1.2).
fn window_bits(name: &'static str, value: Option<&str>) -> Result<u8, NegotiationError> {
    let invalid = || NegotiationError::InvalidValue {
        parameter: name,
        value: value.map(str::to_owned),
    };
    let value = value.ok_or_else(invalid)?;
    match value {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => value.parse().map_err(|_| invalid()),
        _ => Err(invalid()),
    }
}

/// Server side: picks the first acceptable permessage-deflate offer among
/// the values of every `Sec-WebSocket-Extensions` header of the request,
/// in order, or `None` (the handshake then goes on without compression).
/// Offers of other extensions are ignored; broken or invalid
/// permessage-deflate offers are declined (the first reason is logged at
/// debug level when no offer is accepted).
pub(crate) fn negotiate_as_server<'a, I>(
    config: &DeflateConfig,
    header_values: I,
) -> Option<Agreement>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    if !config.is_enabled() {
        return None;
    }
    // Only the first reason is logged: a request may carry many offers.
    let mut first_decline: Option<String> = None;
    for value in header_values {
        for element in extensions::parse(value) {
            let extension = match element {
                Ok(extension) => extension,
                Err(why) => {
                    first_decline.get_or_insert_with(|| format!("malformed element: {why}"));
                    continue;
                }
            };
            if !extension.name.eq_ignore_ascii_case(EXTENSION_NAME) {
                continue;
            }
            match Parsed::from_params(&extension.params, true) {
                Ok(offer) => return Some(accept_offer(config, &offer)),
                Err(why) => {
                    first_decline.get_or_insert_with(|| format!("invalid offer: {why}"));
                }
            }
        }
    }
    if let Some(why) = first_decline {
        log::debug!("declined {EXTENSION_NAME}: {why}");
    }
    None
}

/// The server's answer to a well-formed offer. Every offer can be
/// accepted: a window the server cannot compress with does not exist
/// (zlib's window 9 serves an offer of 8, see `Deflater`), and a client
/// that asks for less context only saves memory.
fn accept_offer(config: &DeflateConfig, offer: &Parsed) -> Agreement {
    // The server's messages. An offered server_max_window_bits must be
    // answered (section 7.1.2.1); without one the server says nothing and
    // compresses with whatever window it likes, at most 15 (some Firefox
    // versions closed the connection on an unasked server_max_window_bits).
    let outgoing_bits = offer
        .server_max_window_bits
        .map_or(config.max_compress_window_bits(), |asked| {
            asked.min(config.max_compress_window_bits())
        });
    let outgoing_context = if offer.server_no_context_takeover {
        ContextTakeover::Off
    } else {
        config.compress_context_takeover()
    };

    // The client's messages. The server may shrink the client's window only
    // if the offer has client_max_window_bits (section 7.1.2.2); history
    // kept between messages must fit the configured window, else the
    // client is asked to keep none.
    let client_limit = match offer.client_max_window_bits {
        None => None,
        Some(ClientWindow::Unspecified) => Some(15),
        Some(ClientWindow::Bits(bits)) => Some(bits),
    };
    let incoming_bits =
        client_limit.map_or(15, |limit| limit.min(config.max_decompress_window_bits()));
    let mut incoming_context = if offer.client_no_context_takeover {
        ContextTakeover::Off
    } else {
        config.decompress_context_takeover()
    };
    if incoming_context == ContextTakeover::Retained
        && incoming_bits > config.max_decompress_window_bits()
    {
        incoming_context = ContextTakeover::Off;
    }
    // Answered only when the server relies on it: the answer binds the
    // client, a value in the offer is only a hint. A window asked of a
    // client that keeps no context would save the server nothing (a
    // zlib-rs inflater allocates 32 KiB whatever its window).
    let client_max_window_bits =
        (client_limit.is_some() && incoming_context != ContextTakeover::Off && incoming_bits < 15)
            .then_some(incoming_bits);

    Agreement {
        params: DeflateParams {
            server_no_context_takeover: outgoing_context == ContextTakeover::Off,
            client_no_context_takeover: incoming_context == ContextTakeover::Off,
            server_max_window_bits: offer.server_max_window_bits.map(|_| outgoing_bits),
            client_max_window_bits,
        },
        outgoing: Direction {
            window_bits: outgoing_bits,
            context: outgoing_context,
        },
        incoming: Direction {
            window_bits: client_max_window_bits.unwrap_or(15),
            context: incoming_context,
        },
    }
}

/// Client side: the `Sec-WebSocket-Extensions` value to offer, or `None`
/// when compression is off. One offer: it asks the server to keep no
/// context, or to limit its window to the configured size, as the
/// configured history needs; it says the client accepts any window the
/// server names for it, and hints that the client keeps no context when it
/// is configured so.
pub(crate) fn client_offer(config: &DeflateConfig) -> Option<String> {
    if !config.is_enabled() {
        return None;
    }
    let mut offer = String::from(EXTENSION_NAME);
    match config.decompress_context_takeover() {
        ContextTakeover::Off => offer.push_str(&format!("; {SERVER_NO_CONTEXT_TAKEOVER}")),
        _ if config.max_decompress_window_bits() < 15 => offer.push_str(&format!(
            "; {SERVER_MAX_WINDOW_BITS}={}",
            config.max_decompress_window_bits()
        )),
        _ => {}
    }
    if config.compress_context_takeover() == ContextTakeover::Off {
        offer.push_str(&format!("; {CLIENT_NO_CONTEXT_TAKEOVER}"));
    }
    offer.push_str(&format!("; {CLIENT_MAX_WINDOW_BITS}"));
    Some(offer)
}

/// Client side: checks the server's `Sec-WebSocket-Extensions` values
/// against the offer [`client_offer`] made with the same `config`.
/// `Ok(None)`: the server declined compression. `Err`: the client must
/// fail the connection.
pub(crate) fn negotiate_as_client<'a, I>(
    config: &DeflateConfig,
    header_values: I,
) -> Result<Option<Agreement>, NegotiationError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut agreement = None;
    for value in header_values {
        for element in extensions::parse(value) {
            let extension = element.map_err(|why| NegotiationError::Malformed(why.to_string()))?;
            if !config.is_enabled() || !extension.name.eq_ignore_ascii_case(EXTENSION_NAME) {
                return Err(NegotiationError::UnofferedExtension(extension.name));
            }
            if agreement.is_some() {
                return Err(NegotiationError::DuplicateExtension);
            }
            let response = Parsed::from_params(&extension.params, false)?;
            agreement = Some(accept_response(config, &response)?);
        }
    }
    Ok(agreement)
}

fn accept_response(
    config: &DeflateConfig,
    response: &Parsed,
) -> Result<Agreement, NegotiationError> {
    // What client_offer asked of the server.
    let asked_no_context = config.decompress_context_takeover() == ContextTakeover::Off;
    let asked_window = (!asked_no_context && config.max_decompress_window_bits() < 15)
        .then(|| config.max_decompress_window_bits());

    if asked_no_context && !response.server_no_context_takeover {
        return Err(NegotiationError::MissingParameter(
            SERVER_NO_CONTEXT_TAKEOVER,
        ));
    }
    let server_bits = match (asked_window, response.server_max_window_bits) {
        (Some(_), None) => return Err(NegotiationError::MissingParameter(SERVER_MAX_WINDOW_BITS)),
        (Some(offered), Some(answered)) if answered > offered => {
            return Err(NegotiationError::WindowTooLarge {
                parameter: SERVER_MAX_WINDOW_BITS,
                offered,
                answered,
            })
        }
        // A server may name its window unasked (section 7.1.2.1).
        (_, answered) => answered.unwrap_or(15),
    };
    let client_bits = match response.client_max_window_bits {
        Some(ClientWindow::Bits(bits)) => bits,
        // The offer always has client_max_window_bits; a response without
        // a value was refused by the parser.
        Some(ClientWindow::Unspecified) | None => 15,
    };

    Ok(Agreement {
        params: DeflateParams {
            server_no_context_takeover: response.server_no_context_takeover,
            client_no_context_takeover: response.client_no_context_takeover,
            server_max_window_bits: response.server_max_window_bits,
            client_max_window_bits: response.client_max_window_bits.map(|_| client_bits),
        },
        outgoing: Direction {
            window_bits: client_bits.min(config.max_compress_window_bits()),
            context: if response.client_no_context_takeover {
                ContextTakeover::Off
            } else {
                config.compress_context_takeover()
            },
        },
        // The server's window may be larger than the configured history if
        // the client did not ask for less; the client cannot refuse it.
        incoming: Direction {
            window_bits: server_bits,
            context: if response.server_no_context_takeover {
                ContextTakeover::Off
            } else {
                config.decompress_context_takeover()
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(config: &DeflateConfig, headers: &[&str]) -> Option<Agreement> {
        negotiate_as_server(config, headers.iter().map(|h| h.as_bytes()))
    }

    fn response(config: &DeflateConfig, headers: &[&str]) -> Option<String> {
        server(config, headers).map(|agreement| agreement.response_header())
    }

    fn client(
        config: &DeflateConfig,
        headers: &[&str],
    ) -> Result<Option<Agreement>, NegotiationError> {
        negotiate_as_client(config, headers.iter().map(|h| h.as_bytes()))
    }

    fn direction(window_bits: u8, context: ContextTakeover) -> Direction {
        Direction {
            window_bits,
            context,
        }
    }

    const OFF: ContextTakeover = ContextTakeover::Off;
    const RETAINED: ContextTakeover = ContextTakeover::Retained;
    const DEDICATED: ContextTakeover = ContextTakeover::Dedicated;

    #[test]
    fn chromium_offer_gets_a_2_kib_client_window_and_no_server_context() {
        // Chromium (and Node's ws, and Python's websockets as a client).
        let agreement = server(
            &DeflateConfig::default(),
            &["permessage-deflate; client_max_window_bits"],
        )
        .unwrap();
        assert_eq!(
            agreement.response_header(),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=11"
        );
        assert_eq!(agreement.outgoing, direction(15, OFF));
        assert_eq!(agreement.incoming, direction(11, RETAINED));
    }

    #[test]
    fn firefox_offer_cannot_limit_the_window_so_the_client_keeps_no_context() {
        let agreement = server(&DeflateConfig::default(), &["permessage-deflate"]).unwrap();
        assert_eq!(
            agreement.response_header(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
        assert_eq!(agreement.outgoing, direction(15, OFF));
        assert_eq!(agreement.incoming, direction(15, OFF));
    }

    #[test]
    fn prefer_ratio_keeps_everything_and_says_nothing() {
        let config = DeflateConfig::default().prefer_ratio();
        let agreement = server(&config, &["permessage-deflate; client_max_window_bits"]).unwrap();
        assert_eq!(agreement.response_header(), "permessage-deflate");
        assert_eq!(agreement.outgoing, direction(15, DEDICATED));
        assert_eq!(agreement.incoming, direction(15, DEDICATED));
    }

    #[test]
    fn autobahn_12_and_13_offers() {
        // autobahn's PerMessageDeflateOffer(...).getExtensionString() for
        // the offers of cases 12.* / 13.1 to 13.7.
        let config = DeflateConfig::default().prefer_ratio();
        let cases: [(&str, &str, Direction); 7] = [
            (
                "permessage-deflate; client_no_context_takeover; client_max_window_bits",
                "permessage-deflate; client_no_context_takeover",
                direction(15, DEDICATED),
            ),
            (
                "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                direction(15, OFF),
            ),
            (
                "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=9",
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=9",
                direction(9, DEDICATED),
            ),
            (
                "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_max_window_bits=15",
                "permessage-deflate; client_no_context_takeover; server_max_window_bits=15",
                direction(15, DEDICATED),
            ),
            (
                "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=9",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9",
                direction(9, OFF),
            ),
            (
                "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=15",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=15",
                direction(15, OFF),
            ),
            (
                "permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover; server_max_window_bits=9, \
                 permessage-deflate; client_no_context_takeover; client_max_window_bits; server_no_context_takeover, \
                 permessage-deflate; client_no_context_takeover; client_max_window_bits",
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9",
                direction(9, OFF),
            ),
        ];
        for (offer, expected, outgoing) in cases {
            let agreement = server(&config, &[offer]).unwrap();
            assert_eq!(agreement.response_header(), expected, "{offer}");
            assert_eq!(agreement.outgoing, outgoing, "{offer}");
            assert_eq!(agreement.incoming.context, OFF, "{offer}");
        }
    }

    #[test]
    fn rfc_7692_example_offers() {
        let config = DeflateConfig::default();
        // Section 7.1.3's pair of offers: a limited window first, and a
        // fallback.
        let agreement = server(
            &config,
            &["permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; client_max_window_bits"],
        )
        .unwrap();
        assert_eq!(
            agreement.response_header(),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11"
        );
        assert_eq!(agreement.outgoing, direction(10, OFF));
        // The same in two header lines.
        assert_eq!(
            response(
                &config,
                &[
                    "permessage-deflate; client_max_window_bits; server_max_window_bits=10",
                    "permessage-deflate; client_max_window_bits"
                ]
            ),
            Some(agreement.response_header())
        );
    }

    #[test]
    fn a_server_window_of_8_is_answered_with_8() {
        let agreement = server(
            &DeflateConfig::default(),
            &["permessage-deflate; server_max_window_bits=8"],
        )
        .unwrap();
        assert_eq!(
            agreement.response_header(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8"
        );
        assert_eq!(agreement.outgoing.window_bits, 8);
    }

    #[test]
    fn the_server_never_answers_a_larger_window_than_offered() {
        for bits in 8..=15 {
            for configured in 8..=15 {
                let config = DeflateConfig::default()
                    .compress_window_bits(configured)
                    .decompress_window_bits(configured);
                let offer = format!("permessage-deflate; server_max_window_bits={bits}; client_max_window_bits={bits}");
                let agreement = server(&config, &[&offer]).unwrap();
                let params = agreement.params;
                assert_eq!(params.server_max_window_bits, Some(bits.min(configured)));
                assert!(params
                    .client_max_window_bits
                    .is_none_or(|answered| answered <= bits));
                assert!(agreement.incoming.window_bits <= bits);
            }
        }
    }

    #[test]
    fn a_client_window_hint_is_answered_when_the_server_keeps_its_context() {
        let config = DeflateConfig::default();
        let agreement =
            server(&config, &["permessage-deflate; client_max_window_bits=10"]).unwrap();
        assert_eq!(agreement.params.client_max_window_bits, Some(10));
        assert_eq!(agreement.incoming, direction(10, RETAINED));
        // The client promises no context: nothing to limit.
        let agreement = server(
            &config,
            &["permessage-deflate; client_max_window_bits=10; client_no_context_takeover"],
        )
        .unwrap();
        assert_eq!(
            agreement.response_header(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
        );
    }

    #[test]
    fn names_are_compared_without_case_and_values_may_be_quoted() {
        let agreement = server(
            &DeflateConfig::default(),
            &["PerMessage-Deflate ;\tServer_Max_Window_Bits = \"11\" ; CLIENT_MAX_WINDOW_BITS=\"9\""],
        )
        .unwrap();
        assert_eq!(
            agreement.response_header(),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=11; client_max_window_bits=9"
        );
    }

    #[test]
    fn invalid_offers_are_declined_and_the_next_one_is_taken() {
        let config = DeflateConfig::default();
        for invalid in [
            "permessage-deflate; foo",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover=\"x\"",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=08",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; server_max_window_bits=+9",
            "permessage-deflate; server_max_window_bits=abc",
            "permessage-deflate; client_max_window_bits=0",
            "permessage-deflate; client_max_window_bits=\"\"",
            "permessage-deflate; client_max_window_bits=\"1 0\"",
            "permessage-deflate server_max_window_bits=10",
            "permessage-deflate;",
        ] {
            assert_eq!(response(&config, &[invalid]), None, "{invalid}");
            let fallback = format!("{invalid}, permessage-deflate; server_max_window_bits=13");
            assert_eq!(
                server(&config, &[&fallback]).map(|a| a.outgoing.window_bits),
                Some(13),
                "{fallback}"
            );
            assert_eq!(
                server(
                    &config,
                    &[invalid, "permessage-deflate; server_max_window_bits=13"]
                )
                .map(|a| a.outgoing.window_bits),
                Some(13),
                "{invalid} in its own header"
            );
        }
    }

    #[test]
    fn other_extensions_are_ignored() {
        let config = DeflateConfig::default();
        assert_eq!(response(&config, &[]), None);
        assert_eq!(response(&config, &["x-webkit-deflate-frame"]), None);
        assert_eq!(response(&config, &["permessage-foo; a=1"]), None);
        assert_eq!(
            response(&config, &["x-webkit-deflate-frame, foo; bar=\"a,b\", permessage-deflate; client_max_window_bits"]),
            Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=11".into())
        );
        // A header that is not UTF-8 is not an offer.
        assert_eq!(
            negotiate_as_server(&config, [&b"permessage-deflate\xff"[..]]),
            None
        );
    }

    #[test]
    fn disabled_declines_everything() {
        assert_eq!(
            response(&DeflateConfig::disabled(), &["permessage-deflate"]),
            None
        );
        assert_eq!(client_offer(&DeflateConfig::disabled()), None);
    }

    #[test]
    fn client_offers_what_its_settings_need() {
        assert_eq!(
            client_offer(&DeflateConfig::default()).unwrap(),
            "permessage-deflate; server_max_window_bits=11; client_no_context_takeover; client_max_window_bits"
        );
        assert_eq!(
            client_offer(&DeflateConfig::default().prefer_ratio()).unwrap(),
            "permessage-deflate; client_max_window_bits"
        );
        assert_eq!(
            client_offer(&DeflateConfig::default().decompress_context(OFF)).unwrap(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits"
        );
    }

    #[test]
    fn client_accepts_valid_responses() {
        let config = DeflateConfig::default();
        assert_eq!(client(&config, &[]), Ok(None));
        let agreement = client(&config, &["permessage-deflate; server_max_window_bits=11"])
            .unwrap()
            .unwrap();
        assert_eq!(agreement.incoming, direction(11, RETAINED));
        assert_eq!(agreement.outgoing, direction(15, OFF));
        // Smaller windows, and no context the client did not ask to drop.
        let agreement = client(
            &config,
            &["permessage-deflate; server_max_window_bits=9; server_no_context_takeover; client_max_window_bits=10"],
        )
        .unwrap()
        .unwrap();
        assert_eq!(agreement.incoming, direction(9, OFF));
        assert_eq!(agreement.outgoing, direction(10, OFF));
        // Without a window ask, the server may name any window.
        let config = DeflateConfig::default().prefer_ratio();
        let agreement = client(
            &config,
            &["permessage-deflate; server_max_window_bits=10; client_no_context_takeover"],
        )
        .unwrap()
        .unwrap();
        assert_eq!(agreement.incoming, direction(10, DEDICATED));
        assert_eq!(agreement.outgoing, direction(15, OFF));
        assert_eq!(
            client(&config, &["permessage-deflate"])
                .unwrap()
                .unwrap()
                .incoming,
            direction(15, DEDICATED)
        );
    }

    #[test]
    fn client_fails_on_responses_it_cannot_accept() {
        let config = DeflateConfig::default();
        let asked = "; server_max_window_bits=11";
        let cases: Vec<(String, NegotiationError)> = vec![
            (format!("permessage-deflate{asked}; foo"), NegotiationError::UnknownParameter("foo".into())),
            (
                format!("permessage-deflate{asked}; client_max_window_bits"),
                NegotiationError::InvalidValue { parameter: CLIENT_MAX_WINDOW_BITS, value: None },
            ),
            (
                format!("permessage-deflate{asked}; server_no_context_takeover; server_no_context_takeover"),
                NegotiationError::DuplicateParameter(SERVER_NO_CONTEXT_TAKEOVER),
            ),
            (
                "permessage-deflate; server_max_window_bits=16".into(),
                NegotiationError::InvalidValue { parameter: SERVER_MAX_WINDOW_BITS, value: Some("16".into()) },
            ),
            (
                "permessage-deflate; server_max_window_bits=12".into(),
                NegotiationError::WindowTooLarge { parameter: SERVER_MAX_WINDOW_BITS, offered: 11, answered: 12 },
            ),
            ("permessage-deflate".into(), NegotiationError::MissingParameter(SERVER_MAX_WINDOW_BITS)),
            (format!("x-webkit-deflate-frame, permessage-deflate{asked}"), NegotiationError::UnofferedExtension("x-webkit-deflate-frame".into())),
            (format!("permessage-deflate{asked}, permessage-deflate{asked}"), NegotiationError::DuplicateExtension),
            (
                format!("permessage-deflate{asked}; x=\"1"),
                NegotiationError::Malformed("a quoted string is not terminated".into()),
            ),
        ];
        for (header, expected) in cases {
            assert_eq!(client(&config, &[&header]), Err(expected), "{header}");
        }
        let no_context = DeflateConfig::default().decompress_context(OFF);
        assert_eq!(
            client(&no_context, &["permessage-deflate"]),
            Err(NegotiationError::MissingParameter(
                SERVER_NO_CONTEXT_TAKEOVER
            ))
        );
        assert_eq!(
            client(&DeflateConfig::disabled(), &["permessage-deflate"]),
            Err(NegotiationError::UnofferedExtension(
                "permessage-deflate".into()
            ))
        );
        // Split over two header lines, the duplicate is still one.
        assert_eq!(
            client(
                &config,
                &[
                    "permessage-deflate; server_max_window_bits=11",
                    "permessage-deflate; server_max_window_bits=11"
                ]
            ),
            Err(NegotiationError::DuplicateExtension)
        );
    }

    /// Every pairing of settings: the client accepts what the server
    /// answers to its offer, and each side decodes what the other may
    /// send.
    #[test]
    fn client_and_server_agree_with_each_other() {
        let contexts = [OFF, RETAINED, DEDICATED];
        let mut configs = Vec::new();
        for compress in contexts {
            for decompress in contexts {
                for bits in [8, 10, 15] {
                    configs.push(
                        DeflateConfig::default()
                            .compress_context(compress)
                            .decompress_context(decompress)
                            .compress_window_bits(bits)
                            .decompress_window_bits(bits),
                    );
                }
            }
        }
        for server_config in &configs {
            for client_config in &configs {
                let offer = client_offer(client_config).unwrap();
                let at_server =
                    server(server_config, &[&offer]).expect("every offer we make is accepted");
                let at_client = client(client_config, &[&at_server.response_header()])
                    .unwrap_or_else(|e| panic!("{offer} -> {}: {e}", at_server.response_header()))
                    .unwrap();
                assert_eq!(at_client.params, at_server.params);
                for (sender, receiver) in [
                    (at_server.outgoing, at_client.incoming),
                    (at_client.outgoing, at_server.incoming),
                ] {
                    assert!(
                        sender.window_bits <= receiver.window_bits,
                        "{offer} -> {:?}",
                        at_server.params
                    );
                    if receiver.context == OFF {
                        assert_eq!(sender.context, OFF, "{offer} -> {:?}", at_server.params);
                    }
                }
            }
        }
    }
}
