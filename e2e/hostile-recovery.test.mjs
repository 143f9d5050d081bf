// What an attacker can make connection state recovery hold, and what it cannot take from
// others (docs/security.md, docs/reliability.md): a flood of big room broadcasts keeps the
// recovery log within --recovery-max-bytes and its journal within about twice that, with the
// server's RSS growth under the hostile suite's bound, and the next process reads the
// journal back within the bound; another user presenting a victim's pid gets a fresh socket
// and leaves the victim's state to her, on one node and across the nodes of a cluster.
//
// Clients come from 127.0.12.x.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import {
  hostileTest, connectUser, makeSocket, rawSocketIO, outcome, ackOk, join, tokenFor, uniq, sleep, until, metricValue,
} from "./lib/hostile.mjs";
import { productionRoom, underAttack, PRODUCTION, RSS_BOUND_MB } from "./lib/attack.mjs";
import { startServer } from "./lib/server.mjs";
import { startRedis, startNode, waitForMesh, withLogs } from "./lib/redis.mjs";
import { balancer } from "./lib/balancer.mjs";
import { chatConnect, send } from "./lib/chat.mjs";
import { closeOrphans, withScope } from "./lib/scope.mjs";
import { record, waitFor } from "./lib/client.mjs";

// The log's bound, smaller than its default (32 MiB) so that a flood at the production
// event rate goes through it several times within seconds; through the environment, which a
// build without the flag ignores (it then shows what the flood costs without the bound).
const MAX_BYTES = 8 << 20;
process.env.EDGEIO_RECOVERY_MAX_BYTES = String(MAX_BYTES);
// What the flood needs relaxed: edits' per-user budget and the daily storage quota.
const FLOOD_FLAGS = ["--rate-edits", "0", "--storage-quota", "0"];

const HONEST = ["127.0.12.1", "127.0.12.2"];
const FLOODER = "127.0.12.10";
const FLOODER_SOCKETS = 4; // under PRODUCTION's 5 per address, each at its 20 events a second
const JOURNAL_BOUND = 2 * MAX_BYTES + (1 << 20); // twice the log, and the sockets' records and the slack
// an edit of 9,990 ampersands: 10 KB sent, 50 KB broadcast once escaped
const BIG = "&".repeat(9990);
const BROADCAST_BYTES = BIG.length * 5;

/** Cuts a WebSocket client's connection as a network would: no goodbye. */
const cut = (socket) => socket.io.engine.transport.ws._socket.destroy();

/** The reconnection options of a client that comes back after `ms`. */
const backAfter = (ms) => ({ reconnection: true, reconnectionDelay: ms, reconnectionDelayMax: ms, randomizationFactor: 0 });

hostileTest("a flood of 50 KB room broadcasts: the recovery log stays within --recovery-max-bytes, its journal within twice that, RSS growth under the bound; the next process reads the journal back within the bound", async (ctx) => {
  const { server, room } = await productionRoom(ctx, HONEST, FLOOD_FLAGS);
  const journal = path.join(server.dataDir, "recovery.journal");
  // Flooders by hand (raw WebSockets: what they receive is not parsed), each editing its own
  // message in a room of its own: the log is the server's, whichever room a broadcast is for,
  // and the test's own process stays out of the honest clients' latencies.
  const flooders = [];
  for (let k = 0; k < FLOODER_SOCKETS; k++) {
    // asking for recovery: the log then keeps what could be replayed to them
    const s = await rawSocketIO(ctx, server, { ip: FLOODER, token: tokenFor(uniq("flooder")), auth: { recovery: true } });
    const own = uniq("flood");
    assert.equal((await s.emit("join-room", own)).ok, true, "a flooder joins its room");
    s.messageId = (await s.emit("send-message", { roomId: own, content: "to be edited" })).message.id;
    flooders.push(s);
  }
  // through the log: enough for it to reach its bound and for the journal to grow to twice
  // the bound and be rewritten
  const target = Math.ceil((3.5 * MAX_BYTES) / BROADCAST_BYTES);
  let journalPeak = 0;
  let logPeak = 0;
  const journalSize = () => { try { return statSync(journal).size; } catch { return 0; } };

  const figures = await underAttack(ctx, server, room, async () => {
    const sampler = setInterval(() => { journalPeak = Math.max(journalPeak, journalSize()); }, 20);
    let scraping = true;
    const scraper = (async () => {
      while (scraping) {
        logPeak = Math.max(logPeak, metricValue(await server.metricsText(), "edgeio_recovery_log_bytes"));
        await sleep(100);
      }
    })();
    let edits = 0;
    const deadline = Date.now() + 30000;
    const t0 = Date.now();
    try {
      await Promise.all(flooders.map(async (s) => {
        while (edits < target && Date.now() < deadline) {
          const r = await s.emit("edit-message", { messageId: s.messageId, content: `${BIG}${edits}` });
          s.queue.length = 0; // its own broadcasts: not looked at
          if (r && r.ok) edits++;
          else if (r && r.error && r.error.code === "RATE_LIMITED") await sleep(r.error.retryAfterMs);
          else throw new Error(`edit refused: ${JSON.stringify(r)}`);
        }
      }));
    } finally {
      clearInterval(sampler);
      scraping = false;
      await scraper;
    }
    journalPeak = Math.max(journalPeak, journalSize());
    return { edits, seconds: (Date.now() - t0) / 1000 };
  }, { what: "a flood of 50 KB edits" });

  const text = await server.metricsText();
  const evicted = metricValue(text, "edgeio_recovery_evicted_total", { reason: "bytes" });
  ctx.t.diagnostic(`${figures.attack.edits} edits of 50 KB in ${figures.attack.seconds} s (${(figures.attack.edits * BROADCAST_BYTES / 1e6).toFixed(0)} MB): ` +
    `recovery log at most ${(logPeak / 1e6).toFixed(1)} MB (bound ${(MAX_BYTES / 1e6).toFixed(1)}), ${evicted} evicted for its bytes; ` +
    `journal at most ${(journalPeak / 1e6).toFixed(1)} MB (bound ${(JOURNAL_BOUND / 1e6).toFixed(1)})`);
  assert.ok(figures.attack.edits >= target, `the flood got ${figures.attack.edits} of its ${target} edits through`);
  assert.ok(journalPeak <= JOURNAL_BOUND, `the journal grew to ${journalPeak} bytes (bound ${JOURNAL_BOUND})`);
  assert.ok(logPeak <= MAX_BYTES, `the recovery log held ${logPeak} bytes (bound ${MAX_BYTES})`);
  assert.ok(evicted > 0, "broadcasts were dropped from the log for its byte bound");

  // a crash, then the next process on the same data directory reads the journal back
  const rssBefore = figures.rssBeforeMB;
  server.proc.kill("SIGKILL");
  await until(() => !server.alive(), 5000, "the killed server to exit");
  const size = journalSize();
  const started = Date.now();
  const next = await startServer(server.args, { port: server.port, label: "the next process" });
  try {
    const upMs = Date.now() - started;
    const read = /recovery journal: (\d+) broadcasts and \d+ sessions from the previous process \((\d+) KB kept of a (\d+) KB journal, read in ([^)]+)\)/.exec(next.logs());
    const rssMB = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${next.proc.pid}/status`, "utf8"))[1]) / 1024;
    ctx.t.diagnostic(`the next process read a ${(size / 1e6).toFixed(1)} MB journal and accepted connections after ${upMs} ms ` +
      `(${read ? `${read[1]} broadcasts, ${read[2]} KB kept, read in ${read[4]}` : "no journal line"}); RSS ${rssMB.toFixed(0)} MB`);
    assert.ok(read, `the next process reports what it read of the journal:\n${next.logs()}`);
    assert.ok(Number(read[2]) * 1024 <= MAX_BYTES, `the next process kept ${read[2]} KB of the journal (bound ${MAX_BYTES >> 10} KB)`);
    assert.ok(rssMB - rssBefore < RSS_BOUND_MB, `the next process started at ${rssMB.toFixed(0)} MB RSS, ${(rssMB - rssBefore).toFixed(0)} MB above the first one's before the flood (bound ${RSS_BOUND_MB})`);
  } finally {
    await next.stop();
  }
}, { timeout: 60000 });

/**
 * A stolen pid: alice (who asked for recovery, and comes back 3 s after a cut) and bob share
 * `room`; alice's connection fails (`cutAlice`) and bob sends; `mallory(auth)` connects as
 * herself with alice's pid, with and without her offset, and must get a socket of her own;
 * then alice, back, recovers with what she missed. `where` says where they connect.
 */
async function stolenPid({ alice, bob, room, cutAlice, mallory, where }) {
  const heard = record(alice, "new-message");
  const before = await send(bob, room, "before the cut");
  await until(() => heard.length === 1, 5000, "alice to get the first message");
  const id = alice.id;
  const pid = alice._pid; // what a thief would have stolen
  const offset = alice._lastOffset;
  assert.equal(typeof pid, "string", "alice got a pid");

  const gone = waitFor(alice, "disconnect", 5000, "the cut");
  cutAlice();
  await gone;
  const missed = await send(bob, room, "while away");
  for (const auth of [{ pid, offset }, { pid }]) {
    const m = await mallory(auth);
    assert.equal(m.recovered, false, `mallory did not recover alice's socket ${where}`);
    assert.notEqual(m.id, id, "mallory got a socket of her own");
    m.close();
  }
  assert.equal(alice.connected, false, "alice was still away during mallory's attempts");

  await waitFor(alice, "connect", 10000, `alice's reconnection ${where}`);
  assert.equal(alice.recovered, true, `alice recovered ${where} after mallory's attempts`);
  assert.equal(alice.id, id, "alice's socket id");
  await until(() => heard.length === 2, 5000, "what alice missed");
  assert.deepStrictEqual(heard.map(([m]) => m.id), [before.id, missed.id], "what she missed, once");
}

hostileTest("another user presenting a victim's pid and offset gets a fresh socket; the victim still recovers, with what she missed", async (ctx) => {
  const server = await ctx.start(PRODUCTION);
  const room = uniq("theft");
  const alice = makeSocket(ctx, server, { ip: "127.0.12.20", auth: { token: tokenFor(uniq("alice")), recovery: true }, opts: backAfter(3000) });
  assert.equal((await outcome(alice)).ok, true, "alice connects");
  const bob = await connectUser(ctx, server, uniq("bob"), "127.0.12.21");
  await join(alice, room);
  await join(bob, room);
  await stolenPid({
    alice, bob, room, where: "on her node",
    cutAlice: () => cut(alice),
    mallory: async (auth) => {
      const m = makeSocket(ctx, server, { ip: "127.0.12.22", auth: { token: tokenFor(uniq("mallory")), recovery: true, ...auth } });
      assert.equal((await outcome(m)).ok, true, "mallory connects, as herself");
      return m;
    },
  });
});

test("across nodes: another user presenting a victim's pid on the other node gets a fresh socket; the victim, sent there too, recovers", { timeout: 60000 }, async () => {
  const procs = [];
  await withLogs(() => procs, () => withScope(async () => {
    const redis = await startRedis();
    procs.push(redis);
    let lb;
    try {
      const A = await startNode(redis, { nodeId: `theft-a-${process.pid}` });
      procs.push(A);
      const B = await startNode(redis, { nodeId: `theft-b-${process.pid}` });
      procs.push(B);
      await waitForMesh([A, B]);
      lb = await balancer(A);
      const room = uniq("theft");
      const alice = await chatConnect(lb, uniq("alice"), { recover: true, opts: { ...backAfter(3000), localAddress: "127.0.12.30" } });
      const bob = await chatConnect(B, uniq("bob"), { opts: { localAddress: "127.0.12.31" } });
      for (const s of [alice, bob]) await ackOk(s, "join-room", room);
      await stolenPid({
        alice, bob, room, where: "on the other node",
        cutAlice: () => { lb.to(B); lb.cut(); },
        mallory: (auth) => chatConnect(B, uniq("mallory"), { recover: true, auth, opts: { localAddress: "127.0.12.32" } }),
      });
    } finally {
      if (lb) lb.close();
      closeOrphans();
      for (const p of procs.reverse()) await p.stop();
    }
  }))();
});
