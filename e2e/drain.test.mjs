// SIGTERM drains the server (docs/reliability.md): new handshakes get HTTP 503 (code
// UNAVAILABLE in the body, docs/events.md), every client
// is told to go away without a Socket.IO DISCONNECT (WebSocket close 1012 "service
// restart", polling the close packet) so stock clients reconnect by themselves, the store's
// last commit lands, and the process exits within --drain-timeout even when a client never
// collects its last packets. A server started on the same port and data directory (a
// rolling restart) gets the clients back recovered (socket.recovered, same ids, their room),
// and every acknowledged message is in its history exactly once.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { withScope, closeOrphans } from "./lib/scope.mjs";
import { TRANSPORTS, PARSERS } from "./lib/client.mjs";
import { startChat, makeDataDir, chatConnect, tokenFor, uniq, join, send, allIds, sleep, waitFor, until } from "./lib/chat.mjs";

const dataDir = makeDataDir();
const servers = [];
after(async () => {
  closeOrphans();
  for (const s of servers) await s.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const RECONNECT = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200, randomizationFactor: 0 };
const POLLING = { label: "polling/json", transport: TRANSPORTS.find((t) => t.name === "polling"), parser: PARSERS.json };

test("SIGTERM drains: 503 for new handshakes, close 1012 and the close packet, exit within --drain-timeout; clients come back to the next process with nothing acknowledged lost", { timeout: 60000 }, () => withScope(async () => {
  const drainMs = 3000;
  const first = await startChat(["--drain-timeout", `${drainMs}ms`], { dataDir });
  servers.push(first);
  const room = uniq("drain");
  const alice = uniq("alice");
  const bob = uniq("bob");
  const a = await chatConnect(first, alice, { recover: true, opts: RECONNECT });
  const b = await chatConnect(first, bob, { combo: POLLING, recover: true, opts: RECONNECT });
  await join(a, room);
  await join(b, room);

  // a client that opens a session and never polls again: the drain cannot wait for it forever
  const base = `${first.url}/socket.io/?EIO=4&transport=polling`;
  const open = await (await fetch(base)).text();
  const sid = JSON.parse(open.slice(1)).sid;
  const posted = await fetch(`${base}&sid=${sid}`, { method: "POST", body: `40${JSON.stringify({ token: tokenFor(uniq("stalled")) })}` });
  assert.equal(posted.status, 200);

  const gone = [a, b].map((s) => waitFor(s, "disconnect", 10000, "the drain's disconnect"));
  const acked = [];
  let pumping = true;
  const pump = (async () => {
    for (let n = 0; pumping; n++) {
      await new Promise((resolve) => {
        a.timeout(2000).emit("send-message", { roomId: room, content: `m${n}`, clientMsgId: `drain-${n}` }, (err, r) => {
          if (!err && r && r.ok) acked.push(r.message);
          resolve();
        });
      });
    }
  })();
  await until(() => acked.length >= 20, 10000, "20 acknowledged messages");

  const ids = { a: a.id, b: b.id };
  const exited = new Promise((resolve) => first.proc.once("exit", (code, signal) => resolve({ code, signal, at: Date.now() })));
  const termAt = Date.now();
  first.proc.kill("SIGTERM");

  // new handshakes are refused while the drain waits for the stalled poller
  let refused = null;
  while (!refused && Date.now() - termAt < drainMs) {
    const r = await fetch(base).catch(() => null);
    if (r && r.status === 503) refused = { retry: r.headers.get("retry-after"), body: await r.json() };
    else await sleep(20);
  }
  assert.ok(refused, "a handshake during the drain got HTTP 503");
  // a status, so that a stock client retries by itself (elsewhere), with the reason as a code
  assert.deepStrictEqual(refused, { retry: "1", body: {
    code: 503, message: "server shutting down", reason: "draining", data: { code: "UNAVAILABLE", retryAfterMs: 1000 },
  } });

  const [[aReason, aDetails], [bReason]] = await Promise.all(gone);
  pumping = false;
  assert.equal(aReason, "transport close", "the WebSocket client: a transport close, not 'io server disconnect' (it reconnects)");
  assert.equal(aDetails && aDetails.context && aDetails.context.code, 1012, "close code 1012 (service restart)");
  assert.equal(bReason, "transport close", "the polling client got the close packet");

  const exit = await exited;
  assert.equal(exit.code, 0, `clean exit: ${JSON.stringify(exit)}`);
  const took = exit.at - termAt;
  assert.ok(took < drainMs + 1500, `exited ${took} ms after SIGTERM, --drain-timeout ${drainMs} ms`);
  // the stalled poller at least (a busy machine may leave another's last poll unfinished)
  assert.match(first.logs(), /drain: context deadline exceeded after 3s; [1-9]\d* sessions left/, "the log says what the drain could not finish");
  assert.match(first.logs(), /drained in \d/);
  await pump;
  const ackedThen = [...acked];

  // the next process on the same port and data directory: the stock clients find it, and
  // recover there (the journal has them): same ids, their room, no join-room
  const second = await startChat([], { dataDir, port: first.port });
  servers.push(second);
  await Promise.all([a, b].map((s) => (s.connected ? null : waitFor(s, "connect", 10000, "the reconnect to the next process"))));
  assert.match(second.logs(), /recovery journal: \d+ broadcasts and \d+ sessions from the previous process/);
  for (const [k, s] of Object.entries({ a, b })) {
    assert.equal(s.recovered, true, `${k}: socket.recovered on the next process`);
    assert.equal(s.id, ids[k], `${k}: the same socket id`);
  }
  const live = waitFor(b, "new-message", 5000, "a message after the restart");
  const fresh = await send(a, room, "after the drain");
  assert.equal((await live)[0].id, fresh.id, "the reconnected polling client gets live messages");

  const storedIds = await allIds(b, room);
  const stored = new Set(storedIds);
  assert.equal(stored.size, storedIds.length, "no message stored twice");
  const lost = ackedThen.filter((m) => !stored.has(m.id));
  assert.deepStrictEqual(lost.map((m) => m.content), [], `acknowledged messages lost by the drain (${lost.length} of ${ackedThen.length})`);
}));
