// An HTTP/2 server streaming Server-Sent Events with Node's built-in http2 module (the
// compatibility API: res.writeHead(), res.write()), as an upstream for nginx's
// `proxy_http_version 2` (nginx 1.29.4 and later).
//
// Usage: node node_h2_sse.js PORT            h2c (HTTP/2 over cleartext, prior knowledge)
//        node node_h2_sse.js PORT CERT KEY   HTTP/2 over TLS (ALPN h2)
// Query string: n=3 (events), gap=300 (ms between events), first=0 (ms before the first),
// ct=text/event-stream (Content-Type), hints=0 (1: a 103 Early Hints with a Link header first).
// Events: "id: N\ndata: seq=N sent=<epoch seconds> req=<requests served so far>\n\n".

'use strict';

const fs = require('fs');
const http2 = require('http2');
const { performance } = require('perf_hooks');

const [port, cert, key] = process.argv.slice(2);
let requests = 0;

const handler = (req, res) => {
    const q = new URL(req.url, 'http://localhost').searchParams;
    const n = Number(q.get('n') || 3);
    const gap = Number(q.get('gap') || 300);
    const first = Number(q.get('first') || 0);
    const id = ++requests;

    if (q.get('hints') === '1') {
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
    }

    res.writeHead(200, {
        'content-type': q.get('ct') || 'text/event-stream',
        'cache-control': 'no-cache',
        'x-upstream-protocol': `h2 ${req.httpVersion}`,
    });

    let seq = 0;
    let timer = null;

    const send = () => {
        seq++;
        const sent = ((performance.timeOrigin + performance.now()) / 1000).toFixed(6);
        res.write(`id: ${seq}\ndata: seq=${seq} sent=${sent} req=${id}\n\n`);
        if (seq < n) {
            timer = setTimeout(send, gap);
        } else {
            res.end();
        }
    };

    // nginx reset the stream or closed the connection: stop
    res.on('close', () => clearTimeout(timer));

    timer = setTimeout(send, first);
};

const server = cert
    ? http2.createSecureServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) },
        handler)
    : http2.createServer(handler);

server.listen(Number(port), '127.0.0.1');
