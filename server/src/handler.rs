//! Handler classes: how a connection treats each request before the app.
//!
//! pywsgi lets a server take a `handler_class` that decides how requests are
//! handled; gevent-websocket's `WebSocketHandler` is one that also accepts
//! WebSocket upgrades. Here a handler class is a [`Handler`]: it sees every
//! request before the app and may answer it itself.

use crate::{Request, Response};

/// Sees each request before the app does.
///
/// Return `Some(response)` to answer the request without calling the app
/// (for example, a refused handshake), or `None` to pass it on, possibly
/// after attaching something the app can use in the request's
/// [`extensions`](Request::extensions_mut) (as `WebSocketHandler` leaves
/// the WebSocket offer there, which `req.upgrade(...)` takes).
///
/// ```
/// use greenws::{Handler, Request, Response};
///
/// /// Who is asking, for the app: the `X-User` a trusted proxy set.
/// #[derive(Clone)]
/// struct User(String);
///
/// struct UserHandler;
///
/// impl Handler for UserHandler {
///     fn prepare(&self, request: &mut Request<'_>) -> Option<Response> {
///         let user = request.header("x-user")?.to_owned();
///         request.extensions_mut().insert(User(user));
///         None
///     }
/// }
/// ```
pub trait Handler: Send + Sync + 'static {
    /// Prepares (or answers) one request.
    fn prepare(&self, request: &mut Request<'_>) -> Option<Response>;
}

/// The default handler class: plain HTTP. Every request goes to the app,
/// upgrade requests included (as in pywsgi without `WebSocketHandler`).
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpHandler;

impl Handler for HttpHandler {
    fn prepare(&self, _request: &mut Request<'_>) -> Option<Response> {
        None
    }
}

/// The application: called once per request with the request, returns the
/// response. Any `Fn(&mut Request) -> Response + Send + Sync + 'static`
/// closure or function is an app.
pub trait App: Send + Sync + 'static {
    /// Handles one request.
    fn call(&self, request: &mut Request<'_>) -> Response;
}

impl<F> App for F
where
    F: Fn(&mut Request<'_>) -> Response + Send + Sync + 'static,
{
    fn call(&self, request: &mut Request<'_>) -> Response {
        self(request)
    }
}
