// The Node contender of the permessage-deflate benchmark: an echo server
// on /echo with the `ws` package and `perMessageDeflate: true` (its
// defaults: context kept both ways, level 6 through Node's zlib, messages
// under 1 KiB sent as they are). Prints `Serving on http://HOST:PORT`
// first, like the Rust servers.
//
//   NODE_PATH=/tmp/greenws-bench-node/node_modules node ws-echo-server.cjs [--port 0]
'use strict';

const http = require('http');
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const portFlag = args.indexOf('--port');
const port = portFlag >= 0 ? Number(args[portFlag + 1]) : 0;

const server = http.createServer((req, res) => {
  res.writeHead(404);
  res.end('Not Found\n');
});
const wss = new WebSocketServer({ server, path: '/echo', perMessageDeflate: true, maxPayload: 16 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
server.listen(port, '127.0.0.1', () => {
  console.log(`Serving on http://127.0.0.1:${server.address().port}`);
});
