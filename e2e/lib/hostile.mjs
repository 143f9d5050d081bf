// Helpers for the hostile-client suite (hostile-*.test.mjs): a chat server with the one
// protection a test is about turned on, clients bound to distinct loopback source addresses
// (127.0.0.x) so that per-IP limits and bans are testable and tests do not ban each other,
// raw HTTP / WebSocket / TCP attackers, honest-client checks, stored-history snapshots, the
// admin listener (metrics, bans) and the server's RSS.
//
// Self-contained on purpose: it uses only lib/server.mjs (to start the binary) and the npm
// packages, and mints its own HS256 tokens with node:crypto.
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { test } from "node:test";
import WebSocket from "ws";
import { io } from "socket.io-client";
import { startServer } from "./server.mjs";
import { waitForMatch as chatWaitForMatch } from "./chat.mjs";

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Like sleep, for the losing side of a race: it does not keep a finished file alive. */
export const after = (ms, value) => new Promise((r) => setTimeout(() => r(value), ms).unref());

/** Honest clients must get each message within this (ms). */
export const LATENCY_MS = 1000;

// ---- tokens ---------------------------------------------------------------------------

export const SECRET = "e2e-hostile-secret-" + randomBytes(8).toString("hex");
const b64url = (v) => Buffer.from(v).toString("base64url");

/** An HS256 JWT over `claims`. */
export function signJwt(claims, secret = SECRET) {
  const h = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const p = b64url(JSON.stringify(claims));
  const sig = b64url(createHmac("sha256", secret).update(`${h}.${p}`).digest());
  return `${h}.${p}.${sig}`;
}

/** A valid token of user `sub` (1 h). */
export function tokenFor(sub, { name = `Name ${sub}`, secret = SECRET, ttl = 3600 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  return signJwt({ sub, name, iat: now, exp: now + ttl }, secret);
}

/** A well-formed token signed with the wrong secret: an authentication failure. */
export const badToken = (sub) => tokenFor(sub, { secret: "not-the-secret" });

let counter = 0;
/** A name no other test of this run uses. */
export function uniq(prefix = "x") {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}-${randomBytes(2).toString("hex")}`;
}

// ---- the server -------------------------------------------------------------------------

/**
 * The chat flags of every hostile test server. baseArgs() (server.mjs) already turns every
 * per-IP limit and rate off; a test adds the protection it tests after these (later wins).
 * Heartbeats are slow enough that a test's deliberately idle raw clients are not timed out.
 */
function hostileArgs(dataDir) {
  return [
    "--app", "chat",
    "--jwt-secret", SECRET,
    "--data-dir", dataDir,
    "--presence-grace", "200ms",
    "--ping-interval", "5s",
    "--ping-timeout", "5s",
    "--connect-timeout", "5s",
  ];
}

/** Starts `edgeio --app chat` with its own data directory; finds its admin listener. */
export async function startHostile(extra = []) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), "edgeio-hostile-"));
  let server;
  try {
    server = await startServer([...hostileArgs(dataDir), ...extra]);
  } catch (err) {
    rmSync(dataDir, { recursive: true, force: true });
    throw err;
  }
  const stop = server.stop;
  server.stop = async () => {
    await stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  server.dataDir = dataDir;
  const deadline = Date.now() + 5000;
  for (;;) {
    const m = /admin listening on (\S+)/.exec(server.logs());
    if (m) { server.adminUrl = `http://${m[1]}`; break; }
    if (Date.now() > deadline) { await server.stop(); throw new Error(`no admin listener in the log:\n${server.logs()}`); }
    await sleep(20);
  }
  /** VmRSS of the server process, in kB. */
  server.rssKB = () => {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.proc.pid}/status`, "utf8"));
    return m ? Number(m[1]) : NaN;
  };
  /** GET on the admin listener. */
  server.admin = (p, init = {}) => request(server.adminUrl + p, init);
  // the --admin-token among the flags, if any: /metrics asks for it
  const t = extra.indexOf("--admin-token");
  server.adminAuth = t >= 0 ? { Authorization: `Bearer ${extra[t + 1]}` } : {};
  /** The metrics page's text (asserting 200). */
  server.metricsText = async () => {
    const r = await server.admin("/metrics", { headers: server.adminAuth });
    assert.equal(r.status, 200, "GET /metrics");
    return r.text;
  };
  /** The value of one metric sample (0 when absent), e.g. metric("edgeio_refusals_total", {reason: "banned"}). */
  server.metric = async (name, labels = {}) => metricValue(await server.metricsText(), name, labels);
  return server;
}

/** One sample of a Prometheus text exposition (0 when absent). */
export function metricValue(text, name, labels = {}) {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = {};
    for (const [, k, v] of (m[3] || "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[k] = v;
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[4]);
  }
  return 0;
}

/**
 * A test that owns what it opens: `fn(ctx)` gets ctx.start(flags) (a server stopped at the
 * end), ctx.track(closeable) and ctx.server (the last started). On failure the error carries
 * the server's output and whether it is still running.
 */
export function hostileTest(name, fn, { timeout = 20000, ...opts } = {}) {
  return test(name, { timeout, ...opts }, async (t) => {
    const closers = [];
    const servers = [];
    const ctx = {
      t,
      server: null,
      track(c) { closers.push(c); return c; },
      async start(flags = []) {
        const s = await startHostile(flags);
        servers.push(s);
        ctx.server = s;
        return s;
      },
    };
    try {
      await fn(ctx);
    } catch (err) {
      for (const s of servers) {
        const state = s.alive() ? "still running" : "EXITED";
        const log = s.logs();
        const tail = log.length > 6000 ? "…" + log.slice(-6000) : log;
        const note = `\n--- server ${state}: ${s.args.join(" ")}\n--- server output (tail) ---\n${tail}--- end ---`;
        if (err && typeof err === "object") { try { err.message += note; } catch { /* read-only */ } }
      }
      throw err;
    } finally {
      for (const c of closers.reverse()) { try { c.close(); } catch { /* gone */ } }
      for (const s of servers) await s.stop();
    }
  });
}

// ---- plain HTTP from a chosen source address -------------------------------------------

/**
 * One HTTP request (a fresh connection, so `ip` is its source address).
 * Resolves with {status, headers, text, json, body}; rejects on a network error or after `ms`.
 */
export function request(url, { ip, method = "GET", headers = {}, body, ms = 3000 } = {}) {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const h = { Connection: "close", ...headers };
    if (body !== undefined) h["Content-Length"] = Buffer.byteLength(body);
    const req = http.request({
      host: u.hostname, port: u.port, path: u.pathname + u.search, method, headers: h,
      localAddress: ip, agent: false,
    }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks);
        const text = body.toString();
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode, headers: res.headers, text, json, body });
      });
      res.on("error", reject);
    });
    req.setTimeout(ms, () => req.destroy(new Error(`${method} ${url} from ${ip || "default"}: no answer within ${ms} ms`)));
    req.on("error", reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

export const pollUrl = (server, { sid, query = "" } = {}) =>
  `${server.url}/socket.io/?EIO=4&transport=polling${sid ? `&sid=${encodeURIComponent(sid)}` : ""}${query ? `&${query}` : ""}`;

/**
 * A polling handshake from `ip`: {status, sid?, refused, body}. A handshake the server refuses
 * (a rate, a cap, a ban, the denylist, the origin) succeeds with a refused session, whose sid
 * starts with "r." and whose CONNECT gets the refusal (pollRefusal); `refused` says so.
 */
export async function pollOpen(server, ip, { headers = {} } = {}) {
  const r = await request(pollUrl(server), { ip, headers });
  let sid;
  if (r.status === 200 && r.text.startsWith("0")) sid = JSON.parse(r.text.slice(1).split("\x1e")[0]).sid;
  return { ...r, sid, refused: typeof sid === "string" && sid.startsWith("r.") };
}

/** Closes a polling session (Engine.IO close packet "1"). */
export async function pollClose(server, ip, sid) {
  const r = await request(pollUrl(server, { sid }), { ip, method: "POST", body: "1", headers: { "Content-Type": "text/plain" } });
  assert.equal(r.status, 200, `close of polling session ${sid}: HTTP ${r.status} ${r.text}`);
}

/**
 * A refused polling handshake from `ip` taken through as a stock client does: the handshake
 * (a refused session), the CONNECT, the poll that answers it with a CONNECT_ERROR, and the
 * poll that closes the session. Resolves with the CONNECT_ERROR's {message, data}.
 */
export async function pollRefusal(server, ip, { headers = {}, what = "refusal" } = {}) {
  const open = await pollOpen(server, ip, { headers });
  assert.equal(open.status, 200, `${what}: the handshake of a refused session is answered (HTTP ${open.status} ${open.text})`);
  assert.ok(open.refused, `${what}: a refused session (sid r.*), got ${open.text}`);
  assert.equal(JSON.parse(open.text.slice(1)).upgrades.length, 0, `${what}: a refused session offers no upgrade`);
  const post = await request(pollUrl(server, { sid: open.sid }), { ip, method: "POST", body: "40", headers: { ...headers, "Content-Type": "text/plain" } });
  assert.equal(post.status, 200, `${what}: the CONNECT is taken (HTTP ${post.status} ${post.text})`);
  const poll = await request(pollUrl(server, { sid: open.sid }), { ip, headers });
  assert.ok(poll.status === 200 && poll.text.startsWith("44"), `${what}: the poll carries a CONNECT_ERROR, got HTTP ${poll.status} ${poll.text}`);
  const last = await request(pollUrl(server, { sid: open.sid }), { ip, headers });
  assert.equal(last.text, "1", `${what}: then the close packet`);
  return JSON.parse(poll.text.slice(2));
}

/**
 * A refused WebSocket handshake from `ip`, as a stock client sees it: the upgrade and the
 * open packet (a refused session), then the CONNECT_ERROR answering its CONNECT. Resolves
 * with the CONNECT_ERROR's {message, data}.
 */
export async function wsRefusal(ctx, server, ip, { headers = {}, what = "refusal" } = {}) {
  const w = new RawWs(ctx, server, { ip, headers });
  await w.opened.catch((e) => assert.fail(`${what}: the WebSocket of a refused session opens, got ${e.message}`));
  const open = await w.next((f) => typeof f === "string" && f.startsWith("0"), 3000, "open packet");
  assert.match(JSON.parse(open.slice(1)).sid, /^r\./, `${what}: a refused session`);
  w.send("40");
  const ce = await w.next((f) => typeof f === "string" && f.startsWith("4"), 3000, "CONNECT_ERROR");
  w.close();
  assert.match(ce, /^44/, `${what}: a CONNECT_ERROR, got ${ce}`);
  return JSON.parse(ce.slice(2));
}

/**
 * Asserts a refusal told in the protocol: a CONNECT_ERROR (or socket.io-client's connect_error)
 * with a message and data.code, and data.retryAfterMs where one is wanted (retryAfterMs: a
 * number within tolerance, or true for any positive one).
 */
export function assertConnectError(err, code, what = "refusal", { retryAfterMs, tolerance = 1000 } = {}) {
  assert.ok(err && typeof err.message === "string" && err.message.length > 0, `${what}: a message, got ${JSON.stringify(err)}`);
  assert.equal(err.data && err.data.code, code, `${what}: data.code (${err.message}, ${JSON.stringify(err.data)})`);
  const got = err.data.retryAfterMs;
  if (retryAfterMs === undefined) assert.equal(got, undefined, `${what}: no retryAfterMs`);
  else if (retryAfterMs === true) assert.ok(got > 0, `${what}: retryAfterMs, got ${JSON.stringify(err.data)}`);
  else assert.ok(Math.abs(got - retryAfterMs) <= tolerance, `${what}: retryAfterMs ${got}, want about ${retryAfterMs}`);
}

/**
 * Asserts a refusal answered over HTTP (a request of an existing session from a refused
 * address or origin; a server draining or full): the status, and the JSON body
 * {code, message, reason, data: {code, retryAfterMs?}}.
 */
export function assertRefusal(r, status, reason, what = "refusal") {
  assert.equal(r.status, status, `${what}: HTTP status (body ${r.text})`);
  assert.ok(r.json && typeof r.json === "object", `${what}: JSON body, got ${JSON.stringify(r.text)}`);
  assert.equal(typeof r.json.message, "string", `${what}: body message`);
  assert.ok(r.json.data && typeof r.json.data.code === "string", `${what}: body data.code`);
  if (reason) assert.equal(r.json.reason, reason, `${what}: body reason`);
}

// ---- socket.io-client from a chosen source address -------------------------------------

/**
 * A socket.io-client socket from `ip` (not awaited). WebSocket only by default; polling gets
 * an http.Agent bound to `ip` (the polling transport has no localAddress option).
 */
export function makeSocket(ctx, server, { ip, token, auth, transports = ["websocket"], extraHeaders, opts = {} } = {}) {
  assert.ok(ip, "every client has its own source address");
  const a = auth ?? (token !== undefined ? { token } : undefined);
  const s = io(server.url, {
    forceNew: true,
    reconnection: false,
    timeout: 5000,
    transports,
    localAddress: ip,
    agent: new http.Agent({ localAddress: ip }),
    ...(a !== undefined ? { auth: a } : {}),
    ...(extraHeaders ? { extraHeaders } : {}),
    ...opts,
  });
  s.ip = ip;
  // every disconnect reason, from the start
  s.disconnects = [];
  s.on("disconnect", (reason, desc) => s.disconnects.push({ reason, desc, at: Date.now() }));
  ctx.track({ close: () => { try { s.close(); } catch { /* gone */ } } });
  return s;
}

/** Resolves {ok: true} on connect or {ok: false, err} on connect_error (5 s deadline). */
export function outcome(socket, ms = 5000) {
  return new Promise((resolve, reject) => {
    if (socket.connected) return resolve({ ok: true });
    const timer = setTimeout(() => { done(); reject(new Error(`neither connect nor connect_error within ${ms} ms`)); }, ms);
    timer.unref(); // a deadline: it must not keep a finished file alive
    const ok = () => { done(); resolve({ ok: true }); };
    const bad = (err) => { done(); resolve({ ok: false, err }); };
    const done = () => { clearTimeout(timer); socket.off("connect", ok); socket.off("connect_error", bad); };
    socket.on("connect", ok);
    socket.on("connect_error", bad);
  });
}

/** A connected, authenticated socket of user `sub` from `ip`. */
export async function connectUser(ctx, server, sub, ip, opts = {}) {
  const s = makeSocket(ctx, server, { ip, token: tokenFor(sub), ...opts });
  const o = await outcome(s);
  if (!o.ok) throw new Error(`user ${sub} from ${ip} refused: ${o.err && o.err.message} ${JSON.stringify(o.err && o.err.data)}`);
  s.user = sub;
  return s;
}

/** Expects a refused connection; resolves with the connect_error. */
export async function refusedUser(ctx, server, ip, opts = {}) {
  const s = makeSocket(ctx, server, { ip, ...opts });
  const o = await outcome(s);
  s.close();
  assert.equal(o.ok, false, `a connection from ${ip} should have been refused`);
  return o.err;
}

/** Emits with an ack; resolves with the ack's argument. */
export async function ack(socket, event, ...args) {
  return socket.timeout(5000).emitWithAck(event, ...args);
}

export async function ackOk(socket, event, ...args) {
  const r = await ack(socket, event, ...args);
  assert.ok(r && r.ok === true, `'${event}' from ${socket.ip} should be ok, got ${JSON.stringify(r)}`);
  return r;
}

export const join = (socket, room) => ackOk(socket, "join-room", room);

/** Asserts an ack is {ok:false, error:{code, ...}}. */
export function assertAckError(r, code, what = "ack") {
  assert.ok(r && r.ok === false && r.error, `${what}: expected an error ack, got ${JSON.stringify(r)}`);
  assert.equal(r.error.code, code, `${what}: error code (${JSON.stringify(r.error)})`);
  assert.equal(typeof r.error.message, "string", `${what}: error.message`);
}

/** Every stored message of a room, oldest first (full payloads, following `before`). */
export async function storedHistory(socket, roomId, { limit = 100 } = {}) {
  const out = [];
  let q = { roomId, limit };
  for (;;) {
    const r = await ackOk(socket, "get-history", q);
    out.unshift(...r.messages);
    if (!r.hasMore || r.messages.length === 0) return out;
    q = { roomId, limit, before: r.messages[0].id };
  }
}

/** Waits for the first `event` on `socket` whose payload satisfies pred. */
export function waitForMatch(socket, event, pred, ms, what = "") {
  const who = socket.user || socket.ip;
  return chatWaitForMatch(socket, event, pred, ms, who ? `${who}${what ? `: ${what}` : ""}` : what);
}

/** Waits until pred() holds, or fails after ms. */
export async function until(pred, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

// ---- the honest side ------------------------------------------------------------------

/**
 * A room with honest users, each on its own source address: `ips` gives one address per
 * honest user; `client` are their connectUser options (e.g. a parser). Returns {roomId,
 * members, check(what), snapshot()}.
 */
export async function honestRoom(ctx, server, ips, { roomId = uniq("room"), client = {} } = {}) {
  const members = [];
  for (const ip of ips) {
    const s = await connectUser(ctx, server, uniq("honest"), ip, client);
    await join(s, roomId);
    members.push(s);
  }
  return {
    roomId,
    members,
    /** Stored history of the room as an honest member sees it. */
    snapshot: () => storedHistory(members[0], roomId),
    /** After an attack: see assertHonest. */
    check: (what, opts) => assertHonest(server, members, roomId, what, opts),
  };
}

/**
 * The server is alive, every honest member is connected, and `n` messages from each member
 * reach every member (the sender too) within LATENCY_MS, with an ok ack.
 */
export async function assertHonest(server, members, roomId, what = "attack", { n = 2 } = {}) {
  assert.ok(server.alive(), `server process died after ${what}`);
  for (const m of members) assert.ok(m.connected, `honest client ${m.user} (${m.ip}) still connected after ${what}`);
  let worst = 0;
  for (const sender of members) {
    for (let i = 0; i < n; i++) {
      const content = `honest ${uniq("m")}`;
      const t0 = Date.now();
      const got = members.map((m) => waitForMatch(m, "new-message", (p) => p && p.content === content, LATENCY_MS,
        `honest message from ${sender.user} after ${what}`).then(() => Date.now() - t0));
      const r = await sender.timeout(LATENCY_MS).emitWithAck("send-message", { roomId, content });
      assert.ok(r && r.ok === true, `honest send after ${what}: ${JSON.stringify(r)}`);
      for (const ms of await Promise.all(got)) worst = Math.max(worst, ms);
    }
  }
  assert.ok(server.alive(), `server process died after ${what}`);
  return worst;
}

// ---- raw WebSocket (package ws) from a chosen source address ---------------------------

export const wsUrl = (server, query = "") =>
  `ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket${query ? `&${query}` : ""}`;

/**
 * A WebSocket speaking Engine.IO by hand from `ip`. Text/binary frames are queued; pings are
 * answered. `opened` rejects with {status} when the upgrade is refused.
 */
export class RawWs {
  constructor(ctx, server, { ip, headers = {}, query = "" } = {}) {
    assert.ok(ip, "every client has its own source address");
    this.ip = ip;
    this.queue = [];
    this.waiters = [];
    this.ws = new WebSocket(wsUrl(server, query), { localAddress: ip, headers, perMessageDeflate: false, maxPayload: 64 << 20 });
    ctx.track(this);
    this.ws.on("error", () => { /* surfaced through opened / closed */ });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", resolve);
      this.ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c) => { body += c; });
        res.on("end", () => reject(Object.assign(new Error(`upgrade refused: HTTP ${res.statusCode} ${body}`),
          { status: res.statusCode, body })));
        res.on("error", () => reject(Object.assign(new Error(`upgrade refused: HTTP ${res.statusCode}`), { status: res.statusCode })));
      });
      this.ws.once("error", reject);
      this.ws.once("close", () => reject(new Error("closed before open")));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.once("close", (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() }));
    });
    this.ws.on("message", (data, isBinary) => {
      const item = isBinary ? Buffer.from(data) : data.toString();
      if (item === "2") { if (this.ws.readyState === WebSocket.OPEN) this.ws.send("3"); return; }
      const i = this.waiters.findIndex((w) => w.match(item));
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(item);
      else this.queue.push(item);
    });
  }

  /** The next frame (text as a string) for which match holds. */
  next(match = () => true, ms = 3000, what = "a frame") {
    const i = this.queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = { match, resolve: (v) => { clearTimeout(timer); resolve(v); } };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`${this.ip}: no ${what} within ${ms} ms; queued ${JSON.stringify(this.queue.map((q) => String(q).slice(0, 80)))}`));
      }, ms);
      timer.unref();
      this.waiters.push(w);
    });
  }

  send(data) { this.ws.send(data); }
  get isOpen() { return this.ws.readyState === WebSocket.OPEN; }
  closedWithin(ms) { return Promise.race([this.closed, after(ms, null)]); }
  close() { try { this.ws.terminate(); } catch { /* gone */ } }
}

/** Expects the WebSocket upgrade from `ip` to be refused; resolves with {status, body}. */
export async function wsRefused(ctx, server, ip, opts = {}) {
  const w = new RawWs(ctx, server, { ip, ...opts });
  const err = await w.opened.then(() => null, (e) => e);
  w.close();
  assert.ok(err, `the WebSocket from ${ip} should have been refused before the upgrade`);
  assert.ok(err.status, `refused with an HTTP status before the upgrade, got: ${err.message}`);
  let json;
  try { json = JSON.parse(err.body); } catch { json = undefined; }
  return { status: err.status, text: err.body, json };
}

let ackIds = 1000;
/**
 * A raw WebSocket with a Socket.IO CONNECT (JSON parser) done: rawSocketIO(...).emit(event,
 * ...args) sends a `42<id>[...]` and resolves with the ack's argument.
 */
export async function rawSocketIO(ctx, server, { ip, token, headers, auth = {} } = {}) {
  const w = new RawWs(ctx, server, { ip, headers });
  await w.opened;
  const open = await w.next((f) => typeof f === "string" && f.startsWith("0"), 3000, "open packet");
  w.handshake = JSON.parse(open.slice(1));
  w.send("40" + JSON.stringify({ token, ...auth }));
  const c = await w.next((f) => typeof f === "string" && (f.startsWith("40") || f.startsWith("44")), 3000, "CONNECT reply");
  if (!c.startsWith("40")) throw new Error(`raw CONNECT from ${ip} refused: ${c}`);
  w.emit = async (event, ...args) => {
    const id = ackIds++;
    w.send(`42${id}` + JSON.stringify([event, ...args]));
    const a = await w.next((f) => typeof f === "string" && f.startsWith(`43${id}[`), 3000, `ack ${id} of ${event}`);
    return JSON.parse(a.slice(`43${id}`.length))[0];
  };
  return w;
}

// ---- a WebSocket client by hand over a bare TCP socket (for the reader that stops) -----

/**
 * A WebSocket client written over net.Socket, so that it can stop reading (pause) like a
 * peer that has gone away without closing. No permessage-deflate. Frames it receives are
 * decoded only while it reads. `eio`: the Engine.IO protocol it asks for (3 needs
 * --allow-eio3).
 */
export class TcpWs {
  constructor(ctx, server, { ip, query = "", eio = 4 } = {}) {
    this.ip = ip;
    this.buf = Buffer.alloc(0);
    this.upgraded = false;
    this.texts = [];
    this.waiters = [];
    this.bytesIn = 0;
    this.sock = net.connect({ host: "127.0.0.1", port: server.port, localAddress: ip });
    ctx.track({ close: () => this.sock.destroy() });
    this.sock.on("error", () => { /* seen as close */ });
    this.ended = new Promise((resolve) => this.sock.once("close", () => resolve(Date.now())));
    const key = randomBytes(16).toString("base64");
    this.opened = new Promise((resolve, reject) => {
      this.onUpgrade = resolve;
      this.sock.once("close", () => reject(new Error("closed before the upgrade")));
    });
    this.opened.catch(() => {});
    this.sock.on("connect", () => {
      this.sock.write(
        `GET /socket.io/?EIO=${eio}&transport=websocket${query ? `&${query}` : ""} HTTP/1.1\r\n` +
        `Host: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
    });
    this.sock.on("data", (chunk) => {
      this.bytesIn += chunk.length;
      this.buf = Buffer.concat([this.buf, chunk]);
      this.parse();
    });
  }

  parse() {
    if (!this.upgraded) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const head = this.buf.subarray(0, end).toString();
      this.buf = this.buf.subarray(end + 4);
      if (!/^HTTP\/1\.1 101/.test(head)) { this.sock.destroy(); return; }
      this.upgraded = true;
      this.onUpgrade();
    }
    for (;;) {
      if (this.buf.length < 2) return;
      const op = this.buf[0] & 0x0f;
      let len = this.buf[1] & 0x7f;
      let off = 2;
      if (len === 126) { if (this.buf.length < 4) return; len = this.buf.readUInt16BE(2); off = 4; }
      else if (len === 127) { if (this.buf.length < 10) return; len = Number(this.buf.readBigUInt64BE(2)); off = 10; }
      if (this.buf.length < off + len) return;
      const payload = this.buf.subarray(off, off + len);
      this.buf = this.buf.subarray(off + len);
      if (op === 1) {
        const text = payload.toString();
        if (text === "2") { this.sendText("3"); continue; }
        const i = this.waiters.findIndex((w) => w.match(text));
        if (i >= 0) this.waiters.splice(i, 1)[0].resolve(text);
        else this.texts.push(text);
      } else if (op === 9) {
        this.frame(10, payload); // pong
      }
    }
  }

  frame(op, payload) {
    const mask = randomBytes(4);
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x80 | op, 0x80 | n])
      : n < 65536 ? Buffer.from([0x80 | op, 0x80 | 126, n >> 8, n & 255])
        : (() => { const b = Buffer.alloc(10); b[0] = 0x80 | op; b[1] = 0x80 | 127; b.writeBigUInt64BE(BigInt(n), 2); return b; })();
    const body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
    this.sock.write(Buffer.concat([head, mask, body]));
  }

  sendText(s) { this.frame(1, Buffer.from(s)); }

  nextText(match, ms = 3000, what = "a text frame") {
    const i = this.texts.findIndex(match);
    if (i >= 0) return Promise.resolve(this.texts.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = { match, resolve: (v) => { clearTimeout(timer); resolve(v); } };
      const timer = setTimeout(() => { this.waiters.splice(this.waiters.indexOf(w), 1); reject(new Error(`${this.ip}: no ${what} within ${ms} ms`)); }, ms);
      timer.unref();
      this.waiters.push(w);
    });
  }

  /** Engine.IO open, Socket.IO CONNECT with the token, then join-room (acked). */
  async joinAs(token, roomId) {
    await this.opened;
    await this.nextText((t) => t.startsWith("0"), 3000, "open packet");
    this.sendText("40" + JSON.stringify({ token }));
    const c = await this.nextText((t) => t.startsWith("40") || t.startsWith("44"), 3000, "CONNECT reply");
    if (!c.startsWith("40")) throw new Error(`TCP WebSocket CONNECT refused: ${c}`);
    this.sendText(`421` + JSON.stringify(["join-room", roomId]));
    const a = await this.nextText((t) => t.startsWith("431["), 3000, "join-room ack");
    const r = JSON.parse(a.slice(3))[0];
    if (!r || r.ok !== true) throw new Error(`TCP WebSocket join-room: ${a}`);
  }

  /** Stops reading: the kernel buffers fill, then TCP's window closes on the server. */
  pause() { this.sock.pause(); this.texts = []; this.waiters = []; }
  resume() { this.sock.resume(); }
}
