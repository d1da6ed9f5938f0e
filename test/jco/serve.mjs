// Serves the edgetoken component over HTTP on jco, an independent WASI HTTP
// 0.2 runtime (JavaScript, preview2-shim), for tests.
//
// Usage:
//   node test/jco/serve.mjs --component build/edgetoken.component.wasm
//        [--host 127.0.0.1] [--port 0] [--config FILE.json] [--config-env PREFIX]
//        [--cache-dir DIR] [--trace-config]
//
// --config names a JSON object of config store values (keys as the guest
// reads them, e.g. speech_resource_id); --config-env adds every environment
// variable starting with PREFIX, its rest lower-cased as the key. The file
// wins over the environment. The key-value store has one bucket, "default",
// in memory.
//
// --trace-config writes `jco runner: config read KEY` to stderr for each
// config store key the guest reads (never the value).
//
// --cache-dir keeps the transpiled component in DIR, keyed by a hash of the
// component and the jco version, so the next runner for the same component
// skips the transpile (about 2 s for the edgetoken component). Without it the
// output goes to a temporary directory removed at exit.
//
// When it listens, the runner prints one line to stdout,
// `listening 127.0.0.1:PORT`, so a test can start it with --port 0 and read
// the port. Guest output and runner logs go to stderr.
//
// Unlike `jco serve`, a guest trap does not end the process: the request
// that trapped gets a 500 (unless the guest had already set the response
// head), and the next request runs on a fresh instance. The key-value store
// and config outlive instances, as they do in a runtime.
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";
import { transpile } from "@bytecodealliance/jco";
import { HTTPServer } from "@bytecodealliance/preview2-shim/http";
import { WASIShim } from "@bytecodealliance/preview2-shim/instantiation";
import { createConfigStore, readConfigEnv, readConfigFile } from "./config.mjs";
import { createKeyValue } from "./keyvalue.mjs";

const { values: args } = parseArgs({
  options: {
    component: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "0" },
    config: { type: "string" },
    "config-env": { type: "string" },
    "cache-dir": { type: "string" },
    "trace-config": { type: "boolean", default: false },
  },
});

// Exits with status 2. writeSync keeps the message when stderr is a pipe,
// which process.exit would otherwise cut off.
function fail(message) {
  writeSync(2, `jco runner: ${message}\n`);
  process.exit(2);
}

if (!args.component) {
  fail("missing --component PATH");
}
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  fail(`invalid --port ${JSON.stringify(args.port)}: want 0-65535`);
}

const config = new Map();
try {
  if (args["config-env"]) {
    for (const [key, value] of readConfigEnv(args["config-env"])) {
      config.set(key, value);
    }
  }
  if (args.config) {
    for (const [key, value] of readConfigFile(args.config)) {
      config.set(key, value);
    }
  }
} catch (err) {
  fail(`read config: ${err.message}`);
}

// The generated JavaScript module's name, the same for every component so
// that the cache key depends on the component's bytes only.
const moduleName = "guest";

const componentPath = resolve(args.component);
const instantiate = await loadComponent(componentPath, args["cache-dir"]);
const keyValue = createKeyValue(["default"]);
const configStore = createConfigStore(
  config,
  args["trace-config"] ? (key) => console.error(`jco runner: config read ${key}`) : undefined,
);
const types = new WASIShim().getImportObject();
const respondedParams = trackResponses(types["wasi:http/types"]);

// Returns the generated instantiate function for the component at path,
// transpiled in sync mode so the runner can make a fresh instance after a
// trap without awaiting.
async function loadComponent(path, cacheDir) {
  let bytes;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    fail(`read component: ${err.message}`);
  }
  let outDir;
  if (cacheDir) {
    outDir = await cachedTranspile(path, bytes, resolve(cacheDir));
  } else {
    outDir = mkdtempSync(join(tmpdir(), "edgetoken-jco-"));
    process.on("exit", () => rmSync(outDir, { recursive: true, force: true }));
    await transpileInto(path, bytes, outDir);
  }
  const modules = new Map();
  const getCoreModule = (file) => {
    let module = modules.get(file);
    if (module === undefined) {
      module = new WebAssembly.Module(readFileSync(join(outDir, file)));
      modules.set(file, module);
    }
    return module;
  };
  const generated = await import(pathToFileURL(join(outDir, `${moduleName}.js`)).href);
  return (imports) => generated.instantiate(getCoreModule, imports);
}

// Returns the cache entry for bytes under cacheDir, transpiling into it
// first when it is missing. Runners started at the same time may both
// transpile: each writes a directory of its own and renames it into place,
// and the one that loses the rename uses the winner's entry.
async function cachedTranspile(path, bytes, cacheDir) {
  const jcoVersion = JSON.parse(
    readFileSync(new URL("../../node_modules/@bytecodealliance/jco/package.json", import.meta.url), "utf8"),
  ).version;
  const key = createHash("sha256").update(`jco ${jcoVersion}\n`).update(bytes).digest("hex").slice(0, 32);
  const entry = join(cacheDir, key);
  if (existsSync(join(entry, `${moduleName}.js`))) {
    return entry;
  }
  mkdirSync(cacheDir, { recursive: true });
  const partial = mkdtempSync(join(cacheDir, "partial-"));
  await transpileInto(path, bytes, partial);
  try {
    renameSync(partial, entry);
  } catch (err) {
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(join(entry, `${moduleName}.js`))) {
      fail(`store transpiled component in ${entry}: ${err.message}`);
    }
  }
  return entry;
}

// Transpiles the component bytes read from path and writes the generated
// files into outDir.
async function transpileInto(path, bytes, outDir) {
  const started = performance.now();
  let result;
  try {
    result = await transpile(bytes, {
      name: moduleName,
      instantiation: "sync",
      noTypescript: true,
      quiet: true,
    });
  } catch (err) {
    fail(`transpile ${path}: ${err?.message ?? err}`);
  }
  for (const [file, data] of Object.entries(result.files)) {
    mkdirSync(dirname(join(outDir, file)), { recursive: true });
    writeFileSync(join(outDir, file), data);
  }
  const elapsed = Math.round(performance.now() - started);
  console.error(`jco runner: transpiled ${path} in ${elapsed} ms`);
}

// Wraps ResponseOutparam.set so the runner knows whether the guest set the
// response before it trapped. The wrapper replaces the static method on the
// shim's class, which the generated bindings call.
function trackResponses(httpTypes) {
  const responded = new WeakSet();
  const set = httpTypes.ResponseOutparam.set.bind(httpTypes.ResponseOutparam);
  httpTypes.ResponseOutparam.set = (param, response) => {
    responded.add(param);
    return set(param, response);
  };
  return responded;
}

function newInstance() {
  const imports = new WASIShim().getImportObject();
  imports["wasi:keyvalue/store"] = keyValue.store;
  imports["wasi:keyvalue/atomics"] = keyValue.atomics;
  imports["wasi:config/store"] = configStore;
  const instance = instantiate(imports);
  if (typeof instance.incomingHandler?.handle !== "function") {
    fail(`${componentPath} does not export wasi:http/incoming-handler`);
  }
  return instance;
}

// Sends a 500 with a JSON body in FastAPI's error shape through the same
// shim objects the guest uses.
function respondInternalError(param) {
  const httpTypes = types["wasi:http/types"];
  const body = new TextEncoder().encode('{"detail":"Internal Server Error"}');
  const headers = httpTypes.Fields.fromList([
    ["content-type", new TextEncoder().encode("application/json")],
    ["content-length", new TextEncoder().encode(String(body.length))],
  ]);
  const response = new httpTypes.OutgoingResponse(headers);
  response.setStatusCode(500);
  const outgoingBody = response.body();
  httpTypes.ResponseOutparam.set(param, { tag: "ok", val: response });
  const stream = outgoingBody.write();
  stream.blockingWriteAndFlush(body);
  stream[Symbol.dispose]?.();
  httpTypes.OutgoingBody.finish(outgoingBody, undefined);
}

let instance = newInstance();
let traps = 0;

const handler = {
  handle(request, responseOutparam) {
    if (instance === undefined) {
      instance = newInstance();
    }
    try {
      instance.incomingHandler.handle(request, responseOutparam);
    } catch (err) {
      traps++;
      instance = undefined;
      console.error(`jco runner: guest trapped (trap ${traps}), next request gets a new instance: ${err?.stack ?? err}`);
      if (respondedParams.has(responseOutparam)) {
        // NOTE: the response head is already out, so the client sees that
        // status with a truncated body.
        return;
      }
      try {
        respondInternalError(responseOutparam);
      } catch (respondErr) {
        console.error(`jco runner: send 500 after trap: ${respondErr?.stack ?? respondErr}`);
      }
    }
  },
};

const server = new HTTPServer(handler);
server.listen(port, args.host);
const address = server.address();
process.stdout.write(`listening ${args.host}:${address.port}\n`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    server.stop();
    process.exit(0);
  });
}
