// One of three edgeio nodes dies with SIGKILL (no goodbye): within --node-timeout (2 s here)
// plus a margin, the users it alone held leave their rooms and go offline on the surviving
// nodes (room-member-left per room, one presence-update offline with lastSeen per socket
// sharing a room), get-room-presence stops listing them, and users also connected elsewhere
// stay.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { combo } from "./lib/client.mjs";
import { closeOrphans } from "./lib/scope.mjs";
import { chatConnect, ackOk, defaultName, assertKeys, assertTime, sleep } from "./lib/chat.mjs";
import { startRedis, startNodes, waitForMesh, recordAll, step, withLogs, numsub, roomChannel } from "./lib/redis.mjs";

const NODE_TIMEOUT_MS = 2000;
const MARGIN_MS = 2000;

let redis;
let nodes = [];

after(async () => {
  closeOrphans();
  await Promise.all(nodes.map((n) => n.stop()));
  if (redis) await redis.stop();
});

test("SIGKILL of a node: its users go offline on the other nodes within --node-timeout", { timeout: 30000 },
  withLogs(() => [...nodes, redis], async (t) => {
    redis = await startRedis();
    nodes = await startNodes(redis, 3, { args: ["--node-timeout", `${NODE_TIMEOUT_MS}ms`] });
    const [A, B, C] = nodes;
    await waitForMesh(nodes);

    const plan = [
      ["a1", A, "alice", combo("websocket", "json"), ["main", "side"]],
      ["b1", B, "bob", combo("polling", "msgpack"), ["main"]],
      ["d1", B, "dan", combo("websocket", "msgpack"), ["main"]],
      ["e1", A, "eve", combo("polling", "json"), ["elsewhere"]],
      ["c1", C, "carol", combo("websocket", "json"), ["main", "side"]], // only on C
      ["k1", C, "cody", combo("polling", "msgpack"), ["main"]], // only on C
      ["d2", C, "dan", combo("websocket", "json"), ["main", "side"]], // dan is on B too, but in side only through C
    ];
    const S = {};
    for (const [name, node, user, cb, rooms] of plan) {
      S[name] = recordAll(await chatConnect(node, user, { combo: cb }), `${name}(${user}@${node.nodeId.slice(0, 6)})`);
      for (const r of rooms) await ackOk(S[name], "join-room", r);
    }
    await sleep(300);
    const survivors = [S.a1, S.b1, S.d1, S.e1];
    const ids = async (s, room) => (await ackOk(s, "get-room-presence", room)).users.map((u) => u.userId);
    assert.deepStrictEqual(await ids(S.a1, "main"), ["alice", "bob", "carol", "cody", "dan"], "main before, via A");
    assert.deepStrictEqual(await ids(S.b1, "side"), ["alice", "carol", "dan"], "side before, via B");

    let killedAt;
    const offline = (id) => ({ userId: id, status: "offline" });
    const { payloads } = await step("node C is SIGKILLed", survivors, async () => {
      killedAt = Date.now();
      C.proc.kill("SIGKILL");
    }, [
      // alice shares main and side with carol: left twice, offline once
      [S.a1, "room-member-left", { roomId: "main", userId: "carol" }],
      [S.a1, "room-member-left", { roomId: "side", userId: "carol" }],
      [S.a1, "room-member-left", { roomId: "main", userId: "cody" }],
      [S.a1, "room-member-left", { roomId: "side", userId: "dan" }], // dan was in side only through C
      [S.a1, "presence-update", offline("carol")],
      [S.a1, "presence-update", offline("cody")],
      ...[S.b1, S.d1].flatMap((s) => [
        [s, "room-member-left", { roomId: "main", userId: "carol" }],
        [s, "room-member-left", { roomId: "main", userId: "cody" }],
        [s, "presence-update", offline("carol")],
        [s, "presence-update", offline("cody")],
      ]),
    ], { within: NODE_TIMEOUT_MS + MARGIN_MS + 1000, quiet: 600 });
    const arrivals = survivors.flatMap((s) => s.log.map((x) => x.at - killedAt));
    const latest = Math.max(...arrivals);
    assert.ok(latest <= NODE_TIMEOUT_MS + MARGIN_MS, `everything arrived within node-timeout + ${MARGIN_MS} ms (latest ${latest} ms after the kill)`);
    for (const p of payloads.filter((x) => x.status)) {
      assertKeys(p, ["userId", "status", "lastSeen"], "offline presence-update");
      assertTime(p.lastSeen, "lastSeen");
      const seen = Date.parse(p.lastSeen);
      assert.ok(seen >= killedAt - 50 && seen <= Date.now(), `lastSeen ${p.lastSeen} is between the kill and now`);
    }
    for (const p of payloads.filter((x) => !x.status)) assertKeys(p, ["roomId", "userId"], "room-member-left");

    // the survivors' view
    for (const s of [S.a1, S.b1, S.d1]) {
      assert.deepStrictEqual(await ids(s, "main"), ["alice", "bob", "dan"], `main after, via ${s.label}`);
      assert.deepStrictEqual(await ids(s, "side"), ["alice"], `side after, via ${s.label}`);
    }
    const main = (await ackOk(S.b1, "get-room-presence", "main")).users;
    assert.deepStrictEqual(main.find((u) => u.userId === "dan"), { userId: "dan", username: defaultName("dan"), status: "online" }, "dan stays online (B)");
    for (const n of [A, B]) {
      assert.ok(n.alive(), `${n.nodeId} alive`);
      assert.equal((await n.metrics()).edgeio_cluster_nodes, 1, `${n.nodeId} sees one other node`);
    }
    assert.deepStrictEqual(await numsub(redis, [roomChannel("main"), roomChannel("side")]),
      { [roomChannel("main")]: 2, [roomChannel("side")]: 1 }, "C's subscriptions went with its connection");

    // the survivors chat on
    await step("alice sends in main after the kill", survivors,
      () => ackOk(S.a1, "send-message", { roomId: "main", content: "still here", clientMsgId: "after-kill" }),
      [S.a1, S.b1, S.d1].map((s) => [s, "new-message", { roomId: "main", clientMsgId: "after-kill" }]));
    t.diagnostic(`offline events arrived ${Math.min(...arrivals)}–${latest} ms after the SIGKILL (node-timeout ${NODE_TIMEOUT_MS} ms)`);
  }));
