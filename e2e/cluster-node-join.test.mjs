// A node that joins a running cluster learns the users the other nodes already hold (they
// send it a snapshot of their presence when it says hello): get-room-presence on the new node
// lists them, and a user already in a room through another node does not "join" it again when
// they open a socket on the new node. Three nodes join one after the other, each checked.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { combo } from "./lib/client.mjs";
import { closeOrphans } from "./lib/scope.mjs";
import { chatConnect, ackOk, defaultName, sleep } from "./lib/chat.mjs";
import { startRedis, startNode, startNodes, waitForMesh, recordAll, step, withLogs } from "./lib/redis.mjs";


let redis;
let nodes = [];

after(async () => {
  closeOrphans();
  await Promise.all(nodes.map((n) => n.stop()));
  if (redis) await redis.stop();
});

test("a node that joins later learns the users of the running nodes", { timeout: 30000 },
  withLogs(() => [...nodes, redis], async (t) => {
    redis = await startRedis();
    nodes = await startNodes(redis, 2);
    const [A, B] = nodes;
    await waitForMesh(nodes);
    const a1 = recordAll(await chatConnect(A, "alice", { combo: combo("websocket", "json") }), "a1(alice@A)");
    const b1 = recordAll(await chatConnect(B, "bob", { combo: combo("polling", "msgpack") }), "b1(bob@B)");
    await ackOk(a1, "join-room", "main");
    await ackOk(b1, "join-room", "main");
    await ackOk(b1, "update-presence", "busy");
    await sleep(200);

    const problems = [];
    for (const letter of ["c", "d", "e"]) {
      const N = await startNode(redis, { nodeId: `node-${letter}-${process.pid}` });
      nodes.push(N);
      await waitForMesh(nodes.filter((n) => n.alive()));
      await sleep(300); // more than enough for the snapshots to cross one local Redis
      const n1 = recordAll(await chatConnect(N, `newcomer-${letter}`, { combo: combo("websocket", "msgpack") }), `n1(newcomer@${letter})`);
      const users = (await ackOk(n1, "get-room-presence", "main")).users;
      const want = [
        { userId: "alice", username: defaultName("alice"), status: "online" },
        { userId: "bob", username: defaultName("bob"), status: "busy" },
      ];
      try {
        assert.deepStrictEqual(users, want);
      } catch {
        problems.push(`node ${letter}: get-room-presence main = ${JSON.stringify(users)}, expected alice online and bob busy`);
      }
      // bob, already in main through node B, opens a socket on the new node and joins main:
      // no room-member-joined (he was in the room already)
      const b2 = recordAll(await chatConnect(N, "bob", { combo: combo("polling", "json") }), `b2(bob@${letter})`);
      try {
        await step(`bob's socket on node ${letter} joins main`, [a1, b1, n1, b2], () => ackOk(b2, "join-room", "main"), []);
      } catch (err) {
        problems.push(err.message);
      }
      b2.close();
      n1.close();
      await N.stop();
      await sleep(300);
    }
    t.diagnostic(`${problems.length} problem(s) over 3 late nodes`);
    assert.deepStrictEqual(problems, [], "every late node knows the users the others hold");
  }));
