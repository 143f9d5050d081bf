// The bounds every attack of the hostile suite is held to (docs/security.md, "What one
// client can cost"): on a server with production defaults, while the attack runs, the
// server's RSS grows by less than RSS_BOUND_MB and honest clients' ack p95 stays within 2x
// of what it was before the attack (or SLACK_MS more: a p95 of a few milliseconds on a
// shared 2-core machine doubles from scheduling alone). The attacker is cut off or refused
// with a code; that part each test asserts itself.
import assert from "node:assert/strict";
import { sleep, honestRoom } from "./hostile.mjs";
import { p95, SLACK_MS } from "./latency.mjs";

/** RSS growth allowed during an attack, MB. */
export const RSS_BOUND_MB = 150;

/**
 * The production defaults of every limit the base test flags (lib/server.mjs) turn off or
 * shorten, put back: a hostile test that passes these meets the server as deployed.
 */
export const PRODUCTION = [
  "--max-conns-per-ip", "5",
  "--rate-handshakes", "60",
  "--rate-events", "20",
  "--rate-events-burst", "50",
  "--rate-messages", "30",
  "--rate-edits", "30",
  "--rate-receipts", "5",
  "--rate-presence", "2",
  "--rate-joins", "120",
  "--storage-quota", "100000000",
  "--auth-fail-limit", "10",
  "--ping-interval", "25s",
  "--ping-timeout", "20s",
  "--connect-timeout", "45s",
];

/**
 * A server with production defaults (plus `extra`, later flags win) and a room of honest
 * users, one on each of `ips` (`roomOpts`: honestRoom's options). Returns {server, room}.
 */
export async function productionRoom(ctx, ips, extra = [], roomOpts = {}) {
  const server = await ctx.start([...PRODUCTION, ...extra]);
  const room = await honestRoom(ctx, server, ips, roomOpts);
  return { server, room };
}

/**
 * Honest traffic with its latencies: every member asks for the room's presence (acked) every
 * `everyMs`, and the acks' round trips are recorded. Returns {stop(): latencies (ms), errors}.
 */
function probe(room, everyMs) {
  const latencies = [];
  const errors = [];
  let running = true;
  const loops = room.members.map(async (m, i) => {
    await sleep((everyMs * i) / room.members.length); // spread over the interval
    while (running) {
      const t0 = Date.now();
      try {
        const r = await m.timeout(5000).emitWithAck("get-room-presence", room.roomId);
        if (r && r.ok === true) latencies.push(Date.now() - t0);
        else errors.push(JSON.stringify(r));
      } catch (err) {
        errors.push(`${m.user}: ${err.message}`);
      }
      await sleep(Math.max(0, everyMs - (Date.now() - t0)));
    }
  });
  return {
    async stop() {
      running = false;
      await Promise.all(loops);
      return { latencies, errors };
    },
  };
}

/**
 * Runs `attack()` (which resolves when the attack is over; it should stop by itself within
 * its own deadline) against `server` while the honest `room` keeps asking, and holds the
 * server to the suite's bounds: RSS growth below `rssBoundMB`, honest ack p95 within 2x (or
 * +SLACK_MS) of a baseline measured just before, no honest error, the process alive, and the
 * room's members still chatting afterwards (room.check). Reports the figures as a test
 * diagnostic and returns them: {rssBeforeMB, rssPeakMB, p95Before, p95During, attack: what
 * attack() resolved with}.
 */
export async function underAttack(ctx, server, room, attack, {
  what = "attack", baselineMs = 1500, everyMs = 100, rssBoundMB = RSS_BOUND_MB, minSamples = 20,
} = {}) {
  const t = ctx.t;
  // baseline: the same honest traffic, nothing else
  const base = probe(room, everyMs);
  await sleep(baselineMs);
  const before = await base.stop();
  assert.deepStrictEqual(before.errors, [], `${what}: honest requests failed before the attack`);

  const rssBefore = server.rssKB();
  let rssPeak = rssBefore;
  const sampler = setInterval(() => {
    try { rssPeak = Math.max(rssPeak, server.rssKB()); } catch { /* exited: asserted below */ }
  }, 25);
  const during = probe(room, everyMs);
  let outcome;
  try {
    outcome = await attack();
  } finally {
    clearInterval(sampler);
  }
  const seen = await during.stop();
  try { rssPeak = Math.max(rssPeak, server.rssKB()); } catch { /* exited */ }

  const figures = {
    rssBeforeMB: rssBefore / 1024,
    rssPeakMB: rssPeak / 1024,
    p95Before: p95(before.latencies),
    p95During: p95(seen.latencies),
    attack: outcome,
  };
  t.diagnostic(`${what}: RSS ${figures.rssBeforeMB.toFixed(0)} MB before, peak ${figures.rssPeakMB.toFixed(0)} MB ` +
    `(+${(figures.rssPeakMB - figures.rssBeforeMB).toFixed(0)} MB, bound ${rssBoundMB}); honest ack p95 ` +
    `${figures.p95Before} ms before (${before.latencies.length}), ${figures.p95During} ms during (${seen.latencies.length})`);

  assert.ok(server.alive(), `${what}: the server process died`);
  assert.ok(figures.rssPeakMB - figures.rssBeforeMB < rssBoundMB,
    `${what}: RSS grew by ${(figures.rssPeakMB - figures.rssBeforeMB).toFixed(0)} MB (bound ${rssBoundMB} MB)`);
  assert.deepStrictEqual(seen.errors, [], `${what}: honest requests failed during the attack`);
  assert.ok(before.latencies.length >= minSamples && seen.latencies.length >= minSamples,
    `${what}: too few honest requests to measure a p95 (${before.latencies.length} before, ${seen.latencies.length} during)`);
  assert.ok(figures.p95During <= Math.max(2 * figures.p95Before, figures.p95Before + SLACK_MS),
    `${what}: honest ack p95 ${figures.p95During} ms during against ${figures.p95Before} ms before (at most 2x, or +${SLACK_MS} ms)`);
  await room.check(what);
  return figures;
}
