// A loopback stand-in for the token service's /speech endpoint, for running
// run.mjs without the host. Each GET returns a new token whose JWT expires
// a few seconds later, so the page's expiry-based refresh runs quickly. CORS
// allows only the listed origins, as the service does with ALLOWED_ORIGINS.
import crypto from 'node:crypto';
import http from 'node:http';

const RESOURCE_ID = '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/standin' +
  '/providers/Microsoft.CognitiveServices/accounts/standin';

function base64url(value) {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

// Returns an unsigned JWT shape: the page only decodes the payload, and the
// Speech stand-in compares the token as a string.
function fakeJWT(lifetimeSeconds) {
  const now = Math.floor(Date.now() / 1000);
  const header = base64url({ alg: 'RS256', typ: 'JWT' });
  const payload = base64url({ aud: 'https://cognitiveservices.azure.com', iat: now,
    exp: now + lifetimeSeconds, uti: crypto.randomUUID() });
  return `${header}.${payload}.${crypto.randomBytes(32).toString('base64url')}`;
}

// Starts the stand-in on a free 127.0.0.1 port and returns its /speech URL,
// the number of token responses sent, and close.
export function startTokenStandIn({ allowedOrigins, lifetimeSeconds = 6 }) {
  const stats = { fetches: 0 };
  const server = http.createServer((req, res) => {
    const origin = req.headers.origin;
    const headers = { 'content-type': 'application/json', 'cache-control': 'no-store', vary: 'Origin' };
    if (origin && allowedOrigins.includes(origin)) {
      headers['access-control-allow-origin'] = origin;
    }
    if (new URL(req.url, 'http://x').pathname !== '/speech' || req.method !== 'GET') {
      res.writeHead(404, headers).end('{"detail":"Not Found"}');
      return;
    }
    stats.fetches += 1;
    const body = { speech_token: `aad#${RESOURCE_ID}#${fakeJWT(lifetimeSeconds)}` };
    res.writeHead(200, headers).end(JSON.stringify(body));
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}/speech`,
        stats,
        close: () => new Promise((done) => {
          server.close(done);
          server.closeAllConnections();
        }),
      });
    });
  });
}
