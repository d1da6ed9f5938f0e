// Turns the guest core module into a WASI HTTP 0.2 component.
//
// Usage: node scripts/component/componentize.mjs [CORE [OUT]]
//   CORE defaults to build/guest.wasm (see the Makefile's guest target),
//   OUT defaults to build/edgetoken.component.wasm.
//
// Steps, all through jco's wasm-tools API (no other tool is needed):
//  1. Embed the world edgetoken:service/token-service (wit/world.wit and the
//     packages under wit/deps) into the core module. jco 1.35 panics when it
//     embeds a WIT directory, so the script merges the files into one source
//     text with a nested `package name@version { ... }` block per dependency.
//  2. Build the preview1 adapter from adapter/preview1.wat and embed its
//     world (adapter/world.wit) the same way.
//  3. Make the component with that adapter as wasi_snapshot_preview1, so it
//     imports only the world's interfaces plus stdout, stderr, clocks and
//     random from wasi:http/proxy@0.2.0.
//
// The output depends only on its inputs and the jco version, so a rebuild
// gives the same bytes.
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { componentEmbed, componentNew, parse } from "@bytecodealliance/jco";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..", "..");
const witDir = join(root, "wit");
const adapterDir = join(here, "adapter");

const PACKAGE_DECL = /^\s*package\s+([^;\s{]+)\s*;/m;

// Returns the WIT text of one file as a nested package block.
function nestPackage(path) {
  const text = readFileSync(path, "utf8");
  const match = PACKAGE_DECL.exec(text);
  if (match === null) {
    throw new Error(`no package declaration in ${path}`);
  }
  const body = text.slice(0, match.index) + text.slice(match.index + match[0].length);
  return `package ${match[1]} {\n${body.trim()}\n}\n`;
}

// Returns one WIT source text: the top-level file followed by every
// dependency package under wit/deps, in name order so the text is stable.
export function mergedWit(topLevelPath) {
  const depsDir = join(witDir, "deps");
  const parts = [readFileSync(topLevelPath, "utf8")];
  for (const entry of readdirSync(depsDir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!entry.isDirectory()) {
      continue;
    }
    const files = readdirSync(join(depsDir, entry.name)).filter((name) => name.endsWith(".wit")).sort();
    if (files.length !== 1) {
      throw new Error(`wit/deps/${entry.name} must contain exactly one .wit file, found ${files.length}`);
    }
    parts.push(nestPackage(join(depsDir, entry.name, files[0])));
  }
  return parts.join("\n");
}

export async function componentize(corePath, outPath) {
  const core = readFileSync(corePath);
  const embedded = await componentEmbed({
    binary: core,
    witSource: mergedWit(join(witDir, "world.wit")),
    world: "edgetoken:service/token-service",
  });

  const adapterCore = await parse(readFileSync(join(adapterDir, "preview1.wat"), "utf8"));
  const adapter = await componentEmbed({
    binary: adapterCore,
    witSource: mergedWit(join(adapterDir, "world.wit")),
    world: "edgetoken:adapter/preview1",
  });

  const component = await componentNew(embedded, [["wasi_snapshot_preview1", adapter]]);
  mkdirSync(dirname(outPath), { recursive: true });
  writeFileSync(outPath, component);
  return component.length;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const corePath = resolve(process.argv[2] ?? join(root, "build", "guest.wasm"));
  const outPath = resolve(process.argv[3] ?? join(root, "build", "edgetoken.component.wasm"));
  try {
    const size = await componentize(corePath, outPath);
    console.log(`wrote ${outPath} (${size} bytes)`);
  } catch (err) {
    console.error(`componentize ${corePath}: ${err?.message ?? err}`);
    process.exit(1);
  }
}
