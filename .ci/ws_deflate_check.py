"""Python's `websockets` (compression on by default) against the echo
example: it must agree on permessage-deflate, and large compressible
texts must echo intact while the bytes on the wire, counted on the
client's socket both ways, stay well under their size."""

import json
import socket
import sys
from urllib.parse import urlparse

from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.sync.client import connect


class CountingSocket(socket.socket):
    """A TCP socket that counts the bytes it sends and receives."""

    sent = 0
    received = 0

    def send(self, data, *args):
        n = super().send(data, *args)
        self.sent += n
        return n

    def sendall(self, data, *args):
        super().sendall(data, *args)
        self.sent += len(data)

    def recv(self, size, *args):
        data = super().recv(size, *args)
        self.received += len(data)
        return data


def market(seq):
    """About 4 KiB of quotes whose values change from message to message."""
    return json.dumps({
        "seq": seq,
        "quotes": [
            {"symbol": f"SYM{i:03}", "bid": round(100 + (seq * 7 + i * 13) % 50 + i / 100, 2),
             "ask": round(101 + (seq * 7 + i * 13) % 50 + i / 100, 2),
             "volume": (seq + 1) * (i + 3) * 97 % 100000}
            for i in range(40)
        ],
    })


url = sys.argv[1]
target = urlparse(url)
sock = CountingSocket(socket.AF_INET, socket.SOCK_STREAM)
sock.connect((target.hostname, target.port))
with connect(url, sock=sock, max_size=None) as ws:
    agreed = ws.response.headers.get("Sec-WebSocket-Extensions", "")
    assert agreed.startswith("permessage-deflate"), f"not agreed: {agreed!r}"
    assert any(isinstance(e, PerMessageDeflate) for e in ws.protocol.extensions), \
        ws.protocol.extensions
    sock.sent = sock.received = 0
    plain = 0
    for seq in range(200):
        text = market(seq)
        plain += len(text.encode())
        ws.send(text)
        assert ws.recv() == text
    big = "".join(market(seq) for seq in range(300))  # about 1.2 MB
    plain += len(big.encode())
    ws.send(big)
    assert ws.recv() == big
    assert ws.ping(b"still there").wait(5), "no pong"
    # Both directions compressed: each well under a third of the text.
    assert sock.received * 3 < plain, (sock.received, plain)
    assert sock.sent * 3 < plain, (sock.sent, plain)
    ws.close(1000, "bye")
    assert ws.close_code == 1000, ws.close_code
print(f"python websockets: {agreed!r}; {plain} bytes of text each way, "
      f"{sock.sent} sent and {sock.received} received on the wire: OK against {url}")
