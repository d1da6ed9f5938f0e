// A loopback stand-in for the Speech service's recognition WebSocket, enough
// for the Speech SDK's recognizeOnceAsync: it records how each connection
// authenticated and replies to every turn with one recognized phrase.
//
// Client frames: a text frame is "headers CRLF CRLF body"; a binary frame is
// a 2-byte big-endian header length, the headers, then audio. Every frame
// names its turn in the X-RequestId header, and the replies must carry it.
import { WebSocketServer } from 'ws';

// Recognition paths the SDK opens: .../interactive/... for recognizeOnce,
// .../conversation/... for continuous recognition.
const recognitionPath = /^\/speech\/recognition\/(interactive|conversation|dictation)\/cognitiveservices\/v1$/;

// 100-nanosecond ticks, the unit of Offset and Duration.
const TICKS_PER_SECOND = 10_000_000;

export function phraseFor(turn) {
  return `Stand-in phrase number ${turn}.`;
}

function parseHeaders(text) {
  const headers = {};
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) {
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
  }
  return headers;
}

function textFrame(path, requestId, body) {
  return `Path: ${path}\r\nX-RequestId: ${requestId}\r\n` +
    `X-Timestamp: ${new Date().toISOString()}\r\n` +
    `Content-Type: application/json; charset=utf-8\r\n\r\n${JSON.stringify(body)}`;
}

// Starts the stand-in on a free 127.0.0.1 port. connections lists, in
// order, each WebSocket's path, its decoded Authorization query parameter
// (a browser cannot set headers on a WebSocket, so the SDK sends them in
// the query) and its Origin header.
export function startSpeechStandIn() {
  const connections = [];
  let turns = 0;
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });

  server.on('connection', (ws, req) => {
    const url = new URL(req.url, 'ws://127.0.0.1');
    const connection = {
      path: url.pathname,
      authorization: url.searchParams.get('Authorization'),
      header_authorization: req.headers.authorization ?? null,
      origin: req.headers.origin ?? null,
      turns: 0,
    };
    connections.push(connection);
    if (!recognitionPath.test(url.pathname)) {
      ws.close(1008, 'unknown path');
      return;
    }

    const answered = new Set();
    ws.on('message', (data, isBinary) => {
      if (!isBinary) {
        return;
      }
      const headerLength = data.readUInt16BE(0);
      const headers = parseHeaders(data.subarray(2, 2 + headerLength).toString('utf8'));
      const requestId = headers['x-requestid'];
      if (!requestId || answered.has(requestId)) {
        return;
      }
      answered.add(requestId);
      turns += 1;
      connection.turns += 1;
      const send = (path, body) => ws.send(textFrame(path, requestId, body));
      send('turn.start', { context: { serviceTag: 'standin' } });
      send('speech.startDetected', { Offset: 0 });
      send('speech.phrase', {
        RecognitionStatus: 'Success',
        DisplayText: phraseFor(turns),
        Offset: 0,
        Duration: TICKS_PER_SECOND,
      });
      send('speech.endDetected', { Offset: TICKS_PER_SECOND });
      send('turn.end', {});
      // Close after each turn so that the next recognition opens a new
      // connection, which carries the token the recognizer has at that
      // moment. Without the close, the SDK (1.52) sends the next
      // recognition over the open connection.
      setTimeout(() => ws.close(1000, 'turn finished'), 50);
    });
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      resolve({
        url: `ws://127.0.0.1:${server.address().port}`,
        connections,
        phraseFor,
        close: () => new Promise((done) => {
          for (const client of server.clients) {
            client.terminate();
          }
          server.close(done);
        }),
      });
    });
  });
}
