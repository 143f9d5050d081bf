// Helpers around the stock socket.io-client: the transport x parser matrix every Socket.IO
// test runs over, connecting with deadlines, acks with deadlines, and comparing payloads
// that hold binary.
import assert from "node:assert/strict";
import { io, Manager } from "socket.io-client";
import msgpackParser from "socket.io-msgpack-parser";
import { track } from "./scope.mjs";

export { io, Manager, msgpackParser };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The three transport settings. `upgrade` is the default: polling first, then WebSocket. */
export const TRANSPORTS = [
  { name: "polling", opts: { transports: ["polling"] }, final: "polling" },
  { name: "websocket", opts: { transports: ["websocket"] }, final: "websocket" },
  { name: "upgrade", opts: {}, final: "websocket", upgrade: true },
];

export const PARSERS = {
  json: { name: "json", opts: {} },
  msgpack: { name: "msgpack", opts: { parser: msgpackParser } },
};

/**
 * Parsers under test: both unless E2E_PARSERS narrows them (e.g. `E2E_PARSERS=msgpack` against
 * a stand-in server that speaks only msgpack). The real server must pass with both.
 */
export function parsersUnderTest() {
  const names = (process.env.E2E_PARSERS || "json,msgpack").split(",").map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!PARSERS[n]) throw new Error(`E2E_PARSERS: unknown parser ${n}`);
  return names.map((n) => PARSERS[n]);
}

/** The pair of a transport and a parser, by name: combo("websocket", "msgpack"). */
export const combo = (transport, parser) => ({
  label: `${transport}/${parser}`,
  transport: TRANSPORTS.find((x) => x.name === transport),
  parser: PARSERS[parser],
});

export const hasParser = (name) => parsersUnderTest().some((p) => p.name === name);

/** Every (transport, parser) pair under test. */
export function matrix() {
  const out = [];
  for (const parser of parsersUnderTest()) {
    for (const transport of TRANSPORTS) {
      out.push({ label: `${transport.name}/${parser.name}`, transport, parser });
    }
  }
  return out;
}

/** Resolves with the listener arguments of the next `event`, or rejects after `ms`. */
export function waitFor(emitter, event, ms = 3000, what = "") {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`timed out after ${ms} ms waiting for '${event}'${what ? ` (${what})` : ""}`));
    }, ms);
    timer.unref(); // a pending wait must not keep a finished test file alive
    const on = (...args) => {
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(args);
    };
    emitter.on(event, on);
  });
}

/** Collects every emission of `event` on `emitter` (args arrays) into the returned array. */
export function record(emitter, event) {
  const seen = [];
  emitter.on(event, (...args) => seen.push(args));
  return seen;
}

/** Emits with an ack callback; resolves with all the ack's arguments, rejects after `ms`. */
export function emitAck(socket, event, ...args) {
  return emitAckWithin(3000, socket, event, ...args);
}

/** emitAck with its own deadline. A plain ack callback: socket.io-client 2.x has no timeout(). */
export function emitAckWithin(ms, socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for '${event}' within ${ms} ms`)), ms);
    socket.emit(event, ...args, (...resp) => {
      clearTimeout(timer);
      resolve(resp);
    });
  });
}

/**
 * Creates a client (not yet connected); it is closed when the running test ends (scope.mjs).
 * `auth` becomes the CONNECT payload; the `auth` event the server sends on connect is
 * captured from the start in `socket.authEvent` (a promise of its arguments).
 */
export function makeClient(server, { nsp = "/", combo, auth, opts = {}, manager } = {}) {
  const base = {
    forceNew: true,
    reconnection: false,
    timeout: 5000,
    ...(combo ? combo.transport.opts : {}),
    ...(combo ? combo.parser.opts : {}),
    ...opts,
  };
  if (auth !== undefined) base.auth = auth;
  let socket;
  if (manager) {
    socket = manager.socket(nsp, auth !== undefined ? { auth } : {});
  } else {
    socket = io(server.url + (nsp === "/" ? "" : nsp), base);
  }
  socket.authEvent = waitFor(socket, "auth", 5000, `server 'auth' event on ${nsp}`);
  socket.authEvent.catch(() => {}); // not every test waits for it
  track({ close: () => closeSocket(socket) });
  return socket;
}

/**
 * Connects and, for the default transports, waits until the engine has upgraded to
 * WebSocket. Rejects with the connect_error when the server refuses.
 */
export async function connect(server, options = {}) {
  const socket = makeClient(server, options);
  await whenConnected(socket, options.combo);
  return socket;
}

export async function whenConnected(socket, combo) {
  const engine = socket.io.engine;
  const upgraded = combo && combo.transport.upgrade
    ? new Promise((resolve, reject) => {
        if (engine.transport && engine.transport.name === "websocket") return resolve();
        const timer = setTimeout(() => reject(new Error(
          `no upgrade to websocket within 5 s (transport: ${engine.transport && engine.transport.name})`)), 5000);
        timer.unref();
        engine.once("upgrade", () => { clearTimeout(timer); resolve(); });
        engine.once("upgradeError", (err) => { clearTimeout(timer); reject(new Error(`upgradeError: ${err.message}`)); });
      })
    : null;
  if (upgraded) upgraded.catch(() => {});
  if (!socket.connected) {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => { cleanup(); reject(new Error("no connect within 5 s")); }, 5000);
      timer.unref();
      const ok = () => { cleanup(); resolve(); };
      const bad = (err) => {
        cleanup();
        const e = new Error(`connect_error: ${err && err.message}`);
        e.cause = err;
        e.data = err && err.data;
        reject(e);
      };
      const cleanup = () => { clearTimeout(timer); socket.off("connect", ok); socket.off("connect_error", bad); };
      socket.on("connect", ok);
      socket.on("connect_error", bad);
    });
  }
  if (upgraded) {
    await upgraded;
    assert.equal(socket.io.engine.transport.name, "websocket", "transport after upgrade");
  } else if (combo) {
    assert.equal(socket.io.engine.transport.name, combo.transport.final, "transport in use");
  }
  return socket;
}

/** Expects the server to refuse the connection; resolves with the connect_error. */
export async function connectError(server, options = {}) {
  const socket = makeClient(server, options);
  const [err] = await Promise.race([
    waitFor(socket, "connect_error", 5000, `connect_error on ${options.nsp || "/"}`),
    waitFor(socket, "connect", 5000).then(() => { throw new Error(`connected to ${options.nsp || "/"}, expected a refusal`); }),
  ]);
  socket.close();
  return err;
}

function closeSocket(s) {
  try { s.io.reconnection(false); } catch { /* ignore */ }
  try { s.close(); } catch { /* ignore */ }
  try { s.io.engine && s.io.engine.close(); } catch { /* ignore */ }
}

/** Replaces binary values (Buffer, ArrayBuffer, typed arrays) by {$bin: hex} for comparison. */
export function normalize(v) {
  if (Buffer.isBuffer(v)) return { $bin: v.toString("hex") };
  if (v instanceof ArrayBuffer) return { $bin: Buffer.from(v).toString("hex") };
  if (ArrayBuffer.isView(v)) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("hex") };
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === "object") {
    const o = {};
    for (const k of Object.keys(v)) o[k] = normalize(v[k]);
    return o;
  }
  return v;
}

/** Deep equality in which binary must come back as binary with the same bytes. */
export function assertSamePayload(actual, expected, msg) {
  assert.deepStrictEqual(normalize(actual), normalize(expected), msg);
}

/** Asserts a well-behaved client still gets its acks (used after every attack). */
export async function assertHealthy(socket, server, what = "") {
  assert.ok(server.alive(), `server process died${what ? ` after ${what}` : ""}`);
  const token = `still-alive-${Math.random().toString(36).slice(2)}`;
  const resp = await emitAck(socket, "message-with-ack", token, { n: 1 });
  assert.deepStrictEqual(resp, [token, { n: 1 }], `well-behaved client's ack${what ? ` after ${what}` : ""}`);
  assert.ok(socket.connected, "well-behaved client is still connected");
}
