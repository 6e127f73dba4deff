"""An independent WebSocket server for the client's tests: Python's
`websockets` (sync API). It echoes every message, after a first one that
says what the handshake carried (the subprotocol and the Authorization
header). Prints `PORT n` once it listens on 127.0.0.1.

    python python_echo_server.py [--cert CHAIN.pem --key KEY.pem]
"""

import argparse
import ssl
import sys

from websockets.sync.server import serve


def handler(ws):
    auth = ws.request.headers.get("Authorization")
    ws.send(f"protocol={ws.subprotocol} authorization={auth}")
    for message in ws:
        ws.send(message)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
    with serve(
        handler,
        "127.0.0.1",
        0,
        ssl=context,
        subprotocols=["chat.v1"],
        max_size=None,
    ) as server:
        print("PORT", server.socket.getsockname()[1], flush=True)
        server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
