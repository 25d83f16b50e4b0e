// A plain Node.js http server streaming Server-Sent Events the way such servers are written:
// res.writeHead() with the event-stream type, then res.write() per event.
//
// Usage: node node_sse.js PORT
// Query string: n=3 (events), gap=300 (ms between events).
// Events: "id: N\ndata: seq=N sent=<epoch seconds> req=<requests served so far>\n\n".

'use strict';

const http = require('http');
const { performance } = require('perf_hooks');

const port = Number(process.argv[2]);
let requests = 0;

const server = http.createServer((req, res) => {
    const q = new URL(req.url, 'http://localhost').searchParams;
    const n = Number(q.get('n') || 3);
    const gap = Number(q.get('gap') || 300);
    const id = ++requests;

    res.writeHead(200, {
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-cache',
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

    // the client (nginx) went away: stop
    res.on('close', () => clearTimeout(timer));

    send();
});

server.listen(port, '127.0.0.1');
