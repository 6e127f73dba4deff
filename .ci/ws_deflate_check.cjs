// Node's `ws` with perMessageDeflate against the echo example: it must
// agree on permessage-deflate, and large compressible texts must echo
// intact while the bytes on the wire (the socket's own counters) stay
// well under their size.
//
//   NODE_PATH=/tmp/greenws-node/node_modules node .ci/ws_deflate_check.cjs ws://127.0.0.1:PORT/echo
'use strict';

const WebSocket = require('ws');

function market(seq) {
  const quotes = [];
  for (let i = 0; i < 40; i++) {
    quotes.push({
      symbol: 'SYM' + String(i).padStart(3, '0'),
      bid: 100 + ((seq * 7 + i * 13) % 50) + i / 100,
      ask: 101 + ((seq * 7 + i * 13) % 50) + i / 100,
      volume: ((seq + 1) * (i + 3) * 97) % 100000,
    });
  }
  return JSON.stringify({ seq, quotes });
}

function fail(why) {
  console.error('node ws: ' + why);
  process.exit(1);
}

const url = process.argv[2];
// Compress every message the client sends (ws's default threshold is 1 KiB).
const ws = new WebSocket(url, { perMessageDeflate: { threshold: 0 }, maxPayload: 0 });
const texts = [];
for (let seq = 0; seq < 200; seq++) texts.push(market(seq));
texts.push(texts.join(''));
let next = 0;
let plain = 0;
let start = null;
setTimeout(() => fail('timed out'), 60000).unref();

ws.on('open', () => {
  if (!ws.extensions.startsWith('permessage-deflate')) fail('not agreed: ' + JSON.stringify(ws.extensions));
  start = { read: ws._socket.bytesRead, written: ws._socket.bytesWritten };
  ws.send(texts[next]);
});
ws.on('message', (data, isBinary) => {
  if (isBinary || data.toString() !== texts[next]) fail('message ' + next + ' did not echo intact');
  plain += Buffer.byteLength(texts[next]);
  next += 1;
  if (next < texts.length) {
    ws.send(texts[next]);
    return;
  }
  const read = ws._socket.bytesRead - start.read;
  const written = ws._socket.bytesWritten - start.written;
  if (read * 3 >= plain || written * 3 >= plain) {
    fail(`not compressed: ${written} written, ${read} read for ${plain} bytes of text`);
  }
  ws.close(1000, 'bye');
  ws.on('close', (code) => {
    if (code !== 1000) fail('closed with ' + code);
    console.log(`node ws: ${JSON.stringify(ws.extensions)}; ${plain} bytes of text each way, ` +
      `${written} written and ${read} read on the wire: OK against ${url}`);
  });
});
ws.on('error', (e) => fail(String(e)));
