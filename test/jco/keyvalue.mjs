// In-memory implementation of wasi:keyvalue/store and wasi:keyvalue/atomics
// @0.2.0-draft2 for the jco runner. The buckets live in the runner process,
// so they outlive a guest instance, as a runtime's store does.

// Thrown from an import to return the `err` case of its result: jco's
// bindings return the `payload` property as the error value.
export class StoreError extends Error {
  constructor(payload) {
    super(payload.tag + (payload.val === undefined ? "" : `: ${payload.val}`));
    this.payload = payload;
  }
}

// Returns the import object entries for both interfaces over one set of
// buckets. Only the identifiers in `allowed` can be opened, as a Spin
// component may open only the stores in its key_value_stores list.
export function createKeyValue(allowed = ["default"]) {
  const buckets = new Map(allowed.map((name) => [name, new Map()]));

  class Bucket {
    #entries;

    constructor(entries) {
      this.#entries = entries;
    }

    get(key) {
      const value = this.#entries.get(key);
      return value === undefined ? undefined : value.slice();
    }

    set(key, value) {
      this.#entries.set(key, Uint8Array.from(value));
    }

    delete(key) {
      this.#entries.delete(key);
    }

    exists(key) {
      return this.#entries.has(key);
    }

    // Returns every key in one page: the store is small and local.
    listKeys(cursor) {
      if (cursor !== undefined) {
        throw new StoreError({ tag: "other", val: `unknown cursor ${JSON.stringify(cursor)}` });
      }
      return { keys: [...this.#entries.keys()].sort(), cursor: undefined };
    }

    // Adds delta to the counter under key, stored as decimal text. An
    // absent key counts as 0.
    increment(key, delta) {
      const current = this.#entries.get(key);
      let value = 0n;
      if (current !== undefined) {
        const text = new TextDecoder().decode(current);
        if (!/^[0-9]+$/.test(text)) {
          throw new StoreError({ tag: "other", val: `value under ${key} is not a counter` });
        }
        value = BigInt(text);
      }
      value = BigInt.asUintN(64, value + BigInt(delta));
      this.#entries.set(key, new TextEncoder().encode(value.toString()));
      return value;
    }
  }

  const store = {
    Bucket,
    open(identifier) {
      const entries = buckets.get(identifier);
      if (entries === undefined) {
        throw new StoreError({ tag: "no-such-store" });
      }
      return new Bucket(entries);
    },
  };

  const atomics = {
    increment(bucket, key, delta) {
      if (!(bucket instanceof Bucket)) {
        throw new StoreError({ tag: "other", val: "not a bucket of this store" });
      }
      return bucket.increment(key, delta);
    },
  };

  return { store, atomics, buckets };
}
