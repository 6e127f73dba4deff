"""The seed's own stack, for the benchmark: gevent's pywsgi with
gevent-websocket, serving /test (text) and the WebSocket /echo.

    python gevent_server.py PORT [WORKERS]

WORKERS is ignored: gevent runs one thread. Accepted sockets get
TCP_NODELAY, as every other server in the benchmark sets it.
"""

import socket
import sys

from gevent import monkey

monkey.patch_all()

from gevent import pywsgi  # noqa: E402
from geventwebsocket.handler import WebSocketHandler  # noqa: E402


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/test":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"Yes this is a test!"]
    ws = environ.get("wsgi.websocket")
    if path == "/echo" and ws is not None:
        while True:
            message = ws.receive()
            if message is None:
                break
            ws.send(message, binary=isinstance(message, (bytes, bytearray)))
        return []
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"Not Found"]


class NoDelayServer(pywsgi.WSGIServer):
    """pywsgi's server, with Nagle's algorithm off on each connection."""

    def handle(self, sock, address):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle(sock, address)


if __name__ == "__main__":
    port = int(sys.argv[1])
    server = NoDelayServer(("127.0.0.1", port), app, handler_class=WebSocketHandler, log=None)
    print(f"Serving on http://127.0.0.1:{port}", flush=True)
    server.serve_forever()
