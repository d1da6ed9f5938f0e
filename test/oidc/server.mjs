// An independent OAuth2 authority for end-to-end tests: oidc-provider
// configured for the client credentials grant with JWT access tokens, served
// under Microsoft Entra ID's paths so an Entra client needs only a different
// authority host.
//
//   POST /<tenant>/oauth2/v2.0/token                    token endpoint
//   GET  /<tenant>/discovery/v2.0/keys                  JWKS
//   GET  /<tenant>/.well-known/openid-configuration     discovery
//   GET  /<tenant>/v2.0/.well-known/openid-configuration  the same document, where MSAL looks
//   GET  /__stats   {"token_requests":{"<scope>":N},"ttl":S}
//   POST /__reset   sets every counter to zero
//   POST /__config  {"ttl":S} sets the access token lifetime for later tokens
//
// Settings come from flags or the environment (flags win):
//   --tenant / OIDC_TENANT            tenant ID (default a fixed GUID)
//   --client-id / OIDC_CLIENT_ID      the one registered client
//   --client-secret / OIDC_CLIENT_SECRET
//   --resources / OIDC_RESOURCES      comma-separated resources (audiences) to issue tokens for
//   --ttl / OIDC_TTL                  access token lifetime in seconds (default 3599, as Entra)
//   --port / OIDC_PORT                listening port on 127.0.0.1 (default 0, any free port)
//   --cert, --key / OIDC_CERT, OIDC_KEY  PEM files; when both are set the server speaks https
//
// Once listening, the server writes one JSON line to stdout:
//   {"port":N,"url":"http://127.0.0.1:N","issuer":"http://127.0.0.1:N/<tenant>"}
// oidc-provider may write notices to stdout too, so readers look for that line.
// On Node.js 20, oidc-provider 9.13.3 warns "Unsupported runtime" on stderr and
// works all the same.

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { parseArgs } from 'node:util';

import { exportJWK, generateKeyPair } from 'jose';
import Provider, { errors } from 'oidc-provider';

const { values: flags } = parseArgs({
  options: {
    tenant: { type: 'string' },
    'client-id': { type: 'string' },
    'client-secret': { type: 'string' },
    resources: { type: 'string' },
    ttl: { type: 'string' },
    port: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
  },
});

function setting(flag, env, fallback) {
  return flags[flag] ?? process.env[env] ?? fallback;
}

const tenant = setting('tenant', 'OIDC_TENANT', '72f988bf-0000-4000-8000-00000000e2e0');
const clientID = setting('client-id', 'OIDC_CLIENT_ID', 'e2e-client');
const clientSecret = setting('client-secret', 'OIDC_CLIENT_SECRET', 'e2e-secret');
const resources = new Set(
  setting('resources', 'OIDC_RESOURCES', 'https://cognitiveservices.azure.com')
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== ''),
);
let ttlSeconds = parsePositiveInt(setting('ttl', 'OIDC_TTL', '3599'), 'ttl');
const port = parsePositiveInt(setting('port', 'OIDC_PORT', '0'), 'port', true);
const certFile = setting('cert', 'OIDC_CERT', '');
const keyFile = setting('key', 'OIDC_KEY', '');

function parsePositiveInt(text, name, zeroAllowed = false) {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || (n === 0 && !zeroAllowed)) {
    console.error(`invalid ${name}: ${JSON.stringify(text)}`);
    process.exit(2);
  }
  return n;
}

const defaultSuffix = '/.default';
const tokenRoute = '/oauth2/v2.0/token';
const mountPath = `/${tenant}`;

// tokenRequests counts POSTs to the token endpoint by the "/.default" scope
// they named, whatever the outcome, so tests can assert how often the service
// under test went upstream.
const tokenRequests = new Map();

// Entra clients send scope=<resource>/.default and no resource parameter.
// The resource is a URI or, for an app registration, its application ID
// GUID, which Entra puts in aud as is. oidc-provider takes only absolute URIs
// as resource indicators (RFC 8707), so a GUID travels as a private URN and
// becomes the bare GUID again in the audience.
const guidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const appIDPrefix = 'urn:e2e-entra-app-id:';

function resourceFromScope(scope) {
  const entry = (scope ?? '').split(' ').find((s) => s.endsWith(defaultSuffix));
  if (entry === undefined) {
    return undefined;
  }
  const resource = entry.slice(0, -defaultSuffix.length);
  return guidPattern.test(resource) ? `${appIDPrefix}${resource}` : resource;
}

function audienceOf(indicator) {
  return indicator.startsWith(appIDPrefix) ? indicator.slice(appIDPrefix.length) : indicator;
}

function counterKey(scope) {
  const entry = (scope ?? '').split(' ').find((s) => s.endsWith(defaultSuffix));
  return entry ?? scope ?? '';
}

// The port is part of the issuer, and the issuer is a constructor argument,
// so the server listens first and installs the provider afterwards.
let route = (req, res) => sendJSON(res, 503, { error: 'starting' });

const tls = certFile !== '' && keyFile !== '';
const server = tls
  ? https.createServer({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) }, (req, res) => route(req, res))
  : http.createServer((req, res) => route(req, res));
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));

const baseURL = `${tls ? 'https' : 'http'}://127.0.0.1:${server.address().port}`;
const issuer = `${baseURL}${mountPath}`;

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const signingKey = { ...(await exportJWK(privateKey)), kid: 'e2e-1', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  clients: [
    {
      client_id: clientID,
      client_secret: clientSecret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    },
  ],
  routes: { token: tokenRoute, jwks: '/discovery/v2.0/keys' },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (ctx) => resourceFromScope(ctx.oidc.params.scope),
      getResourceServerInfo: (ctx, indicator) => {
        const resource = audienceOf(indicator);
        if (!resources.has(resource)) {
          throw new errors.InvalidTarget(`unknown resource ${resource}`);
        }
        return {
          scope: `${resource}${defaultSuffix}`,
          audience: resource,
          accessTokenTTL: ttlSeconds,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
      useGrantedResource: () => true,
    },
  },
  ttl: {
    ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? ttlSeconds,
  },
  extraTokenClaims: (ctx, token) => ({ tid: tenant, appid: token.clientId }),
});

provider.on('server_error', (ctx, err) => console.error('oidc server_error:', err));

// Count after the route ran: by then oidc-provider has parsed the form body,
// also for requests it rejected (a wrong secret, an unknown resource).
provider.use(async (ctx, next) => {
  await next();
  if (ctx.method === 'POST' && ctx.path === tokenRoute) {
    const key = counterKey(ctx.oidc?.body?.scope);
    tokenRequests.set(key, (tokenRequests.get(key) ?? 0) + 1);
  }
});

const providerCallback = provider.callback();

function sendJSON(res, status, value) {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readJSON(req) {
  const chunks = [];
  for await (const chunk of req) {
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text === '' ? {} : JSON.parse(text);
}

async function handleControl(req, res) {
  if (req.method === 'GET' && req.url === '/__stats') {
    return sendJSON(res, 200, { token_requests: Object.fromEntries(tokenRequests), ttl: ttlSeconds });
  }
  if (req.method === 'POST' && req.url === '/__reset') {
    tokenRequests.clear();
    return sendJSON(res, 200, { token_requests: {} });
  }
  if (req.method === 'POST' && req.url === '/__config') {
    let update;
    try {
      update = await readJSON(req);
    } catch {
      return sendJSON(res, 400, { error: 'invalid JSON body' });
    }
    if (update.ttl !== undefined) {
      if (!Number.isInteger(update.ttl) || update.ttl <= 0) {
        return sendJSON(res, 400, { error: 'ttl must be a positive integer of seconds' });
      }
      ttlSeconds = update.ttl;
    }
    return sendJSON(res, 200, { ttl: ttlSeconds });
  }
  return sendJSON(res, 404, { error: 'not_found' });
}

route = (req, res) => {
  if (req.url.startsWith('/__')) {
    handleControl(req, res).catch((err) => {
      console.error('oidc control request failed:', err);
      sendJSON(res, 500, { error: 'server_error' });
    });
    return;
  }

  if (req.url !== mountPath && !req.url.startsWith(`${mountPath}/`) && !req.url.startsWith(`${mountPath}?`)) {
    return sendJSON(res, 404, { error: 'not_found' });
  }

  // Mount the provider at /<tenant> the way express' app.use does:
  // oidc-provider reads the mount path from originalUrl minus url.
  req.originalUrl = req.url;
  req.url = req.url.slice(mountPath.length) || '/';
  if (!req.url.startsWith('/')) {
    req.url = `/${req.url}`;
  }

  // MSAL requests <authority>/<tenant>/v2.0/.well-known/openid-configuration.
  // Both URLs are rewritten, because a changed url alone makes discovery
  // advertise endpoints under /<tenant>/v2.0, which do not exist.
  const wellKnownAlias = '/v2.0/.well-known/openid-configuration';
  if (req.url === wellKnownAlias || req.url.startsWith(`${wellKnownAlias}?`)) {
    req.url = req.url.slice('/v2.0'.length);
    req.originalUrl = `${mountPath}${req.url}`;
  }

  providerCallback(req, res);
};

function shutdown() {
  server.close();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

console.log(JSON.stringify({ port: server.address().port, url: baseURL, issuer }));
