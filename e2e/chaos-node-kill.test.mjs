// Chaos: one of three edgeio nodes (Redis store and fan-out) is SIGKILLed in the middle of a
// chat in which a user on every node keeps sending. Checked (docs/reliability.md): no
// acknowledged message is lost (each is in history exactly once, the killed node's
// included), none reaches a surviving client twice, the survivors' messages keep reaching
// the survivors, and their delivery p95 during the kill stays within 2x of before (with a
// 20 ms allowance: a p95 of a few milliseconds on this shared machine doubles from
// scheduling alone; lib/latency.mjs).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { combo, emitAckWithin } from "./lib/client.mjs";
import { closeOrphans } from "./lib/scope.mjs";
import { chatConnect, ackOk, sleep } from "./lib/chat.mjs";
import { startRedis, startNodes, waitForMesh, withLogs } from "./lib/redis.mjs";
import { assertP95Kept } from "./lib/latency.mjs";

const R = "chaos";
const PHASE_MS = 3000;

let redis;
let nodes = [];
after(async () => {
  closeOrphans();
  await Promise.all(nodes.map((n) => n.stop()));
  if (redis) await redis.stop();
});

/** Sends a numbered, timestamped message every `gap` ms, retrying each with its clientMsgId until ok. */
function sender(socket, prefix, gap = 50) {
  const st = { acked: new Map(), stopped: false };
  st.done = (async () => {
    for (let k = 1; !st.stopped; k++) {
      const clientMsgId = `${prefix}-${k}`;
      while (!st.stopped) {
        let r;
        try {
          [r] = await emitAckWithin(2000, socket, "send-message", { roomId: R, content: `${Date.now()}`, clientMsgId });
        } catch { continue; }
        if (r.ok) { st.acked.set(clientMsgId, r.message); break; }
        await sleep(100);
      }
      await sleep(gap);
    }
  })();
  return st;
}

/** Records every new-message with its latency (the content is the send time). */
function receiver(socket) {
  const got = [];
  socket.on("new-message", (m) => got.push({ id: m.id, cmid: m.clientMsgId, at: Date.now(), latency: Date.now() - Number(m.content) }));
  return got;
}

test("SIGKILL of a node mid-chat: nothing acknowledged lost, nothing twice, the survivors' p95 within 2x", { timeout: 45000 },
  withLogs(() => [...nodes, redis], async (t) => {
    redis = await startRedis();
    nodes = await startNodes(redis, 3);
    const [A, B, C] = nodes;
    await waitForMesh(nodes);
    const alice = await chatConnect(A, "alice", { combo: combo("websocket", "json") });
    const bob = await chatConnect(B, "bob", { combo: combo("websocket", "msgpack") });
    const carol = await chatConnect(C, "carol", { combo: combo("polling", "json") });
    const dan = await chatConnect(B, "dan", { combo: combo("polling", "msgpack") });
    const erin = await chatConnect(C, "erin", { combo: combo("websocket", "json") });
    for (const s of [alice, bob, carol, dan, erin]) await ackOk(s, "join-room", R);
    await sleep(300);
    const seen = { dan: receiver(dan), erin: receiver(erin) };
    const senders = { alice: sender(alice, "alice"), bob: sender(bob, "bob"), carol: sender(carol, "carol") };

    await sleep(PHASE_MS);
    const killedAt = Date.now();
    A.proc.kill("SIGKILL");
    senders.alice.stopped = true;
    await sleep(PHASE_MS);
    senders.bob.stopped = true;
    senders.carol.stopped = true;
    await Promise.all([senders.bob.done, senders.carol.done]);
    await sleep(1000); // the last deliveries

    // every acknowledged message is stored exactly once
    const stored = [];
    for (let before; ;) {
      const page = await ackOk(dan, "get-history", { roomId: R, limit: 100, ...(before ? { before } : {}) });
      stored.unshift(...page.messages);
      if (!page.hasMore) break;
      before = page.messages[0].id;
    }
    const storedIds = stored.map((m) => m.id);
    assert.equal(new Set(storedIds).size, storedIds.length, "no message stored twice");
    const cmids = stored.map((m) => m.clientMsgId);
    assert.equal(new Set(cmids).size, cmids.length, "no clientMsgId stored twice");
    const have = new Set(storedIds);
    for (const [who, st] of Object.entries(senders)) {
      const lost = [...st.acked.values()].filter((m) => !have.has(m.id));
      assert.deepStrictEqual(lost.map((m) => m.clientMsgId), [], `${who}'s acknowledged messages lost`);
    }
    assert.ok(senders.alice.acked.size > 10 && senders.bob.acked.size > 20, `traffic: alice ${senders.alice.acked.size}, bob ${senders.bob.acked.size}, carol ${senders.carol.acked.size} acked`);

    for (const [who, got] of Object.entries(seen)) {
      const ids = got.map((g) => g.id);
      assert.equal(new Set(ids).size, ids.length, `${who} got a message twice`);
      // the survivors' messages reached the survivors, through the kill
      const missing = [...senders.bob.acked.values(), ...senders.carol.acked.values()].filter((m) => !ids.includes(m.id));
      assert.deepStrictEqual(missing.map((m) => m.clientMsgId), [], `${who} missed survivors' messages`);
      const before = got.filter((g) => g.at < killedAt).map((g) => g.latency);
      const during = got.filter((g) => g.at >= killedAt && !g.cmid.startsWith("alice")).map((g) => g.latency);
      assertP95Kept(t, who, before, during, { phases: ["before the kill", "after"] });
    }
    for (const s of [bob, carol, dan, erin]) assert.ok(s.connected, "the survivors' clients stayed connected");
  }));
