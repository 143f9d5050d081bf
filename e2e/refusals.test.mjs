// Every refusal explained to the client that got it (docs/events.md, "Refused connections"):
// what stock clients really show for the per-address connection cap, the handshake rate, a
// ban, the denylist, a foreign origin and a draining server: socket.io-client 4 on polling
// and WebSocket (either parser), socket.io-client 2 (--allow-eio3) and python-socketio. A
// refusal of the client's address or origin is a CONNECT_ERROR with data.code (and
// retryAfterMs where trying again can work), after which no stock client reconnects by
// itself; a draining server answers HTTP 503 with the code in the body, which the clients
// retry. Each refusal is in the server's log, a line per reason, not a line per attempt.
// Source addresses of this file: 127.0.11.100-199; python-socketio cannot choose its own, so
// it comes from 127.0.0.1, refused only by this file's servers.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { io } from "socket.io-client";
import msgpack from "socket.io-msgpack-parser";
import ioV2 from "socket.io-client-v2";
import {
  hostileTest, outcome, connectUser, pollOpen, pollUrl, request, until, uniq, tokenFor, sleep, after,
  assertConnectError,
} from "./lib/hostile.mjs";
import { E2E_DIR, ownChild } from "./lib/server.mjs";

const PYTHON = "/usr/bin/python3";
const pythonSkip = (() => {
  if (!existsSync(PYTHON)) return `${PYTHON} not found (run scripts/install-deps.sh)`;
  const probe = spawnSync(PYTHON, ["-c", "import socketio"], { encoding: "utf8", timeout: 10000 });
  return probe.status === 0 ? false : `${PYTHON} cannot import socketio (run scripts/install-deps.sh)`;
})();

/** What python-socketio shows, one result per transport (python/refusals.py). */
async function python(server, transports, origin) {
  if (pythonSkip) return null;
  const args = [path.join(E2E_DIR, "python", "refusals.py"), server.url, transports.join(",")];
  if (origin) args.push(origin);
  const child = ownChild(spawn(PYTHON, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PYTHONUNBUFFERED: "1" } }));
  let out = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { out += d; });
  const killer = setTimeout(() => child.kill("SIGKILL"), 20000);
  const code = await new Promise((resolve) => child.once("exit", resolve));
  clearTimeout(killer);
  assert.equal(code, 0, `python/refusals.py failed:\n${out}`);
  return out.trim().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

/**
 * Asserts python-socketio's view of a refusal told in the protocol: connect() raises
 * ConnectionError, the connect_error handler gets {message, data: {code, ...}}, and the
 * client does not reconnect by itself.
 */
function assertPythonRefused(results, code, what, opts) {
  if (results === null) return; // skipped: pythonSkip says why
  for (const r of results) {
    const w = `${what}, python-socketio ${r.transport}`;
    assert.equal(r.exception, "ConnectionError", `${w}: connect() raises ConnectionError (${JSON.stringify(r)})`);
    assert.equal(r.handler.length, 1, `${w}: the connect_error handler is called once: ${JSON.stringify(r.handler)}`);
    assertConnectError(r.handler[0][0], code, w, opts);
    assert.equal(r.later.connected, false, `${w}: not connected`);
    assert.equal(r.later.reconnecting, false, `${w}: not reconnecting by itself (${JSON.stringify(r.later)})`);
  }
}

/** socket.io-client 4 with its defaults (reconnection on), bound to ip. */
function v4(ctx, server, ip, { transports, parser, extraHeaders } = {}) {
  const s = io(server.url, {
    forceNew: true, timeout: 5000, localAddress: ip, agent: new http.Agent({ localAddress: ip }),
    auth: { token: "unused" },
    ...(transports ? { transports } : {}), ...(parser ? { parser } : {}), ...(extraHeaders ? { extraHeaders } : {}),
  });
  ctx.track({ close: () => s.close() });
  s.attempts = 0;
  s.io.on("reconnect_attempt", () => { s.attempts += 1; });
  return s;
}

/**
 * Asserts what socket.io-client 4 shows for a refusal told in the protocol: connect_error
 * with the message and data.code, and then nothing: it stays inactive (no reconnection).
 */
async function assertV4Refused(ctx, server, ip, code, what, { retryAfterMs, extraHeaders } = {}) {
  const combos = [
    { name: "polling", transports: ["polling"] },
    { name: "websocket", transports: ["websocket"] },
    { name: "default transports, msgpack", parser: msgpack },
  ];
  for (const c of combos) {
    const s = v4(ctx, server, ip, { ...c, extraHeaders });
    const o = await outcome(s);
    const w = `${what}, socket.io-client 4 ${c.name}`;
    assert.equal(o.ok, false, `${w}: refused`);
    assertConnectError(o.err, code, w, { retryAfterMs, tolerance: 5000 });
    await sleep(300);
    assert.equal(s.active, false, `${w}: the client stops (no reconnection to be refused again)`);
    assert.equal(s.attempts, 0, `${w}: no reconnect attempt`);
    s.close();
  }
}

/** socket.io-client 2 (Engine.IO v3): an `error` event {code, message}, then "io server disconnect". */
async function assertV2Refused(ctx, server, ip, code, what) {
  for (const transports of [["polling"], ["websocket"]]) {
    const s = ioV2(server.url, { forceNew: true, transports, localAddress: ip, agent: new http.Agent({ localAddress: ip }), query: { token: "unused" } });
    ctx.track({ close: () => s.close() });
    const seen = [];
    for (const ev of ["connect", "error", "connect_error", "disconnect"]) s.on(ev, (x) => seen.push([ev, x instanceof Error ? x.message : x]));
    await until(() => seen.some(([ev]) => ev === "disconnect" || ev === "connect"), 5000, `${what}: socket.io-client 2 ${transports}: an answer`);
    await sleep(300);
    const w = `${what}, socket.io-client 2 ${transports}`;
    assert.deepStrictEqual(seen.map(([ev]) => ev), ["error", "disconnect"], `${w}: events ${JSON.stringify(seen)}`);
    assert.equal(seen[0][1].code, code, `${w}: the error's code`);
    assert.equal(typeof seen[0][1].message, "string", `${w}: the error's message`);
    assert.equal(seen[1][1], "io server disconnect", `${w}: a disconnect that stops it reconnecting`);
    s.close();
  }
}

/** The log has a refusal line for reason, and at most `most` of them. */
function assertLogged(server, reason, code, { most = 2 } = {}) {
  const lines = server.logs().split("\n")
    .filter((l) => l.includes("edgeio: refused") && (l.includes(`: ${reason} (`) || l.includes(` for ${reason} (`)));
  assert.ok(lines.some((l) => l.includes(`: ${reason} (${code}`)), `the log says why (${reason}, ${code}):\n${server.logs()}`);
  assert.ok(lines.length <= most, `at most ${most} log lines for ${reason}, not one per attempt:\n${lines.join("\n")}`);
}

hostileTest("per-address cap: RATE_LIMITED with retryAfterMs in socket.io-client 4 and 2 and python-socketio; a 20-socket script gets readable connect_errors instead of hanging", async (ctx) => {
  const server = await ctx.start(["--max-conns-per-ip", "1", "--allow-eio3"]);
  const ip = "127.0.11.100";
  await connectUser(ctx, server, uniq("holder"), ip); // the address's one connection
  await assertV4Refused(ctx, server, ip, "RATE_LIMITED", "over --max-conns-per-ip", { retryAfterMs: 5000 });
  await assertV2Refused(ctx, server, ip, "RATE_LIMITED", "over --max-conns-per-ip");
  const held = await pollOpen(server, "127.0.0.1"); // python's address is full too
  assert.ok(held.sid && !held.refused, `a session of 127.0.0.1: ${held.text}`);
  assertPythonRefused(await python(server, ["polling", "websocket"]), "RATE_LIMITED", "over --max-conns-per-ip", { retryAfterMs: 5000, tolerance: 0 });
  assertLogged(server, "conns_per_ip", "RATE_LIMITED");
  assert.equal(await server.metric("edgeio_refusals_total", { reason: "conns_per_ip" }), pythonSkip ? 5 : 7, "each refusal counted once: no client retried");
  await until(async () => (await server.metric("edgeio_refusals_held")) === 0, 7000, "every refused session let go");
}, { timeout: 45000 });

hostileTest("a 20-socket script from one address (production cap of 5): 5 connect, 15 connect_errors it can read, nothing hangs or retries", async (ctx) => {
  const server = await ctx.start(["--max-conns-per-ip", "5"]);
  const ip = "127.0.11.101";
  const token = tokenFor(uniq("script"));
  const sockets = Array.from({ length: 20 }, () => {
    const s = io(server.url, { forceNew: true, localAddress: ip, agent: new http.Agent({ localAddress: ip }), auth: { token } });
    ctx.track({ close: () => s.close() });
    return s;
  });
  // what the script does: connect each, join a room with the ack, or say why not
  const results = await Promise.race([
    Promise.all(sockets.map((s) => new Promise((resolve) => {
      s.once("connect", async () => resolve({ joined: (await s.timeout(3000).emitWithAck("join-room", "general")).ok }));
      s.once("connect_error", (err) => resolve({ err }));
    }))),
    after(8000, null),
  ]);
  assert.ok(results, "the script finished: every socket connected or got its connect_error");
  assert.equal(results.filter((r) => r.joined).length, 5, "5 sockets connect and join");
  const refused = results.filter((r) => r.err);
  assert.equal(refused.length, 15, "15 get a connect_error");
  for (const r of refused) assertConnectError(r.err, "RATE_LIMITED", "a refused socket of the script", { retryAfterMs: 5000, tolerance: 0 });
  await sleep(1500);
  assert.equal(sockets.filter((s) => s.active && !s.connected).length, 0, "no refused socket keeps retrying");
  assert.equal(await server.metric("edgeio_refusals_total", { reason: "conns_per_ip" }), 15, "15 refusals, no retries");
  assertLogged(server, "conns_per_ip", "RATE_LIMITED");
}, { timeout: 30000 });

hostileTest("handshake rate: RATE_LIMITED with the time to the next handshake in every client", async (ctx) => {
  const server = await ctx.start(["--rate-handshakes", "2", "--allow-eio3"]);
  const ip = "127.0.11.102";
  for (const a of [ip, "127.0.0.1"]) {
    for (let i = 0; i < 2; i++) assert.ok(!(await pollOpen(server, a)).refused, `handshake ${i + 1} of 2 from ${a}`);
  }
  // 2 a minute: the next about 30 s after the second, less what has passed since (a loaded
  // machine takes seconds to start python)
  const spent = Date.now();
  await assertV4Refused(ctx, server, ip, "RATE_LIMITED", "over --rate-handshakes", { retryAfterMs: 30000 - (Date.now() - spent) });
  await assertV2Refused(ctx, server, ip, "RATE_LIMITED", "over --rate-handshakes");
  const pyStart = Date.now();
  const py = await python(server, ["polling", "websocket"]);
  const pyTook = Date.now() - pyStart;
  assertPythonRefused(py, "RATE_LIMITED", "over --rate-handshakes",
    { retryAfterMs: 30000 - (pyStart - spent) - pyTook / 2, tolerance: pyTook / 2 + 1000 });
  assertLogged(server, "handshake_rate", "RATE_LIMITED");
}, { timeout: 45000 });

hostileTest("bans, the denylist and foreign origins: BANNED with the ban's time left, FORBIDDEN, in every client", async (ctx) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "edgeio-refusals-"));
  ctx.track({ close: () => rmSync(dir, { recursive: true, force: true }) });
  const deny = path.join(dir, "deny");
  writeFileSync(deny, "127.0.11.103\n");
  const adminToken = "refusals-" + uniq("t");
  const server = await ctx.start(["--ip-denylist", deny, "--admin-token", adminToken, "--cors-origins", "http://good.example", "--allow-eio3"]);
  const bearer = { Authorization: `Bearer ${adminToken}` };
  for (const a of ["127.0.11.104", "127.0.0.1"]) {
    const r = await server.admin(`/admin/bans?address=${a}&for=2m`, { method: "POST", headers: bearer });
    assert.equal(r.status, 200, `ban ${a}: ${r.text}`);
  }
  await assertV4Refused(ctx, server, "127.0.11.104", "BANNED", "a banned address", { retryAfterMs: 120000 });
  await assertV2Refused(ctx, server, "127.0.11.104", "BANNED", "a banned address");
  assertPythonRefused(await python(server, ["polling", "websocket"]), "BANNED", "a banned address", { retryAfterMs: 120000, tolerance: 10000 });
  await assertV4Refused(ctx, server, "127.0.11.103", "FORBIDDEN", "a denied address");
  await assertV2Refused(ctx, server, "127.0.11.103", "FORBIDDEN", "a denied address");
  const evil = { Origin: "http://evil.example" };
  await assertV4Refused(ctx, server, "127.0.11.105", "FORBIDDEN", "a foreign origin", { extraHeaders: evil });
  for (const a of ["127.0.0.1"]) {
    const r = await server.admin(`/admin/bans?address=${a}`, { method: "DELETE", headers: bearer });
    assert.equal(r.status, 204, `lift the ban of ${a}`);
  }
  // (python-socketio's WebSocket sends an Origin of its own, the server's, before a given one)
  assertPythonRefused(await python(server, ["polling"], evil.Origin), "FORBIDDEN", "a foreign origin");
  assertLogged(server, "banned", "BANNED");
  assertLogged(server, "denylist", "FORBIDDEN");
  assertLogged(server, "origin", "FORBIDDEN");
}, { timeout: 55000 });

hostileTest("draining: HTTP 503 UNAVAILABLE with retryAfterMs in the body, which clients retry; socket.io-client 4 polling and python-socketio can read it", async (ctx) => {
  const server = await ctx.start(["--drain-timeout", "4s", "--allow-eio3"]);
  const ip = "127.0.11.106";
  // a connected polling client that never polls again keeps the server draining until
  // --drain-timeout
  const stalled = await pollOpen(server, "127.0.11.107");
  assert.ok(stalled.sid && !stalled.refused, stalled.text);
  const connect = await request(pollUrl(server, { sid: stalled.sid }), {
    ip: "127.0.11.107", method: "POST", body: "40" + JSON.stringify({ token: tokenFor(uniq("stalled")) }), headers: { "Content-Type": "text/plain" },
  });
  assert.equal(connect.status, 200, connect.text);
  await until(async () => (await server.metric("edgeio_sockets")) === 1, 2000, "the stalled client's socket");
  server.proc.kill("SIGTERM");
  await until(async () => (await request(`${server.url}/socket.io/?EIO=4&transport=polling`, { ip }).catch(() => ({}))).status === 503, 2000, "the drain");

  const polling = v4(ctx, server, ip, { transports: ["polling"] });
  // the request's body is readable in the handler itself (the client clears it right after)
  let responseText;
  polling.once("connect_error", (err) => { responseText = err.context && err.context.responseText; });
  const p = await outcome(polling);
  assert.equal(p.ok, false, "socket.io-client 4 polling is refused");
  assert.equal(p.err.description, 503, "connect_error's description: the status");
  assert.deepStrictEqual(JSON.parse(responseText).data, { code: "UNAVAILABLE", retryAfterMs: 1000 }, `connect_error's context.responseText: ${responseText}`);
  assert.equal(polling.active, true, "socket.io-client 4 retries by itself (elsewhere, behind a load balancer)");
  polling.close();
  const ws = v4(ctx, server, ip, { transports: ["websocket"] });
  const w = await outcome(ws);
  ws.close();
  assert.equal(w.ok, false, "socket.io-client 4 WebSocket is refused");
  assert.match(String(w.err.description && w.err.description.message), /503/, "connect_error's description: the status");
  const py = await python(server, ["polling"]);
  if (py) {
    assert.equal(py[0].exception, "ConnectionError", JSON.stringify(py[0]));
    assert.match(py[0].args[0], /503/, "python: the status in the exception (its only argument)");
    assert.deepStrictEqual(py[0].handler[0][0].data, { code: "UNAVAILABLE", retryAfterMs: 1000 }, "python: the body in connect_error");
  }
  assertLogged(server, "draining", "UNAVAILABLE");
}, { timeout: 30000 });
