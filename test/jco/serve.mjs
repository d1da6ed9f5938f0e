// Serves the edgetoken component over HTTP on jco, an independent WASI HTTP
// 0.2 runtime (JavaScript, preview2-shim), for tests.
//
// Usage:
//   node test/jco/serve.mjs --component build/edgetoken.component.wasm
//        [--host 127.0.0.1] [--port 0] [--config FILE.json] [--config-env PREFIX]
//
// --config names a JSON object of config store values (keys as the guest
// reads them, e.g. speech_resource_id); --config-env adds every environment
// variable starting with PREFIX, its rest lower-cased as the key. The file
// wins over the environment. The key-value store has one bucket, "default",
// in memory.
//
// When it listens, the runner prints one line to stdout,
// `listening 127.0.0.1:PORT`, so a test can start it with --port 0 and read
// the port. Guest output and runner logs go to stderr.
//
// Unlike `jco serve`, a guest trap does not end the process: the request
// that trapped gets a 500 (unless the guest had already set the response
// head), and the next request runs on a fresh instance. The key-value store
// and config outlive instances, as they do in a runtime.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
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

const componentPath = resolve(args.component);
const instantiate = await transpileComponent(componentPath);
const keyValue = createKeyValue(["default"]);
const configStore = createConfigStore(config);
const types = new WASIShim().getImportObject();
const respondedParams = trackResponses(types["wasi:http/types"]);

// Transpiles the component into a temporary directory and returns the
// generated instantiate function (sync mode, so the runner can make a fresh
// instance after a trap without awaiting).
async function transpileComponent(path) {
  const name = basename(path).replace(/\.wasm$/, "");
  const started = performance.now();
  let result;
  try {
    result = await transpile(readFileSync(path), {
      name,
      instantiation: "sync",
      noTypescript: true,
      quiet: true,
    });
  } catch (err) {
    fail(`transpile ${path}: ${err?.message ?? err}`);
  }
  const outDir = mkdtempSync(join(tmpdir(), "edgetoken-jco-"));
  process.on("exit", () => rmSync(outDir, { recursive: true, force: true }));
  for (const [file, bytes] of Object.entries(result.files)) {
    mkdirSync(dirname(join(outDir, file)), { recursive: true });
    writeFileSync(join(outDir, file), bytes);
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
  const generated = await import(pathToFileURL(join(outDir, `${name}.js`)).href);
  const elapsed = Math.round(performance.now() - started);
  console.error(`jco runner: transpiled ${path} in ${elapsed} ms`);
  return (imports) => generated.instantiate(getCoreModule, imports);
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
