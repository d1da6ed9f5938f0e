// Drives examples/browser in headless Chromium against a token service and a
// loopback stand-in for the Speech service, and prints one JSON line with
// what it saw. It exits 0 when every check passed, 1 when one failed, and 2
// on a usage error.
//
//   node test/browser/run.mjs --token-url http://127.0.0.1:PORT/speech \
//       --port-a PORT_A --refresh-seconds 2
//
// Without --token-url it starts a small token stand-in (standin.mjs) whose
// tokens expire after a few seconds, so the page's expiry-based refresh runs
// without a token service.
//
// Servers started here (all on 127.0.0.1):
//   origin A  serves the example and the Speech SDK bundle; the token
//             service must list it in ALLOWED_ORIGINS
//   origin B  serves the same files from another port, which the token
//             service must NOT allow
//   speech    a WebSocket server that replies to each recognition with one phrase
//
// Chromium runs with --host-resolver-rules that map every host name except
// 127.0.0.1 to nothing, so the page cannot reach the real Speech service or
// a CDN.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

import { startSpeechStandIn } from './speech-standin.mjs';
import { startTokenStandIn } from './standin.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');

const usage = `usage: node run.mjs [--token-url URL] [--port-a PORT] [--refresh-seconds N]
    [--chromium PATH] [--timeout-seconds N]`;

let options;
try {
  ({ values: options } = parseArgs({
    options: {
      'token-url': { type: 'string', default: '' },
      'port-a': { type: 'string', default: '0' },
      'refresh-seconds': { type: 'string', default: '0' },
      chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
      'timeout-seconds': { type: 'string', default: '60' },
    },
  }));
} catch (err) {
  console.error(`${err.message}\n${usage}`);
  process.exit(2);
}
const portA = Number(options['port-a']);
const refreshSeconds = Number(options['refresh-seconds']);
const timeoutMs = Number(options['timeout-seconds']) * 1000;
if (!Number.isInteger(portA) || portA < 0 || portA > 65535 ||
    !(refreshSeconds >= 0) || !(timeoutMs > 0)) {
  console.error(`invalid --port-a, --refresh-seconds or --timeout-seconds\n${usage}`);
  process.exit(2);
}

// How long one page step (a token fetch, a recognition) may take.
const STEP_MS = 10_000;
// How long the refresh check waits for the token service to issue a new
// token: the host refreshes its Speech token at least every 10 s when
// SPEECH_TOKEN_REFRESH_INTERVAL is at its minimum.
const NEW_TOKEN_MS = 25_000;

const report = { ok: false, failures: [] };
const cleanups = [];

function fail(message) {
  report.failures.push(message);
}

function check(condition, message) {
  if (!condition) {
    fail(message);
  }
  return condition;
}

// Serves the example page, its script and the SDK bundle, and nothing else.
function startStaticServer(port) {
  const files = {
    '/': path.join(root, 'examples', 'browser', 'index.html'),
    '/index.html': path.join(root, 'examples', 'browser', 'index.html'),
    '/app.js': path.join(root, 'examples', 'browser', 'app.js'),
    '/microsoft.cognitiveservices.speech.sdk.bundle.js': path.join(root, 'node_modules',
      'microsoft-cognitiveservices-speech-sdk', 'distrib', 'browser',
      'microsoft.cognitiveservices.speech.sdk.bundle.js'),
  };
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };

  const server = http.createServer((req, res) => {
    const file = files[new URL(req.url, 'http://x').pathname];
    if (req.method !== 'GET' || file === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`read ${file}: ${err.code}\n`);
        return;
      }
      res.writeHead(200, { 'content-type': types[path.extname(file)], 'cache-control': 'no-store' });
      res.end(data);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      cleanups.push(() => new Promise((done) => {
        server.close(done);
        server.closeAllConnections();
      }));
      resolve(`http://127.0.0.1:${server.address().port}`);
    });
  });
}

function pageURL(origin, tokenURL, speechURL) {
  const params = new URLSearchParams({
    'token-url': tokenURL,
    'speech-host': speechURL,
    audio: 'silence',
  });
  if (refreshSeconds > 0) {
    params.set('refresh-seconds', String(refreshSeconds));
  }
  return `${origin}/index.html?${params}`;
}

// Records the speech_token of every token response the page received, in
// order. The page never shows a token, so the driver reads it off the wire.
function recordTokens(page, tokenURL) {
  const issued = [];
  page.on('response', async (response) => {
    if (response.url() !== tokenURL || response.request().method() !== 'GET') {
      return;
    }
    try {
      const body = await response.json();
      issued.push(body.speech_token);
    } catch (err) {
      issued.push(`(unreadable response ${response.status()}: ${err.message})`);
    }
  });
  return issued;
}

async function waitFor(description, timeout, predicate) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await predicate()) {
      return true;
    }
    if (Date.now() > deadline) {
      fail(`timed out after ${timeout} ms waiting for ${description}`);
      return false;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// Returns the token that a recognition started with count tokens received
// should carry. The page keeps refreshing during the recognition, so a
// later token is also correct. It returns issued[count - 1] when no
// token matches the Speech connection's Authorization.
function tokenUsed(issued, count, authorization) {
  const candidates = issued.slice(count - 1);
  return candidates.find((token) => `Bearer ${token}` === authorization) ?? candidates[0];
}

async function tokenCount(page) {
  return Number(await page.textContent('#token-count'));
}

// Clicks "Recognize once" and returns the text of the new result, or null.
async function recognize(page, number) {
  await page.click('#recognize', { timeout: STEP_MS });
  const item = page.locator(`#results li:nth-child(${number})`);
  try {
    await item.waitFor({ timeout: STEP_MS });
  } catch {
    fail(`recognition ${number}: no result shown on the page; status: ` +
      `${await page.textContent('#status')}`);
    return null;
  }
  const reason = await item.getAttribute('data-reason');
  const text = await item.textContent();
  check(reason === 'recognized', `recognition ${number}: result ${reason}: ${text}`);
  return text;
}

// Origin A: first token and recognition, then a token refresh and a second
// recognition that must carry the new token.
async function checkAllowedOrigin(browser, originA, tokenURL, speech) {
  const page = await browser.newPage();
  const issued = recordTokens(page, tokenURL);
  await page.goto(pageURL(originA, tokenURL, speech.url), { timeout: STEP_MS });

  const first = {};
  report.first = first;
  // The page counts a token before the driver has read the response body,
  // so every wait also needs the token itself.
  const tokenRead = async () => Math.min(await tokenCount(page), issued.length);
  if (!await waitFor('the first token', STEP_MS, async () => await tokenRead() >= 1)) {
    first.status = await page.textContent('#status');
    return;
  }
  first.text = await recognize(page, 1);
  first.speech_authorization = speech.connections[0]?.authorization ?? null;
  first.issued = tokenUsed(issued, 1, first.speech_authorization);
  first.speech_path = speech.connections[0]?.path ?? null;
  check(typeof first.issued === 'string' && first.issued.startsWith('aad#'),
    `first token: got ${JSON.stringify(first.issued)}, want aad#<resource>#<token>`);
  check(first.speech_authorization === `Bearer ${first.issued}`,
    'first recognition: the Speech stand-in did not get "Bearer " + the issued token');
  check(first.text === speech.phraseFor(1),
    `first recognition: page shows ${JSON.stringify(first.text)}, want ${JSON.stringify(speech.phraseFor(1))}`);

  // Wait until the page has fetched, and handed to its recognizer, a token
  // that differs from the first one.
  const refresh = {};
  report.refresh = refresh;
  let inUse = 0;
  const changed = await waitFor('a new token from the token service', NEW_TOKEN_MS, async () => {
    inUse = await tokenRead();
    return inUse >= 2 && issued[inUse - 1] !== issued[0];
  });
  refresh.token_fetches = issued.length;
  if (!changed) {
    return;
  }
  refresh.text = await recognize(page, 2);
  const last = speech.connections[speech.connections.length - 1];
  refresh.speech_connections = speech.connections.length;
  refresh.speech_authorization = last?.authorization ?? null;
  refresh.issued = tokenUsed(issued, inUse, refresh.speech_authorization);
  check(refresh.issued !== first.issued, 'refreshed token: equals the first token');
  check(refresh.speech_connections === 2,
    `second recognition: the Speech stand-in saw ${refresh.speech_connections} connections, want 2`);
  check(refresh.speech_authorization === `Bearer ${refresh.issued}`,
    'second recognition: the Speech stand-in did not get "Bearer " + the refreshed token');
  check(refresh.text === speech.phraseFor(2),
    `second recognition: page shows ${JSON.stringify(refresh.text)}, want ${JSON.stringify(speech.phraseFor(2))}`);
  await page.close();
}

// Origin B: the token service sends no CORS header for it, so the page's
// fetch must fail and the page must show the error.
async function checkDisallowedOrigin(browser, originB, tokenURL, speech) {
  const page = await browser.newPage();
  const issued = recordTokens(page, tokenURL);
  const disallowed = { request_failures: [], cors_console_errors: 0 };
  report.disallowed = disallowed;
  page.on('requestfailed', (request) => {
    if (request.url() === tokenURL) {
      disallowed.request_failures.push(request.failure()?.errorText ?? 'unknown');
    }
  });
  page.on('console', (message) => {
    if (message.type() === 'error' && message.text().includes('CORS policy')) {
      disallowed.cors_console_errors += 1;
    }
  });

  const connectionsBefore = speech.connections.length;
  await page.goto(pageURL(originB, tokenURL, speech.url), { timeout: STEP_MS });
  await waitFor('the error status on origin B', STEP_MS,
    async () => await page.getAttribute('#status', 'data-state') === 'error');
  disallowed.status_state = await page.getAttribute('#status', 'data-state');
  disallowed.status = await page.textContent('#status');
  disallowed.token_count = await tokenCount(page);
  disallowed.recognize_disabled = await page.isDisabled('#recognize');
  disallowed.tokens_read = issued.length;

  check(disallowed.status_state === 'error', `origin B: status ${disallowed.status_state}, want error`);
  check(disallowed.token_count === 0, `origin B: page counted ${disallowed.token_count} tokens, want 0`);
  check(disallowed.recognize_disabled, 'origin B: the Recognize button is enabled');
  check(disallowed.request_failures.length >= 1, 'origin B: the token request did not fail in the browser');
  check(speech.connections.length === connectionsBefore, 'origin B: the page connected to the Speech stand-in');
  await page.close();
}

async function main() {
  const speech = await startSpeechStandIn();
  cleanups.push(() => speech.close());
  const originA = await startStaticServer(portA);
  const originB = await startStaticServer(0);
  report.origin_a = originA;
  report.origin_b = originB;

  let tokenURL = options['token-url'];
  if (tokenURL === '') {
    const tokens = await startTokenStandIn({ allowedOrigins: [originA] });
    cleanups.push(() => tokens.close());
    tokenURL = tokens.url;
  }
  report.token_url = tokenURL;
  check(tokenURL.startsWith('http://127.0.0.1:'), `--token-url ${tokenURL} is not on 127.0.0.1`);

  const browser = await chromium.launch({
    executablePath: options.chromium,
    timeout: STEP_MS,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'],
  });
  cleanups.push(() => browser.close());

  await checkAllowedOrigin(browser, originA, tokenURL, speech);
  await checkDisallowedOrigin(browser, originB, tokenURL, speech);
  report.speech_paths = speech.connections.map((c) => c.path);
}

async function cleanup() {
  for (const close of cleanups.reverse()) {
    try {
      await close();
    } catch {
      // Best effort: the process exits next.
    }
  }
}

const timer = setTimeout(async () => {
  fail(`the run took longer than ${timeoutMs} ms`);
  console.log(JSON.stringify(report));
  await Promise.race([cleanup(), new Promise((resolve) => setTimeout(resolve, 3000))]);
  process.exit(1);
}, timeoutMs);

try {
  await main();
} catch (err) {
  fail(`driver error: ${err.stack || err}`);
}
clearTimeout(timer);
report.ok = report.failures.length === 0;
console.log(JSON.stringify(report));
await cleanup();
process.exit(report.ok ? 0 : 1);
