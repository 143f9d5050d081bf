// A join-room ack means the socket is in the room: whatever another node broadcasts to the
// room after that ack must reach the socket. With per-room channels, a node has to be
// subscribed to the room's channel before it answers the join (the stock Node adapter,
// PSUBSCRIBEd to everything, has no such window). The race is narrow, so the sequence is
// repeated: alice joins on node A and, the moment her ack arrives, bob acts on node B:
// even rounds, bob joins (room-member-joined must reach alice); odd rounds, bob (already in
// the room) sends a message (new-message must reach alice).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { combo } from "./lib/client.mjs";
import { closeOrphans } from "./lib/scope.mjs";
import { chatConnect, ackOk } from "./lib/chat.mjs";
import { startRedis, startNodes, waitForMesh, withLogs, waitForEvent as waitForMatch } from "./lib/redis.mjs";

const ROUNDS = Number(process.env.E2E_JOIN_RACE_ROUNDS || 1000);

let redis;
let nodes = [];

after(async () => {
  closeOrphans();
  await Promise.all(nodes.map((n) => n.stop()));
  if (redis) await redis.stop();
});

test(`a broadcast from another node right after a join-room ack reaches the joiner (${ROUNDS} rounds)`, { timeout: 40000 },
  withLogs(() => [...nodes, redis], async (t) => {
    redis = await startRedis();
    nodes = await startNodes(redis, 2);
    const [A, B] = nodes;
    await waitForMesh(nodes);
    const a1 = await chatConnect(A, "alice", { combo: combo("websocket", "json") });
    const b1 = await chatConnect(B, "bob", { combo: combo("websocket", "msgpack") });
    const lostJoined = [];
    const lostMsg = [];
    const t0 = Date.now();
    for (let i = 0; i < ROUNDS; i++) {
      const room = `race-${i}`;
      if (i % 2 === 0) {
        const joined = waitForMatch(a1, "room-member-joined", (j) => j.roomId === room, 400).then(() => true, () => false);
        await ackOk(a1, "join-room", room); // node A subscribes to the room's channel, then acks...
        await ackOk(b1, "join-room", room); // ...so node B's room-member-joined reaches alice
        if (!(await joined)) lostJoined.push(room);
      } else {
        await ackOk(b1, "join-room", room);
        const msg = waitForMatch(a1, "new-message", (m) => m.roomId === room, 400).then(() => true, () => false);
        await ackOk(a1, "join-room", room);
        await ackOk(b1, "send-message", { roomId: room, content: `m${i}` });
        if (!(await msg)) lostMsg.push(room);
      }
      await ackOk(a1, "leave-room", room);
      await ackOk(b1, "leave-room", room);
    }
    const half = ROUNDS / 2;
    t.diagnostic(`lost room-member-joined: ${lostJoined.length}/${Math.ceil(half)}, lost new-message: ${lostMsg.length}/${Math.floor(half)} (${Date.now() - t0} ms)`);
    assert.deepStrictEqual({ lostJoined, lostMsg }, { lostJoined: [], lostMsg: [] },
      "every room-member-joined and new-message that node B broadcast after alice's join-room ack on node A reached her");
  }));
