"""An independent WebSocket client (Python's `websockets`) against the
echo example: text, binary, a large message, a ping, and a clean close."""

import sys

from websockets.sync.client import connect

url = sys.argv[1]
with connect(url, max_size=None) as ws:
    ws.send("hello from python")
    assert ws.recv() == "hello from python"
    ws.send(b"\x00\x01 binary \xff")
    assert ws.recv() == b"\x00\x01 binary \xff"
    ws.send("")
    assert ws.recv() == ""
    big = "é" * 300_000
    ws.send(big)
    assert ws.recv() == big
    assert ws.ping(b"are you there").wait(5), "no pong"
    ws.close(1000, "bye")
    assert ws.close_code == 1000, ws.close_code
print("python websockets: echo, ping and close OK against", url)
