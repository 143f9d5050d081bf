// Hostile clients that make the server answer and never read the answers: a WebSocket that
// never sends CONNECT and floods ping frames, and with --allow-eio3 Engine.IO v3 pings, in
// polling POSTs that are never polled for and in WebSocket "2" frames. WebSocket pings have
// a budget (10 a second, bursts of 100) and a flooder past it is cut off at once; everything
// queued for a connection, control frames included, counts against --max-buffered /
// --max-queued, and the v3 flooders are cut off as slow consumers; meanwhile the server's RSS
// and the honest room's p95 hold (lib/attack.mjs). And a polling handshake that never sends CONNECT neither holds
// the SIGTERM drain nor stays in the sessions gauge once it is closed.
// Source addresses of this file: 127.0.8.x.
import assert from "node:assert/strict";
import {
  hostileTest, TcpWs, request, after, until, pollOpen, makeSocket, outcome, tokenFor, uniq,
} from "./lib/hostile.mjs";
import { productionRoom, underAttack, PRODUCTION } from "./lib/attack.mjs";

/** How long each attack goes on: a flooder that is cut off has lost for the rest of it. */
const ATTACK_MS = 4000;
const MB = 1024 * 1024;

const slowClosesOf = (server) => server.metric("edgeio_session_closes_total", { reason: "slow consumer" });

/** `n` masked client frames of opcode `op` carrying `payload` (under 64 KB), back to back. */
function frames(op, payload, n) {
  const mask = [0x5a, 0x17, 0xc3, 0x08];
  const body = Buffer.from(payload).map((b, i) => b ^ mask[i & 3]);
  const len = body.length < 126 ? [0x80 | body.length] : [0x80 | 126, body.length >> 8, body.length & 0xff];
  const one = Buffer.concat([Buffer.from([0x80 | op, ...len, ...mask]), body]);
  return Buffer.concat(Array(n).fill(one));
}

/**
 * The attack of one connection: for `ms`, writes `chunk` to the WebSocket's socket again and
 * again, as fast as the socket takes it, reading nothing, until the server closes the
 * connection; then waits out the `ms` (the honest room is measured over all of it).
 * Resolves {cutOffMs (when the server closed it, or null), sentMB}.
 */
async function flood(ws, chunk, ms) {
  await ws.opened;
  ws.pause();
  const t0 = Date.now();
  let closed = false;
  void ws.ended.then(() => { closed = true; });
  let sent = 0;
  while (!closed && Date.now() - t0 < ms) {
    sent += chunk.length;
    if (ws.sock.write(chunk)) await new Promise(setImmediate); // the honest clients run meanwhile
    else await Promise.race([new Promise((r) => ws.sock.once("drain", r)), ws.ended, after(t0 + ms - Date.now())]);
  }
  const cutOffMs = closed ? Date.now() - t0 : null;
  ws.sock.destroy();
  await after(t0 + ms - Date.now());
  return { cutOffMs, sentMB: +(sent / MB).toFixed(1) };
}

const v3Url = (server, sid) => `${server.url}/socket.io/?EIO=3&transport=polling${sid ? `&sid=${sid}` : ""}`;

/** An anonymous Engine.IO v3 polling handshake from `ip` (its Socket.IO connect is refused); resolves the sid. */
async function v3PollOpen(server, ip) {
  const r = await request(v3Url(server), { ip });
  const m = /"sid":"([^"]+)"/.exec(r.text);
  assert.ok(r.status === 200 && m, `v3 handshake: HTTP ${r.status} ${r.text.slice(0, 100)}`);
  return m[1];
}

/**
 * The attack of one polling session: for `ms`, POSTs of `perBody` v3 ping packets ("1:2"
 * each) to session `sid`, one after another, and never a poll, until `cutOff()` says the
 * server closed it (its POSTs are answered "ok" all the same: what it would send after is
 * a plain request flood, another matter); then waits out the `ms`. Resolves {posts, pings,
 * cutOffMs (or null)}.
 */
async function pingPosts(server, ip, sid, ms, cutOff, perBody = 100_000) {
  const body = "1:2".repeat(perBody);
  const t0 = Date.now();
  let posts = 0;
  let cutOffMs = null;
  while (cutOffMs === null && Date.now() - t0 < ms) {
    const left = Math.max(100, ms - (Date.now() - t0));
    const r = await request(v3Url(server, sid), { ip, method: "POST", body, headers: { "Content-Type": "text/plain;charset=UTF-8" }, ms: left })
      .catch((err) => ({ status: 0, text: err.message }));
    if (r.status !== 200) break; // the deadline came during the POST
    posts++;
    if (await cutOff()) cutOffMs = Date.now() - t0;
  }
  await after(t0 + ms - Date.now());
  return { posts, pings: posts * perBody, cutOffMs };
}

hostileTest("a WebSocket that never sends CONNECT floods ping frames and never reads: cut off for its pings (1008 too many pings), RSS and the room's p95 hold", async (ctx) => {
  const { server, room } = await productionRoom(ctx, ["127.0.8.2", "127.0.8.3", "127.0.8.4"]);
  const floodsBefore = await server.metric("edgeio_session_closes_total", { reason: "ping flood" });
  const pings = frames(0x9, Buffer.alloc(125, "p"), 512); // 67 KB a write
  const { attack } = await underAttack(ctx, server, room,
    () => flood(new TcpWs(ctx, server, { ip: "127.0.8.10" }), pings, ATTACK_MS), { what: "WebSocket ping flood" });
  ctx.t.diagnostic(`flooder: ${attack.sentMB} MB of pings, its connection closed after ${attack.cutOffMs} ms`);
  assert.ok(attack.cutOffMs !== null, `the flooder's connection is still open after ${ATTACK_MS} ms and ${attack.sentMB} MB of pings`);
  assert.equal(await server.metric("edgeio_session_closes_total", { reason: "ping flood" }), floodsBefore + 1,
    "its session was closed for its ping flood, past the ping budget and before its answers piled up");
}, { timeout: 30000 });

hostileTest("--allow-eio3: polling POSTs full of v3 pings, never polled for: cut off as a slow consumer, RSS and the room's p95 hold", async (ctx) => {
  const { server, room } = await productionRoom(ctx, ["127.0.8.20", "127.0.8.21", "127.0.8.22"], ["--allow-eio3"]);
  const ip = "127.0.8.30";
  const sid = await v3PollOpen(server, ip);
  const slowBefore = await slowClosesOf(server);
  const { attack } = await underAttack(ctx, server, room,
    () => pingPosts(server, ip, sid, ATTACK_MS, async () => (await slowClosesOf(server)) > slowBefore),
    { what: "v3 polling ping POSTs" });
  ctx.t.diagnostic(`flooder: ${attack.posts} POSTs, ${attack.pings} pings; cut off after ${attack.cutOffMs} ms`);
  assert.equal(await slowClosesOf(server), slowBefore + 1, `its session was closed as a slow consumer (after ${attack.posts} POSTs of 100,000 pings)`);
  // what waited for it was dropped: its next poll carries the close packet alone
  const last = await request(v3Url(server, sid), { ip });
  assert.equal(last.text, "1:1", `the next poll of the cut-off session: HTTP ${last.status} ${JSON.stringify(last.text.slice(0, 60))}`);
}, { timeout: 30000 });

hostileTest("--allow-eio3: a v3 WebSocket that sends \"2\" frames fast and never reads: cut off as a slow consumer, RSS and the room's p95 hold", async (ctx) => {
  const { server, room } = await productionRoom(ctx, ["127.0.8.40", "127.0.8.41", "127.0.8.42"], ["--allow-eio3"]);
  const slowBefore = await slowClosesOf(server);
  const pings = frames(0x1, "2" + "p".repeat(1000), 64); // 64 KB a write; each pong echoes the 1,000 bytes
  const { attack } = await underAttack(ctx, server, room,
    () => flood(new TcpWs(ctx, server, { ip: "127.0.8.50", eio: 3 }), pings, ATTACK_MS), { what: "v3 WebSocket pings" });
  ctx.t.diagnostic(`flooder: ${attack.sentMB} MB of "2" frames, its connection closed after ${attack.cutOffMs} ms`);
  assert.ok(attack.cutOffMs !== null, `the flooder's connection is still open after ${ATTACK_MS} ms and ${attack.sentMB} MB of pings`);
  assert.equal(await slowClosesOf(server), slowBefore + 1, "its session was closed as a slow consumer");
}, { timeout: 30000 });

/** SIGTERM, then the milliseconds until the process exits (at most `ms` waited). */
async function drainTime(server, ms) {
  const exited = new Promise((resolve) => server.proc.once("exit", () => resolve(Date.now())));
  const t0 = Date.now();
  server.proc.kill("SIGTERM");
  const at = await Promise.race([exited, after(ms, null)]);
  assert.ok(at, `the server did not exit within ${ms} ms of SIGTERM`);
  return at - t0;
}

hostileTest("a polling handshake that never sends CONNECT does not hold the SIGTERM drain, and leaves edgeio_sessions_polling once closed", async (ctx) => {
  const DRAIN_MS = 6000;
  const flags = [...PRODUCTION, "--drain-timeout", `${DRAIN_MS}ms`, "--connect-timeout", "1s"];
  // CONNECTed clients only, on WebSocket and on polling: the drain time to compare with
  const connected = async (server, ips) => {
    const poller = makeSocket(ctx, server, { ip: ips[0], token: tokenFor(uniq("poller")), transports: ["polling"] });
    const ws = makeSocket(ctx, server, { ip: ips[1], token: tokenFor(uniq("ws")) });
    for (const s of [poller, ws]) assert.ok((await outcome(s)).ok, "an honest client connects");
  };
  const plain = await ctx.start(flags);
  await connected(plain, ["127.0.8.60", "127.0.8.61"]);
  const plainMs = await drainTime(plain, DRAIN_MS + 3000);

  const server = await ctx.start(flags);
  await connected(server, ["127.0.8.62", "127.0.8.63"]);
  const gauge = () => server.metric("edgeio_sessions_polling");
  assert.equal(await gauge(), 1, "the honest poller");
  // a handshake, then nothing: no CONNECT, no poll; the connect timeout closes it
  assert.ok((await pollOpen(server, "127.0.8.70")).sid, "the idle handshake");
  assert.equal(await gauge(), 2, "the honest poller and the idle handshake");
  await until(async () => (await server.metric("edgeio_session_closes_total", { reason: "forced server close" })) === 1, 3000,
    "the idle handshake's close at --connect-timeout");
  assert.equal(await gauge(), 1, "closed, the idle handshake is no longer counted as a polling session");
  // and another one, open when the drain starts
  assert.ok((await pollOpen(server, "127.0.8.71")).sid, "a second idle handshake");
  assert.equal(await gauge(), 2, "the honest poller and the second idle handshake");
  const idleMs = await drainTime(server, DRAIN_MS + 3000);
  ctx.t.diagnostic(`drain: ${plainMs} ms with CONNECTed clients only, ${idleMs} ms with two idle handshakes besides (--drain-timeout ${DRAIN_MS} ms)`);
  assert.ok(idleMs < DRAIN_MS / 2 && idleMs <= plainMs + 1000,
    `with idle handshakes the drain took ${idleMs} ms, against ${plainMs} ms with CONNECTed clients only (--drain-timeout ${DRAIN_MS} ms)`);
}, { timeout: 40000 });
