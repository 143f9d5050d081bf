// No sticky sessions (docs/deployment.md#a-load-balancer): three edgeio nodes on one real
// Redis behind a round-robin HTTP balancer written here, which sends every request and every
// WebSocket upgrade to the next node in turn, whatever session it belongs to. Stock
// socket.io-client 4 (JSON and msgpack) on polling only, polling with the upgrade, and
// WebSocket only connects, joins and chats, every message reaching every member exactly
// once: a request that reaches another node than its session's is forwarded there. A
// refused client reads its refusal's code. The node that holds a session judges its
// client's real address, which a client cannot forge by posing as a node; forged session
// ids cost one request each at most. A forwarded poll costs a fraction of a millisecond
// more than a direct one. Through a Redis restart the clients stay connected and nothing
// acknowledged is lost; after a SIGKILL of a node its clients reconnect at once and chat on.
// Source addresses: 127.0.15.x (127.0.15.1 is the balancer).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { combo, connect, emitAckWithin } from "./lib/client.mjs";
import { closeOrphans, withScope } from "./lib/scope.mjs";
import { chatConnect, ackOk, tokenFor, uniq, sleep, until } from "./lib/chat.mjs";
import { startRedis, startNode, waitForMesh, withLogs } from "./lib/redis.mjs";
import { request, pollUrl, assertConnectError } from "./lib/hostile.mjs";
import { assertEachOnce, p95 } from "./lib/latency.mjs";
import { roundRobin } from "./lib/balancer.mjs";

const LB_IP = "127.0.15.1";
const DENIED_IP = "127.0.15.66";
const ADMIN_TOKEN = "rr-admin-" + randomBytes(6).toString("hex");
const COMBOS = ["polling", "upgrade", "websocket"].flatMap((t) => ["json", "msgpack"].map((p) => combo(t, p)));

let redis;
let redisDir;
let lb;
const nodes = [];
const tmp = mkdtempSync(path.join(os.tmpdir(), "edgeio-rr-"));
after(async () => {
  closeOrphans();
  if (lb) lb.close();
  await Promise.all(nodes.map((n) => n.stop()));
  if (redis) await redis.stop();
  if (redisDir) rmSync(redisDir, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
});

async function startCluster() {
  if (nodes.length) return;
  const denylist = path.join(tmp, "denylist");
  writeFileSync(denylist, `${DENIED_IP}\n`);
  redis = await startRedis({ persist: true });
  redisDir = redis.dir;
  const args = ["--trusted-proxies", LB_IP, "--node-timeout", "2s", "--ip-denylist", denylist, "--admin-token", ADMIN_TOKEN];
  for (const id of ["a", "b", "c"]) {
    const n = await startNode(redis, { nodeId: `rr-${id}-${process.pid}`, args });
    n.admin = (p, init = {}) => fetch(n.adminUrl + p, { ...init, headers: { Authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(3000) });
    nodes.push(n);
  }
  await waitForMesh(nodes);
  lb = await roundRobin(nodes, { from: LB_IP });
}

const clusterTest = (name, fn, timeout = 20000) =>
  test(name, { timeout }, withLogs(() => [...nodes, redis], (t) => withScope(async () => {
    await startCluster();
    await fn(t);
  })));

let ipCounter = 20;
/** A stock client through the balancer from an address of its own; rejoins `room` on every reconnection. */
async function member(c, room, opts = {}) {
  const ip = `127.0.15.${ipCounter++}`;
  const s = await chatConnect(lb, uniq(`u-${c.transport.name}-${c.parser.name}`), {
    combo: c,
    opts: { localAddress: ip, agent: new http.Agent({ localAddress: ip }), ...opts },
  });
  s.label = `${s.user.id} (${c.label})`;
  s.got = [];
  s.on("new-message", (m) => { if (m.roomId === room) s.got.push(m.id); });
  await ackOk(s, "join-room", room);
  return s;
}

/** Each member sends one message; every member gets every one exactly once. */
async function chatRound(members, room, what) {
  for (const s of members) s.got.length = 0;
  const acked = await Promise.all(members.map(async (s) =>
    (await ackOk(s, "send-message", { roomId: room, content: `${what} from ${s.user.id}`, clientMsgId: uniq("m") })).message.id));
  await until(() => members.every((s) => acked.every((id) => s.got.includes(id))), 8000,
    `${what}: every member to get all ${acked.length} messages`).catch((err) => {
    throw new Error(`${err.message}: ${members.map((s) => `${s.label} ${s.got.length}`).join(", ")}`);
  });
  await sleep(300); // anything more would be a second copy
  for (const s of members) assertEachOnce(`${what}: ${s.label}`, s.got, acked);
}

const metricsOf = async () => Promise.all(nodes.filter((n) => n.alive()).map((n) => n.metrics()));
const sum = (ms, name) => ms.reduce((t, m) => t + (m[name] || 0), 0);

clusterTest("every transport and parser through a round-robin balancer: connect, join, chat, each message to every member once", async () => {
  const room = uniq("rr");
  const members = [];
  for (const c of COMBOS) for (let i = 0; i < 2; i++) members.push(await member(c, room));
  // an upgrade reaches another node than its session's two times in three: more clients
  // until one did
  for (let i = 0; sum(await metricsOf(), 'edgeio_forwarded_total{kind="upgrade"}') === 0; i++) {
    assert.ok(i < 10, "not one upgrade reached another node than its session's");
    members.push(await member(combo("upgrade", i % 2 ? "json" : "msgpack"), room));
  }
  await chatRound(members, room, "round 1");
  await chatRound(members, room, "round 2");
  const ms = await metricsOf();
  const held = ms.map((m) => m.edgeio_sessions_polling + m.edgeio_sessions_websocket);
  assert.equal(held.reduce((a, b) => a + b), members.length, `every session on one node (${held})`);
  assert.ok(held.filter((n) => n > 0).length >= 2, `the balancer spread the sessions over the nodes: ${held}`);
  for (const kind of ["poll", "post", "upgrade"]) {
    assert.ok(sum(ms, `edgeio_forwarded_total{kind="${kind}"}`) > 0, `some ${kind} requests were forwarded to their session's node`);
  }
  assert.equal(sum(ms, "edgeio_forward_failures_total"), 0, "no forward failed");
  assert.ok(sum(ms, "edgeio_forwarded_websockets") > 0, "WebSockets carried to their session's node");
});

clusterTest("a refused client through the balancer reads its refusal's code, whichever node its requests reach", async () => {
  for (const transports of [["polling"], ["polling", "websocket"]]) {
    const s = connect(lb, {
      auth: { token: tokenFor(uniq("denied")) },
      opts: { transports, localAddress: DENIED_IP, agent: new http.Agent({ localAddress: DENIED_IP }) },
    });
    const err = await s.then(() => assert.fail(`${transports}: connected from a denied address`), (e) => e);
    assertConnectError(err.cause, "FORBIDDEN", `${transports}: a denied address through the balancer`);
  }
});

/** A raw polling handshake on node n from ip: the sid. */
async function open(n, ip) {
  const r = await request(pollUrl(n), { ip });
  assert.equal(r.status, 200, `handshake on ${n.nodeId}: ${r.text}`);
  return JSON.parse(r.text.slice(1).split("\x1e")[0]).sid;
}

const post = (n, ip, sid, body, headers = {}) =>
  request(pollUrl(n, { sid }), { ip, method: "POST", body, headers: { "Content-Type": "text/plain", ...headers } });

clusterTest("the node holding a session judges its client's own address through the hop, and a client cannot pose as a node", async () => {
  const [A, B] = nodes;
  const ip = "127.0.15.70";
  const sid = await open(A, ip);
  // forwarded through B, the session's POST is A's to judge, with the client's address
  assert.equal((await post(B, ip, sid, "6")).text, "ok", "a POST through B reaches the session on A");
  const ban = await A.admin(`/admin/bans?address=${ip}&for=1m`, { method: "POST" });
  assert.equal(ban.status, 200, "the operator bans the client's address on A");
  const viaB = await post(B, ip, sid, "6");
  assert.equal(viaB.status, 403, `A refuses the banned client's POST that B forwarded (B has no ban): ${viaB.text}`);
  assert.equal(viaB.json.data.code, "BANNED");
  // the banned client poses as a node that forwards another client's request
  const forged = { "X-Edgeio-Hop": randomBytes(18).toString("base64url"), "X-Edgeio-Client": "127.0.15.71" };
  const posing = await post(A, ip, sid, "6", forged);
  assert.equal(posing.status, 403, `a made-up hop key is not believed: ${posing.text}`);
  // and a request that carries a hop key is never forwarded again
  const other = await open(A, "127.0.15.72");
  const bounced = await post(B, "127.0.15.72", other, "6", forged);
  assert.equal(bounced.status, 400, `B does not forward a request that carries a hop key: ${bounced.text}`);
  assert.equal(bounced.json.message, "Session ID unknown");
  assert.equal((await post(B, "127.0.15.72", other, "6")).text, "ok", "without it, it does");
});

clusterTest("forged session ids: each costs one answer from the node it names at most, none waits", async () => {
  const [A, B] = nodes;
  const sid = await open(A, "127.0.15.73");
  const tag = sid.slice(0, 8); // a session id starts with its node's tag
  const before = (await B.metrics())['edgeio_forwarded_total{kind="poll"}'];
  const t0 = Date.now();
  const answers = await Promise.all(Array.from({ length: 50 }, (_, i) =>
    request(pollUrl(B, { sid: (i % 2 ? tag : "zzzzzzzz") + randomBytes(15).toString("base64url") }), { ip: "127.0.15.73" })));
  const took = Date.now() - t0;
  for (const r of answers) assert.deepEqual([r.status, r.json && r.json.message], [400, "Session ID unknown"]);
  assert.ok(took < 3000, `50 forged polls answered in ${took} ms: none is held`);
  const m = await B.metrics();
  assert.equal(m['edgeio_forwarded_total{kind="poll"}'] - before, 25, "only those naming a node were forwarded, once each");
  assert.equal(m.edgeio_forwards_inflight, 0, "nothing left in flight");
});

clusterTest("a forwarded poll costs little more than a direct one", async (t) => {
  const [A, B] = nodes;
  const ip = "127.0.15.74";
  const sid = await open(A, ip);
  const agent = new http.Agent({ keepAlive: true, localAddress: ip });
  const poll = (n, method = "GET", body) => new Promise((resolve, reject) => {
    const req = http.request(pollUrl(n, { sid }), { method, agent, headers: { "Content-Type": "text/plain" } }, (res) => {
      let text = "";
      res.on("data", (c) => { text += c; });
      res.on("end", () => resolve(text));
    });
    req.on("error", reject);
    req.end(body);
  });
  /** Polls until a packet starting with prefix comes, answering the server's pings. */
  const collect = async (n, prefix) => {
    for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
      const text = await poll(n);
      assert.doesNotMatch(text, /^\{/, `a poll through ${n.nodeId} is answered`);
      const pkts = text.split("\x1e");
      if (pkts.includes("2")) await poll(n, "POST", "3");
      const hit = pkts.find((p) => p.startsWith(prefix));
      if (hit) return hit;
    }
    assert.fail(`no ${prefix} within 5 s`);
  };
  // the CONNECT, then 40 pairs of a message that the server acknowledges (a POST) and the
  // poll that collects the ack, through A itself and through B
  await poll(A, "POST", `40${JSON.stringify({ token: tokenFor(uniq("timer")) })}`);
  await collect(A, "40");
  const times = { direct: [], forwarded: [] };
  for (let i = 0; i < 80; i++) {
    const [n, kind] = i % 2 ? [B, "forwarded"] : [A, "direct"];
    const t0 = process.hrtime.bigint();
    await poll(n, "POST", `42${i}["get-room-presence","nowhere-${i}"]`);
    await collect(n, `43${i}[`);
    times[kind].push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  agent.destroy();
  const med = (v) => [...v].sort((a, b) => a - b)[v.length >> 1];
  const [d50, f50, d95, f95] = [med(times.direct), med(times.forwarded), p95(times.direct), p95(times.forwarded)];
  t.diagnostic(`POST + poll: direct p50 ${d50.toFixed(2)} ms p95 ${d95.toFixed(2)} ms; forwarded p50 ${f50.toFixed(2)} ms p95 ${f95.toFixed(2)} ms`);
  assert.ok(f50 < 3 * d50 + 5, `a forwarded exchange (p50 ${f50.toFixed(2)} ms) costs at most a few ms more than a direct one (${d50.toFixed(2)} ms)`);
});

clusterTest("Redis restarts mid-chat: every client stays connected, the forwarding goes on, nothing acknowledged is lost or doubled", async () => {
  const room = uniq("outage");
  const members = [];
  for (const c of COMBOS) members.push(await member(c, room));
  const drops = [];
  for (const s of members) s.on("disconnect", (why) => drops.push(`${s.label}: ${why}`));
  // each member sends on and on, retrying a message with its clientMsgId until it is acknowledged
  const acked = new Map();
  let sending = true;
  const senders = members.map(async (s) => {
    for (let k = 0; sending; k++) {
      const clientMsgId = `${s.user.id}-${k}`;
      for (;;) {
        const [r] = await emitAckWithin(5000, s, "send-message", { roomId: room, content: `#${k}`, clientMsgId });
        if (r.ok) { acked.set(clientMsgId, r.message.id); break; }
        assert.equal(r.error.code, "UNAVAILABLE", `${s.label}: a send while Redis is away`);
        await sleep(150);
      }
      await sleep(100);
    }
  });
  await sleep(800);
  const port = redis.port;
  const forwardedBefore = sum(await metricsOf(), 'edgeio_forwarded_total{kind="poll"}');
  await redis.kill();
  await sleep(2000);
  const forwardedDuring = sum(await metricsOf(), 'edgeio_forwarded_total{kind="poll"}') - forwardedBefore;
  redis = await startRedis({ port, dir: redisDir, persist: true, label: "redis (restarted)" });
  await waitForMesh(nodes, 10000);
  await sleep(800);
  sending = false;
  await Promise.all(senders);
  assert.deepEqual(drops, [], "no client was disconnected");
  assert.ok(forwardedDuring > 0, "polls were forwarded while Redis was away");
  // every acknowledged message is stored once
  const stored = [];
  for (let q = { roomId: room, limit: 100 }; ;) {
    const r = await ackOk(members[0], "get-history", q);
    stored.unshift(...r.messages.map((m) => m.id));
    if (!r.hasMore || r.messages.length === 0) break;
    q = { roomId: room, limit: 100, before: r.messages[0].id };
  }
  assertEachOnce("history", stored, [...acked.values()]);
  assert.equal(stored.length, acked.size, "history holds the acknowledged messages only");
  for (const s of members) assert.equal(new Set(s.got).size, s.got.length, `${s.label} got no message twice`);
  await chatRound(members, room, "after the restart");
}, 40000);

clusterTest("SIGKILL of a node: its clients reconnect at once through the balancer and chat on, each message to every member once", async (t) => {
  const room = uniq("kill");
  const members = [];
  const fast = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 300, randomizationFactor: 0 };
  for (const c of COMBOS) for (let i = 0; i < 2; i++) members.push(await member(c, room, fast));
  for (const s of members) {
    s.on("disconnect", () => { s.droppedAt = Date.now(); });
    s.io.on("reconnect", () => { s.backAt = Date.now(); s.rejoined = ackOk(s, "join-room", room); });
  }
  await chatRound(members, room, "before the kill");
  const C = nodes[2];
  const killedAt = Date.now();
  C.proc.kill("SIGKILL");
  await until(() => members.some((s) => s.droppedAt !== undefined), 5000, "the dead node's clients to see it go");
  await sleep(500); // each learns it at once: its next request, or its WebSocket, fails
  await until(() => members.every((s) => s.droppedAt === undefined || s.backAt !== undefined), 10000,
    "every dropped client to reconnect").catch((err) => {
    throw new Error(`${err.message}: ${members.filter((s) => !s.backAt && s.droppedAt).map((s) => s.label).join(", ")}`);
  });
  const dropped = members.filter((s) => s.droppedAt !== undefined);
  await Promise.all(dropped.map((s) => s.rejoined));
  const slowest = Math.max(...dropped.map((s) => s.backAt - Math.max(killedAt, s.droppedAt)));
  t.diagnostic(`${dropped.length} of ${members.length} clients dropped by the kill, the last back ${slowest} ms after its drop`);
  assert.ok(slowest < 4000, `the last dropped client was back ${slowest} ms after its drop: told at once, not after a ping timeout`);
  await chatRound(members, room, "after the kill");
});
