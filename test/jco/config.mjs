// wasi:config/store@0.2.0-draft-2024-09-27 for the jco runner, over a fixed
// map of keys to values read at start.
import { readFileSync } from "node:fs";

// Returns the settings from a JSON file holding one object of string values,
// keyed by config store key (lower-case names such as speech_resource_id).
export function readConfigFile(path) {
  const parsed = JSON.parse(readFileSync(path, "utf8"));
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new Error(`config file ${path} must hold a JSON object`);
  }
  const values = new Map();
  for (const [key, value] of Object.entries(parsed)) {
    if (typeof value !== "string") {
      throw new Error(`config file ${path}: value of ${key} must be a string`);
    }
    values.set(key, value);
  }
  return values;
}

// Returns the settings from environment variables whose names start with
// prefix: PREFIX_SPEECH_RESOURCE_ID sets speech_resource_id, as Spin's
// SPIN_VARIABLE_ prefix does.
export function readConfigEnv(prefix, env = process.env) {
  const values = new Map();
  for (const [name, value] of Object.entries(env)) {
    if (name.startsWith(prefix) && name.length > prefix.length && value !== undefined) {
      values.set(name.slice(prefix.length).toLowerCase(), value);
    }
  }
  return values;
}

// Returns the wasi:config/store import over values. onRead, when given, is
// called with each key the guest reads ("*" for get-all), so a test can
// list the names the guest uses.
export function createConfigStore(values, onRead = () => {}) {
  return {
    get(key) {
      onRead(key);
      return values.get(key);
    },
    getAll() {
      onRead("*");
      return [...values.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    },
  };
}
