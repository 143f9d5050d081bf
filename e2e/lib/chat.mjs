// Helpers for the chat app's end-to-end tests (chat-*.test.mjs): a chat server with its own
// data directory, HS256 tokens minted with node:crypto, clients that authenticate, acks that
// resolve to their payload, and field-by-field checks of the payloads of docs/events.md.
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { startServer } from "./server.mjs";
import {
  connect, connectError, emitAckWithin, waitFor, record, sleep, TRANSPORTS, PARSERS,
  parsersUnderTest,
} from "./client.mjs";

export { waitFor, record, sleep };

export const SECRET = "e2e-chat-secret-" + randomBytes(8).toString("hex");

/** ISO-8601 UTC with milliseconds, as JSON.stringify(new Date()) writes it. */
export const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/**
 * How long to wait for something that must come. Generous: it only matters when a test fails,
 * and a loaded machine (the coverage build, other test files running) can be slow.
 */
export const WAIT_MS = 8000;

/** How long a client must stay silent to count as "did not receive". */
export const QUIET_MS = 300;

/**
 * Abuse protection (docs/security.md) (rates, connections per IP, the auth-failure ban) is not what
 * these tests are about, and they open many sockets from 127.0.0.1. baseArgs() of server.mjs
 * turns the limits off with flags; the same through the environment is a fallback for a
 * server.mjs without them (EDGEIO_* variables of flags a binary lacks are ignored).
 */
export const NO_LIMITS_ENV = {
  EDGEIO_RATE_MESSAGES: "0",
  EDGEIO_RATE_EVENTS: "0",
  EDGEIO_RATE_HANDSHAKES: "0",
  EDGEIO_MAX_CONNS_PER_IP: "0",
  EDGEIO_AUTH_FAIL_LIMIT: "0",
};

/** The chat flags every chat test server gets (timings short enough for tests). */
export function chatArgs(dataDir) {
  return [
    "--app", "chat",
    "--jwt-secret", SECRET,
    "--data-dir", dataDir,
    "--presence-grace", "300ms",
    "--typing-timeout", "500ms",
    "--receipt-window", "50ms",
    // Longer heartbeats than the echo suite's: a loaded machine must not drop chat sockets.
    "--ping-interval", "5s",
    "--ping-timeout", "5s",
    "--connect-timeout", "5s",
  ];
}

export function makeDataDir() {
  return mkdtempSync(path.join(os.tmpdir(), "edgeio-chat-data-"));
}

/**
 * Starts `edgeio --app chat` with its own data directory (or `opts.dataDir`, which is then
 * left in place). `stop()` also removes a data directory it made.
 */
export async function startChat(extraArgs = [], opts = {}) {
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir || makeDataDir();
  let server;
  try {
    server = await startServer([...chatArgs(dataDir), ...extraArgs], {
      ...opts,
      env: { ...NO_LIMITS_ENV, ...(opts.env || {}) },
    });
  } catch (err) {
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const stopServer = server.stop;
  server.dataDir = dataDir;
  server.stop = async () => {
    await stopServer();
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  };
  return server;
}

// ---- tokens ----

const b64url = (buf) => Buffer.from(buf).toString("base64url");

/** Signs a JWT with HMAC (HS256 by default) over the given header and claims. */
export function signJwt(claims, { secret = SECRET, alg = "HS256", header } = {}) {
  const h = b64url(JSON.stringify(header || { alg, typ: "JWT" }));
  const p = b64url(JSON.stringify(claims));
  const hash = { HS256: "sha256", HS384: "sha384", HS512: "sha512" }[alg] || "sha256";
  const sig = b64url(createHmac(hash, secret).update(`${h}.${p}`).digest());
  return `${h}.${p}.${sig}`;
}

/** A valid token for user `sub` (name defaults to the capitalised sub, ttl 1 h). */
export function tokenFor(sub, { name, rooms, ttl = 3600, exp, extra = {}, secret, alg } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub, iat: now, exp: exp ?? now + ttl, ...extra };
  if (name !== null) claims.name = name ?? defaultName(sub);
  if (rooms !== undefined) claims.rooms = rooms;
  return signJwt(claims, { secret, alg });
}

export const defaultName = (sub) => "Name " + sub;

let counter = 0;
/** A name no other test of this run uses (room ids and user ids). */
export function uniq(prefix = "x") {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${randomBytes(3).toString("hex")}`;
}

// ---- clients ----

/** Full matrix for the core flows. */
export function chatMatrix() {
  const out = [];
  for (const parser of parsersUnderTest()) {
    for (const transport of TRANSPORTS) out.push({ label: `${transport.name}/${parser.name}`, transport, parser });
  }
  return out;
}

/** polling and websocket with each parser: no upgrade. */
export function smallMatrix() {
  const out = [];
  for (const parser of parsersUnderTest()) {
    for (const transport of TRANSPORTS.filter((t) => !t.upgrade)) {
      out.push({ label: `${transport.name}/${parser.name}`, transport, parser });
    }
  }
  return out;
}

/** JSON over WebSocket: the long tail (falls back to msgpack when E2E_PARSERS narrows). */
export const JSON_WS = {
  label: "websocket/json",
  transport: TRANSPORTS.find((t) => t.name === "websocket"),
  parser: parsersUnderTest()[0] || PARSERS.json,
};

/**
 * Connects user `sub` to the chat server. `via` says where the token goes: "auth" (CONNECT
 * payload, the default), "header" (Authorization: Bearer) or "query" (token=...). `recover`
 * asks for connection state recovery (`recovery: true` in the CONNECT payload, so that room
 * broadcasts carry their offsets); `auth` adds fields to the CONNECT payload.
 * Returns the socket, with `user` = { id, name } attached.
 */
export async function chatConnect(server, sub, { combo = JSON_WS, name, rooms, token, via = "auth", recover = false, auth: fields = {}, opts = {} } = {}) {
  const tok = token ?? tokenFor(sub, { name, rooms });
  const o = { ...opts };
  let auth = { ...fields, ...(recover ? { recovery: true } : {}) };
  if (via === "auth") auth = { ...auth, token: tok };
  else if (via === "header") o.extraHeaders = { ...(o.extraHeaders || {}), Authorization: `Bearer ${tok}` };
  else if (via === "query") o.query = { ...(o.query || {}), token: tok };
  else throw new Error(`unknown via ${via}`);
  if (Object.keys(auth).length === 0) auth = undefined;
  const socket = await connect(server, { combo, auth, opts: o });
  socket.user = { id: sub, name: name === undefined ? defaultName(sub) : name };
  // Kept for failure messages: a socket that went away says why.
  socket.on("disconnect", (reason, desc) => {
    socket.lastDisconnect = `${reason}${desc && desc.description ? ` (${desc.description})` : ""}`;
  });
  return socket;
}

/** Expects a refusal; resolves with the connect_error. */
export function chatRefused(server, { combo = JSON_WS, token, via = "auth", opts = {} } = {}) {
  const o = { ...opts };
  let auth;
  if (via === "auth") auth = token === undefined ? undefined : { token };
  else if (via === "header") o.extraHeaders = { Authorization: `Bearer ${token}` };
  else if (via === "query") o.query = { token };
  return connectError(server, { combo, auth, opts: o });
}

/** Emits with an ack and resolves with the ack's one argument (asserting there is one). */
export async function ack(socket, event, ...args) {
  const resp = await emitAckWithin(WAIT_MS, socket, event, ...args).catch((err) => {
    if (socket.lastDisconnect) err.message += ` (the socket was disconnected: ${socket.lastDisconnect})`;
    throw err;
  });
  assert.equal(resp.length, 1, `ack of '${event}' has one argument, got ${JSON.stringify(resp)}`);
  return resp[0];
}

/** ack() that also asserts ok: true. */
export async function ackOk(socket, event, ...args) {
  const r = await ack(socket, event, ...args);
  assert.ok(r && r.ok === true, `'${event}' ack should be ok, got ${JSON.stringify(r)}`);
  return r;
}

/** Joins a room (ok asserted) and returns the ack. */
export const join = (socket, room) => ackOk(socket, "join-room", room);

/** Sends a message (ok asserted) and returns the stored MessagePayload. */
export async function send(socket, roomId, content, extra = {}) {
  const r = await ackOk(socket, "send-message", { roomId, content, ...extra });
  return r.message;
}

/** get-history ack (ok asserted). */
export const history = (socket, q) => ackOk(socket, "get-history", q);

/** Every message id of a room, oldest first, following before-cursors. */
export async function allIds(socket, roomId) {
  const out = [];
  let q = { roomId, limit: 100 };
  for (;;) {
    const r = await history(socket, q);
    out.unshift(...r.messages.map((m) => m.id));
    if (!r.hasMore || r.messages.length === 0) return out;
    q = { roomId, limit: 100, before: r.messages[0].id };
  }
}

/** Asserts the exact key set of an object (order-insensitive). */
export function assertKeys(obj, keys, what = "payload") {
  assert.ok(obj && typeof obj === "object" && !Array.isArray(obj), `${what} is an object: ${JSON.stringify(obj)}`);
  assert.deepStrictEqual(Object.keys(obj).sort(), [...keys].sort(), `${what} keys (got ${JSON.stringify(obj)})`);
}

export function assertTime(v, what = "time") {
  assert.equal(typeof v, "string", `${what} is a string`);
  assert.match(v, ISO, `${what} is ISO-8601 UTC with milliseconds`);
  assert.ok(!Number.isNaN(Date.parse(v)), `${what} parses`);
  // sane: within a day of now
  assert.ok(Math.abs(Date.parse(v) - Date.now()) < 86400000, `${what} is about now: ${v}`);
}

/**
 * Checks a MessagePayload field by field. `exp` lists the expected values; optional fields
 * (attachments, clientMsgId, editedAt) must be present exactly when `exp` has them.
 */
export function assertMessage(m, exp, what = "message") {
  const keys = ["id", "roomId", "userId", "username", "content", "createdAt"];
  for (const k of ["attachments", "clientMsgId", "editedAt"]) if (exp[k] !== undefined) keys.push(k);
  assertKeys(m, keys, what);
  assert.equal(typeof m.id, "string", `${what}.id is a string`);
  assert.ok(m.id.length > 0, `${what}.id is not empty`);
  if (exp.id !== undefined) assert.equal(m.id, exp.id, `${what}.id`);
  assert.equal(m.roomId, exp.roomId, `${what}.roomId`);
  assert.equal(m.userId, exp.userId, `${what}.userId`);
  assert.equal(m.username, exp.username, `${what}.username`);
  assert.equal(m.content, exp.content, `${what}.content`);
  assertTime(m.createdAt, `${what}.createdAt`);
  if (exp.createdAt !== undefined) assert.equal(m.createdAt, exp.createdAt, `${what}.createdAt`);
  if (exp.clientMsgId !== undefined) assert.equal(m.clientMsgId, exp.clientMsgId, `${what}.clientMsgId`);
  if (exp.editedAt !== undefined) {
    assertTime(m.editedAt, `${what}.editedAt`);
    if (typeof exp.editedAt === "string") assert.equal(m.editedAt, exp.editedAt, `${what}.editedAt`);
  }
}

/** A tombstone: exactly { id, roomId, deleted: true, deletedAt }. */
export function assertTombstone(t, { id, roomId }, what = "tombstone") {
  assertKeys(t, ["id", "roomId", "deleted", "deletedAt"], what);
  assert.equal(t.id, id, `${what}.id`);
  assert.equal(t.roomId, roomId, `${what}.roomId`);
  assert.equal(t.deleted, true, `${what}.deleted`);
  assertTime(t.deletedAt, `${what}.deletedAt`);
}

/** PresenceInfo { userId, username, status, lastSeen? }; lastSeen only when `withLastSeen`. */
export function assertPresenceInfo(p, { userId, username, status, withLastSeen = false }, what = "PresenceInfo") {
  assertKeys(p, withLastSeen ? ["userId", "username", "status", "lastSeen"] : ["userId", "username", "status"], what);
  assert.equal(p.userId, userId, `${what}.userId`);
  assert.equal(p.username, username, `${what}.username`);
  assert.equal(p.status, status, `${what}.status`);
  if (withLastSeen) assertTime(p.lastSeen, `${what}.lastSeen`);
}

/** An error ack: exactly { ok: false, error: { code, message } } with the given code. */
export function assertErrorAck(r, code, what = "ack") {
  assertKeys(r, ["ok", "error"], what);
  assert.equal(r.ok, false, `${what}.ok`);
  assertKeys(r.error, ["code", "message"], `${what}.error`);
  assert.equal(r.error.code, code, `${what}.error.code (${r.error.message})`);
  assert.equal(typeof r.error.message, "string", `${what}.error.message is a string`);
  assert.ok(r.error.message.length > 0, `${what}.error.message is not empty`);
}

/** Emits with an ack and expects the error `code`. */
export async function expectAckError(socket, code, event, ...args) {
  const r = await ack(socket, event, ...args);
  assertErrorAck(r, code, `'${event}' ack for ${JSON.stringify(args)}`);
  return r;
}

/** Emits without an ack and expects an `error` event { message, code } with `code`. */
export async function expectErrorEvent(socket, code, event, ...args) {
  const got = waitFor(socket, "error", WAIT_MS, `error event after '${event}'`);
  socket.emit(event, ...args);
  const [e, ...rest] = await got;
  assert.equal(rest.length, 0, "error event has one argument");
  assertKeys(e, ["message", "code"], `error event for '${event}'`);
  assert.equal(e.code, code, `error event code for '${event}' ${JSON.stringify(args)} (${e.message})`);
  assert.equal(typeof e.message, "string");
  assert.ok(e.message.length > 0);
  return e;
}

/** Asserts nothing was recorded in `seen` during the next QUIET_MS (or `ms`). */
export async function assertQuiet(seen, what, ms = QUIET_MS) {
  await sleep(ms);
  assert.equal(seen.length, 0, `${what}: expected nothing, got ${JSON.stringify(seen)}`);
}

/** Waits until `pred()` is true or fails after `ms`. */
export async function until(pred, ms = WAIT_MS, what = "condition") {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

/** Waits for the next `event` on socket whose payload satisfies `pred`. */
export function waitForMatch(socket, event, pred, ms = WAIT_MS, what = "") {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, on);
      reject(new Error(`timed out after ${ms} ms waiting for a matching '${event}'${what ? ` (${what})` : ""}`));
    }, ms);
    timer.unref();
    const on = (...args) => {
      if (!pred(...args)) return;
      clearTimeout(timer);
      socket.off(event, on);
      resolve(args);
    };
    socket.on(event, on);
  });
}
