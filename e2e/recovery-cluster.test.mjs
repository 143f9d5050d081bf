// Connection state recovery across the nodes of a cluster (docs/reliability.md), with stock
// socket.io-client 4.x behind a TCP balancer that sends it to another node when it comes
// back: a client cut off from node A, or drained off it by SIGTERM, reconnects to node B
// with socket.recovered true, the same socket id, its room without a join-room, and every
// acknowledged message sent meanwhile from either node exactly once, each sender's in
// order; then live traffic. A draining node waits for its clients to be taken over, then
// exits before --drain-timeout.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { combo } from "./lib/client.mjs";
import { closeOrphans, withScope } from "./lib/scope.mjs";
import { chatConnect, ackOk, send, sleep, until, waitFor, uniq } from "./lib/chat.mjs";
import { startRedis, startNode, waitForMesh, withLogs } from "./lib/redis.mjs";
import { balancer } from "./lib/balancer.mjs";

let redis;
const nodes = [];
const balancers = [];
after(async () => {
  closeOrphans();
  for (const b of balancers) b.close();
  await Promise.all(nodes.map((n) => n.stop()));
  if (redis) await redis.stop();
});

/** Sends a message every `gap` ms from `socket` until stopped; `acked` holds the stored ones. */
function chatter(socket, room, gap = 60) {
  const st = { acked: [], stopped: false };
  st.done = (async () => {
    for (let n = 0; !st.stopped; n++) {
      st.acked.push(await send(socket, room, `${socket.user.id} ${n}`));
      await sleep(gap);
    }
  })();
  return st;
}

/** Checks that `seen` (new-message payloads) holds each of `acked` exactly once, in its order. */
function assertEachOnceInOrder(seen, acked, who) {
  const ids = seen.map((m) => m.id);
  assert.equal(new Set(ids).size, ids.length, `${who} got a message twice`);
  const want = acked.map((m) => m.id);
  const got = ids.filter((id) => want.includes(id));
  assert.deepEqual(got, want, `${who}: every acknowledged message once, in the order it was sent`);
}

/** Alice on node A through the balancer, bob on B and carol on A directly, all in one room. */
async function setup(combination) {
  const [A, B] = nodes;
  const lb = await balancer(A);
  balancers.push(lb);
  const room = uniq("moving");
  const alice = await chatConnect(lb, uniq("alice"), {
    combo: combination,
    recover: true,
    opts: { reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 400, randomizationFactor: 0 },
  });
  const bob = await chatConnect(B, uniq("bob"));
  const carol = await chatConnect(A, uniq("carol"));
  for (const s of [alice, bob, carol]) await ackOk(s, "join-room", room);
  const seen = [];
  // the recovery offset comes after the payload: the payload is the first argument
  alice.on("new-message", (m) => seen.push(m));
  return { A, B, lb, room, alice, bob, carol, seen };
}

async function startCluster() {
  if (nodes.length) return;
  redis = await startRedis();
  nodes.push(await startNode(redis, { nodeId: `rec-a-${process.pid}`, args: ["--drain-timeout", "10s"] }));
  nodes.push(await startNode(redis, { nodeId: `rec-b-${process.pid}` }));
  await waitForMesh(nodes);
}

for (const [name, combination] of [["websocket/json", combo("websocket", "json")], ["polling/msgpack", combo("polling", "msgpack")]]) {
  test(`${name}: cut off from node A, back on node B recovered with what both nodes sent meanwhile, once and in order`, { timeout: 40000 },
    withLogs(() => [...nodes, redis], () => withScope(async () => {
      await startCluster();
      const { B, lb, room, alice, bob, carol, seen } = await setup(combination);
      const id = alice.id;
      const before = await send(bob, room, "before the cut");
      await until(() => seen.some((m) => m.id === before.id), 5000, "alice to get the first message");

      const reconnected = waitFor(alice, "connect", 15000, "alice's reconnection");
      lb.to(B);
      lb.cut();
      const talk = [chatter(bob, room), chatter(carol, room)];
      await sleep(1500);
      await reconnected;
      assert.equal(alice.recovered, true, "socket.recovered after reconnecting to another node");
      assert.equal(alice.id, id, "the same socket id on the other node");
      await sleep(500);
      for (const c of talk) c.stopped = true;
      await Promise.all(talk.map((c) => c.done));
      // the room is alice's on node B without a join-room: she sends, and both others get it
      const back = await send(alice, room, "back");
      await until(() => seen.some((m) => m.id === back.id), 5000, "alice's own message");
      await sleep(300);
      assertEachOnceInOrder(seen, talk[0].acked, "alice (bob's messages, from node B)");
      assertEachOnceInOrder(seen, talk[1].acked, "alice (carol's messages, from node A)");
      assert.equal(seen.filter((m) => m.id === before.id).length, 1, "the message before the cut once");
    })));
}

test("SIGTERM on node A: its client is drained to node B recovered, and A exits once it was taken over", { timeout: 40000 },
  withLogs(() => [...nodes, redis], () => withScope(async () => {
    await startCluster();
    const { A, B, lb, room, alice, bob, carol, seen } = await setup(combo("websocket", "json"));
    carol.disconnect(); // on purpose: nothing of hers is kept for A to wait for
    const id = alice.id;
    const talk = chatter(bob, room);
    await until(() => seen.length >= 3, 5000, "alice to hear bob");

    lb.to(B); // A is draining: the balancer sends new connections elsewhere
    const reconnected = waitFor(alice, "connect", 15000, "alice's reconnection");
    const exited = new Promise((resolve) => A.proc.once("exit", (code) => resolve({ code, at: Date.now() })));
    const termAt = Date.now();
    A.proc.kill("SIGTERM");
    await reconnected;
    assert.equal(alice.recovered, true, "socket.recovered after the drain");
    assert.equal(alice.id, id, "the same socket id");
    const { code, at } = await exited;
    assert.equal(code, 0, "node A exits cleanly");
    assert.ok(at - termAt < 8000, `node A exited ${at - termAt} ms after SIGTERM: it waited for the takeover, not --drain-timeout (10 s)`);
    assert.match(A.logs(), /drained in/);
    assert.doesNotMatch(A.logs(), /not taken over/);
    await sleep(500);
    talk.stopped = true;
    await talk.done;
    await sleep(300);
    assertEachOnceInOrder(seen, talk.acked, "alice (bob's messages)");
  })));
