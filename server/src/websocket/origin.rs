//! Which pages may open a WebSocket: the origin policy of a
//! [`WebSocketHandler`](super::WebSocketHandler).

use std::sync::Arc;

/// Decides whether a WebSocket handshake may go ahead, from its `Origin`
/// header (`None` when absent).
pub(super) type OriginCheck = dyn Fn(Option<&str>) -> bool + Send + Sync;

/// Which pages may open a WebSocket (cross-site WebSocket hijacking: a
/// browser lets any page connect anywhere, sending its cookies, and says
/// which page it is in `Origin`). Without `allowed_origins` or
/// `same_origin`, every origin is accepted.
#[derive(Clone, Default)]
pub(super) struct OriginPolicy {
    /// The listed origins, as [`origin_key`] gives them.
    pub(super) allowed: Arc<[String]>,
    /// Pages of the host the request was sent to (Origin against Host).
    pub(super) same_origin: bool,
    /// A check of the app's own, which decides alone.
    pub(super) custom: Option<Arc<OriginCheck>>,
}

impl OriginPolicy {
    pub(super) fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        if let Some(check) = &self.custom {
            return check(origin);
        }
        if self.allowed.is_empty() && !self.same_origin {
            return true;
        }
        // No Origin: not a browser, so no page to hijack the user's session.
        let Some(origin) = origin else {
            return true;
        };
        if self.allowed.contains(&origin_key(origin)) {
            return true;
        }
        self.same_origin
            && parse_origin(origin).is_some_and(|(scheme, authority)| {
                host.is_some_and(|host| {
                    without_default_port(&host.trim().to_ascii_lowercase(), &scheme) == authority
                })
            })
    }
}

/// An origin split into scheme and `host[:port]`, lower case, without the
/// scheme's default port; `None` for anything else (`null` included).
fn parse_origin(origin: &str) -> Option<(String, String)> {
    let origin = origin.trim().trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    let well_formed = !scheme.is_empty()
        && !authority.is_empty()
        && !authority.contains(['/', '?', '#', '@', ' ']);
    well_formed.then(|| {
        let authority = without_default_port(authority, scheme).to_owned();
        (scheme.to_owned(), authority)
    })
}

/// How an origin is compared: `scheme://host[:port]` normalised by
/// [`parse_origin`], or the text in lower case when it is no such origin
/// (so that a listed `null` matches `null`).
pub(super) fn origin_key(origin: &str) -> String {
    match parse_origin(origin) {
        Some((scheme, authority)) => format!("{scheme}://{authority}"),
        None => origin.trim().to_ascii_lowercase(),
    }
}

/// `authority` without `:80` for http (and ws), `:443` for https (and wss).
fn without_default_port<'a>(authority: &'a str, scheme: &str) -> &'a str {
    let default = match scheme {
        "http" | "ws" => ":80",
        "https" | "wss" => ":443",
        _ => return authority,
    };
    authority.strip_suffix(default).unwrap_or(authority)
}
