// Per-test ownership of clients: every client a test opens is closed when that test ends,
// even when tests of one file run concurrently (AsyncLocalStorage follows each test's
// async context).
import { AsyncLocalStorage } from "node:async_hooks";
import { test } from "node:test";

const storage = new AsyncLocalStorage();
const orphans = new Set(); // opened outside any scope (hooks); closed by closeOrphans()

/** Registers something with a close() method with the running test. */
export function track(closeable) {
  (storage.getStore() || orphans).add(closeable);
  return closeable;
}

function closeSet(set) {
  for (const c of set) {
    try { c.close(); } catch { /* already closed */ }
  }
  set.clear();
}

/** Runs fn in a fresh scope and closes whatever it opened, pass or fail. */
export async function withScope(fn) {
  const set = new Set();
  try {
    return await storage.run(set, fn);
  } finally {
    closeSet(set);
  }
}

export function closeOrphans() {
  closeSet(orphans);
}

/**
 * A `test` for files that run against one server: a default deadline, its own client scope,
 * and the server's output attached to any failure. getServer is called when the test runs.
 */
export function serverTest(getServer, defaults = { timeout: 15000 }) {
  return (name, fn, opts = {}) =>
    test(name, { ...defaults, ...opts }, (t) => getServer().guard(() => withScope(() => fn(t)))());
}
