// Speech recognition in the browser with a token from the edgetoken service.
//
// The page never has a key or a client secret. It fetches a short-lived
// Speech token from the token service's /speech endpoint, gives it to the
// Speech SDK, and fetches a new one before the old one expires.
//
// Settings come from the query string, for example
//   index.html?token-url=https://tokens.example.com/speech&region=westeurope
// and the defaults below apply when a parameter is absent.
'use strict';

const DEFAULTS = {
  // The token service's Speech endpoint. `make run` serves it on port 8000.
  tokenUrl: 'http://localhost:8000/speech',
  // The Azure region of the Speech resource, used when speechHost is empty.
  region: 'westeurope',
  // A Speech endpoint host such as wss://my-speech.cognitiveservices.azure.com.
  // When set, it replaces the region.
  speechHost: '',
  language: 'en-US',
  // "microphone", or "silence" to send one second of silence per recognition
  // (for machines without a microphone, and for automated tests).
  audio: 'microphone',
  // A fixed refresh period in seconds. Zero derives it from the token's expiry.
  refreshSeconds: 0,
};

// The token service refreshes its Speech token at least every 9 minutes
// (SPEECH_TOKEN_REFRESH_INTERVAL), so the page fetches at least that often.
const MAX_REFRESH_MS = 9 * 60 * 1000;
// How long before expiry the page replaces a token, to allow for clock skew
// and a slow network.
const REFRESH_MARGIN_MS = 60 * 1000;
const MIN_REFRESH_MS = 1000;
// Wait after a failed token fetch before trying again.
const RETRY_MS = 10 * 1000;
// One second of 16 kHz, 16-bit mono audio: the SDK's default input format.
const SILENCE_BYTES = 32000;

const config = readConfig(new URLSearchParams(window.location.search));

const state = {
  recognizer: null,
  pushStream: null,
  tokenCount: 0,
  refreshTimer: 0,
  recognitions: 0,
};

// Returns DEFAULTS overridden by the query parameters token-url, region,
// speech-host, language, audio and refresh-seconds.
function readConfig(params) {
  const refresh = Number(params.get('refresh-seconds') || DEFAULTS.refreshSeconds);
  return {
    tokenUrl: params.get('token-url') || DEFAULTS.tokenUrl,
    region: params.get('region') || DEFAULTS.region,
    speechHost: params.get('speech-host') || DEFAULTS.speechHost,
    language: params.get('language') || DEFAULTS.language,
    audio: params.get('audio') || DEFAULTS.audio,
    refreshSeconds: Number.isFinite(refresh) && refresh > 0 ? refresh : 0,
  };
}

// Fetches a Speech token: {"speech_token":"aad#<resource ID>#<access token>"}.
// The request is a simple GET with no custom header, so the browser sends
// no CORS preflight. It fails with a TypeError when the token service does
// not allow this page's origin.
async function fetchSpeechToken() {
  const response = await fetch(config.tokenUrl, { cache: 'no-store' });
  if (!response.ok) {
    throw new Error(`the token service returned HTTP ${response.status}`);
  }
  const body = await response.json();
  if (typeof body.speech_token !== 'string' || body.speech_token === '') {
    throw new Error('the token service response has no speech_token');
  }
  return body.speech_token;
}

// Returns when the token expires, in milliseconds since the epoch, or null
// when the expiry cannot be read. The /speech response carries no expiry,
// so it comes from the exp claim of the access token, the JWT after the
// second '#'.
function tokenExpiry(speechToken) {
  const parts = speechToken.split('#');
  if (parts.length !== 3) {
    return null;
  }
  const payload = parts[2].split('.')[1];
  if (!payload) {
    return null;
  }
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    const claims = JSON.parse(atob(padded));
    return typeof claims.exp === 'number' ? claims.exp * 1000 : null;
  } catch {
    return null;
  }
}

// Returns how long to wait before fetching the next token: a margin before
// the token expires, but no longer than MAX_REFRESH_MS.
function refreshDelay(speechToken) {
  if (config.refreshSeconds > 0) {
    return config.refreshSeconds * 1000;
  }
  const expiresAt = tokenExpiry(speechToken);
  if (expiresAt === null) {
    return MAX_REFRESH_MS;
  }
  const remaining = expiresAt - Date.now();
  const beforeMargin = remaining - REFRESH_MARGIN_MS;
  if (beforeMargin >= MIN_REFRESH_MS) {
    return Math.min(beforeMargin, MAX_REFRESH_MS);
  }
  // The token lives for less than the margin: refresh halfway to expiry.
  return Math.max(remaining / 2, MIN_REFRESH_MS);
}

// Fetches a token, hands it to the recognizer, and schedules the next fetch.
// A failed fetch keeps the current token and tries again after RETRY_MS.
async function refreshToken() {
  let token;
  try {
    token = await fetchSpeechToken();
  } catch (err) {
    setStatus('error', `Could not fetch a Speech token from ${config.tokenUrl}: ${err.message}. ` +
      `If the browser console shows a CORS error, add ${window.location.origin} to the ` +
      'token service\'s ALLOWED_ORIGINS.');
    scheduleRefresh(RETRY_MS);
    return;
  }

  useToken(token);
  scheduleRefresh(refreshDelay(token));
}

function useToken(token) {
  state.tokenCount += 1;
  document.getElementById('token-count').textContent = String(state.tokenCount);

  if (state.recognizer === null) {
    state.recognizer = createRecognizer(token);
    document.getElementById('recognize').disabled = false;
  } else {
    // A recognizer copies its SpeechConfig when it is created, so the new
    // token must go to the recognizer itself. The SDK sends it when it
    // opens its next connection to the Speech service.
    state.recognizer.authorizationToken = token;
  }
  setStatus('ready', `Token received at ${new Date().toLocaleTimeString()}.`);
}

function scheduleRefresh(delayMs) {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refreshToken, delayMs);
  const at = new Date(Date.now() + delayMs).toLocaleTimeString();
  document.getElementById('next-refresh').textContent = `${at} (in ${Math.round(delayMs / 1000)} s)`;
}

function createRecognizer(token) {
  let speechConfig;
  if (config.speechHost) {
    speechConfig = SpeechSDK.SpeechConfig.fromHost(new URL(config.speechHost));
    speechConfig.authorizationToken = token;
  } else {
    speechConfig = SpeechSDK.SpeechConfig.fromAuthorizationToken(token, config.region);
  }
  speechConfig.speechRecognitionLanguage = config.language;
  return new SpeechSDK.SpeechRecognizer(speechConfig, createAudioConfig());
}

function createAudioConfig() {
  if (config.audio === 'silence') {
    // The stream stays open, and each recognition writes its own second of
    // silence to it.
    state.pushStream = SpeechSDK.AudioInputStream.createPushStream();
    return SpeechSDK.AudioConfig.fromStreamInput(state.pushStream);
  }
  return SpeechSDK.AudioConfig.fromDefaultMicrophoneInput();
}

function recognizeOnce() {
  const button = document.getElementById('recognize');
  button.disabled = true;
  setStatus('listening', 'Listening…');
  if (state.pushStream !== null) {
    state.pushStream.write(new ArrayBuffer(SILENCE_BYTES));
  }

  state.recognizer.recognizeOnceAsync(
    (result) => {
      showResult(result);
      button.disabled = false;
    },
    (error) => {
      setStatus('error', `Recognition failed: ${error}`);
      button.disabled = false;
    });
}

function showResult(result) {
  state.recognitions += 1;
  const item = document.createElement('li');
  switch (result.reason) {
    case SpeechSDK.ResultReason.RecognizedSpeech:
      item.textContent = result.text;
      item.dataset.reason = 'recognized';
      break;
    case SpeechSDK.ResultReason.NoMatch:
      item.textContent = '(no speech recognized)';
      item.dataset.reason = 'no-match';
      break;
    default: {
      const details = SpeechSDK.CancellationDetails.fromResult(result);
      item.textContent = `(canceled: ${details.errorDetails || details.reason})`;
      item.dataset.reason = 'canceled';
    }
  }
  document.getElementById('results').append(item);
  setStatus('ready', `Recognition ${state.recognitions} finished.`);
}

// Shows a message; data-state (starting, ready, listening or error) lets
// styles and tests tell the states apart.
function setStatus(stateName, message) {
  const status = document.getElementById('status');
  status.dataset.state = stateName;
  status.textContent = message;
}

document.getElementById('token-url').textContent = config.tokenUrl;
document.getElementById('recognize').addEventListener('click', recognizeOnce);
refreshToken();
