// Three edgeio nodes on a three-master Redis Cluster (--redis-cluster, sharded pub/sub): the
// core chat flow (messages, typing, presence, history) across nodes, each event exactly once
// at each socket it is meant for; a room's channel is SSUBSCRIBEd on the shard that owns its
// slot, by the nodes that hold members of the room and by no other.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { combo, normalize } from "./lib/client.mjs";
import { closeOrphans } from "./lib/scope.mjs";
import { chatConnect, ackOk, history, defaultName, assertMessage, assertKeys, assertTime } from "./lib/chat.mjs";
import {
  startRedisCluster, startNodes, waitForMesh, recordAll, step, withLogs, shardSubscriptions, roomChannel,
} from "./lib/redis.mjs";

const ROOMS = ["s0", "s1", "s2", "s3", "s4", "s5"];
const TYPING_TIMEOUT_MS = 1500;

let cluster;
let nodes = [];
let A, B, C;
const S = {};
let all = [];
// user -> rooms; every socket of the user joins them
const plan = [
  ["u1", "A", combo("websocket", "json"), ROOMS],
  ["u2", "B", combo("polling", "msgpack"), ["s0", "s2", "s4"]],
  ["u3", "C", combo("websocket", "msgpack"), ["s1", "s3", "s5"]],
  ["u4", "C", combo("polling", "json"), ["s0", "s1"]],
  ["u5", "B", combo("upgrade", "json"), ["s5"]],
];
const members = (room) => plan.filter((p) => p[3].includes(room)).map((p) => S[p[0]]);
const sent = {};

const ctest = (name, fn, opts = {}) => test(name, { timeout: 20000, ...opts }, withLogs(() => [...nodes, ...(cluster ? cluster.nodes : [])], fn));

before(async () => {
  cluster = await startRedisCluster();
  // typing must outlast a step's quiet window on a loaded machine; the auto-stop is still tested
  nodes = await startNodes(cluster, 3, { args: ["--typing-timeout", `${TYPING_TIMEOUT_MS}ms`] });
  [A, B, C] = nodes;
  await waitForMesh(nodes);
  const byName = { A, B, C };
  for (const [user, node, cb] of plan) {
    S[user] = recordAll(await chatConnect(byName[node], user, { combo: cb }), `${user}@${node}(${cb.label})`);
  }
  all = Object.values(S);
}, { timeout: 40000 });

after(async () => {
  closeOrphans();
  await Promise.all(nodes.map((n) => n.stop()));
  if (cluster) await cluster.stop();
});

ctest("joins across nodes: room-member-joined once at the members on other nodes; channels sharded by slot", async () => {
  for (const [user, , , rooms] of plan) {
    for (const room of rooms) {
      const others = members(room).filter((s) => s !== S[user] && s.log !== undefined && s.joined?.has(room));
      await step(`${user} joins ${room}`, all, () => ackOk(S[user], "join-room", room),
        others.map((s) => [s, "room-member-joined", { roomId: room, user: { userId: user, username: defaultName(user), status: "online" } }]),
        { quiet: 100 });
      (S[user].joined ||= new Set()).add(room);
    }
  }
  const nodesOf = (room) => new Set(plan.filter((p) => p[3].includes(room)).map((p) => p[1])).size;
  const subs = await shardSubscriptions(cluster, ROOMS.map(roomChannel));
  const owners = new Set();
  for (const room of ROOMS) {
    const s = subs[roomChannel(room)];
    owners.add(s.owner);
    for (const [port, n] of Object.entries(s.sharded)) {
      assert.equal(n, Number(port) === s.owner ? nodesOf(room) : 0,
        `SSUBSCRIBE count of ${room}'s channel on master ${port} (owner ${s.owner}): ${JSON.stringify(s)}`);
    }
    for (const [port, n] of Object.entries(s.classic)) assert.equal(n, 0, `no classic SUBSCRIBE of ${room} on ${port}`);
  }
  assert.ok(owners.size >= 2, `the rooms' channels live on several shards (${[...owners]})`);
});

ctest("messages in every room reach every member once, on every node, and nobody else", async () => {
  const senders = { s0: "u2", s1: "u4", s2: "u1", s3: "u3", s4: "u2", s5: "u5" };
  const { result } = await step("one message in each room, all at once", all,
    () => Promise.all(ROOMS.map((room) => ackOk(S[senders[room]], "send-message", { roomId: room, content: `hi ${room}`, clientMsgId: `c-${room}` }))),
    ROOMS.flatMap((room) => members(room).map((s) => [s, "new-message", { roomId: room, clientMsgId: `c-${room}` }])));
  for (const [i, room] of ROOMS.entries()) {
    const u = senders[room];
    assertMessage(result[i].message, { roomId: room, userId: u, username: defaultName(u), content: `hi ${room}`, clientMsgId: `c-${room}` });
    sent[room] = [result[i].message];
  }
  // payloads equal the stored message, whatever the parser
  for (const s of all) {
    for (const x of s.log.filter((e) => e.event === "new-message")) {
      assert.deepStrictEqual(normalize(x.args[0]), normalize(sent[x.args[0].roomId][0]), `new-message at ${s.label}`);
    }
  }
  // a resend of the same clientMsgId through another node is the same message, sent to no one
  const { result: again } = await step("u2 resends c-s0: the stored message, no broadcast", all,
    () => ackOk(S.u2, "send-message", { roomId: "s0", content: "hi s0", clientMsgId: "c-s0" }), []);
  assert.equal(again.message.id, sent.s0[0].id);
  // a second round, sender on another node each time
  const second = { s0: "u1", s1: "u3", s2: "u2", s3: "u1", s4: "u1", s5: "u3" };
  const r2 = await step("second round", all,
    () => Promise.all(ROOMS.map((room) => ackOk(S[second[room]], "send-message", { roomId: room, content: `again ${room}` }))),
    ROOMS.flatMap((room) => members(room).map((s) => [s, "new-message", { roomId: room, userId: second[room] }])));
  for (const [i, room] of ROOMS.entries()) sent[room].push(r2.result[i].message);
});

ctest("typing crosses nodes once, to the room's other users only", async () => {
  const t = (v) => ({ roomId: "s1", userId: "u4", username: defaultName("u4"), isTyping: v });
  const { payloads } = await step("u4 (C) typing in s1", all, () => ackOk(S.u4, "typing-start", "s1"),
    [S.u1, S.u3].map((s) => [s, "user-typing", t(true)]));
  for (const p of payloads) assertKeys(p, ["roomId", "userId", "username", "isTyping"], "user-typing");
  await step("u4 (C) stops typing in s1", all, () => ackOk(S.u4, "typing-stop", "s1"),
    [S.u1, S.u3].map((s) => [s, "user-typing", t(false)]));
  await step("u1 (A) typing in s5 ends by itself after --typing-timeout", all, () => ackOk(S.u1, "typing-start", "s5"), [
    ...[S.u3, S.u5].map((s) => [s, "user-typing", { roomId: "s5", userId: "u1", isTyping: true }]),
    ...[S.u3, S.u5].map((s) => [s, "user-typing", { roomId: "s5", userId: "u1", isTyping: false }]),
  ], { within: TYPING_TIMEOUT_MS + 2500 });
});

ctest("presence crosses nodes: presence-update once at each socket sharing a room; get-room-presence from every node", async () => {
  // u3 shares rooms with u1 (s1, s3, s5), u4 (s1) and u5 (s5); not with u2
  const { payloads } = await step("u3 (C) goes busy", all, () => ackOk(S.u3, "update-presence", "busy"),
    [S.u1, S.u4, S.u5].map((s) => [s, "presence-update", { userId: "u3", status: "busy" }]));
  for (const p of payloads) assert.deepStrictEqual(p, { userId: "u3", status: "busy" });
  const expected = [
    { userId: "u1", username: defaultName("u1"), status: "online" },
    { userId: "u3", username: defaultName("u3"), status: "busy" },
    { userId: "u5", username: defaultName("u5"), status: "online" },
  ];
  for (const s of [S.u1, S.u3, S.u5]) {
    const { result } = await step(`get-room-presence s5 via ${s.label}`, all, () => ackOk(s, "get-room-presence", "s5"),
      [[s, "room-presence", { roomId: "s5" }]]);
    assert.deepStrictEqual(result.users, expected, `s5's presence via ${s.label}`);
  }
  // u5's only socket (node B) goes: left and offline on the other nodes
  const { payloads: off } = await step("u5 (B) disconnects", all, () => S.u5.disconnect(), [
    ...[S.u1, S.u3].map((s) => [s, "room-member-left", { roomId: "s5", userId: "u5" }]),
    ...[S.u1, S.u3].map((s) => [s, "presence-update", { userId: "u5", status: "offline" }]),
  ], { quiet: 700 });
  for (const p of off.slice(2)) {
    assertKeys(p, ["userId", "status", "lastSeen"], "offline presence-update");
    assertTime(p.lastSeen);
  }
  const r = await ackOk(S.u2, "get-room-presence", "s5");
  assert.deepStrictEqual(r.users, expected.slice(0, 2), "s5's presence via node B after u5 left");
});

ctest("history of every room is the same from every node", async () => {
  for (const room of ROOMS) {
    const views = [];
    for (const s of [S.u1, S.u2, S.u3]) views.push((await history(s, { roomId: room })).messages);
    assert.deepStrictEqual(normalize(views[0]), normalize(sent[room]), `history of ${room} via node A`);
    assert.deepStrictEqual(normalize(views[1]), normalize(views[0]), `history of ${room} via node B`);
    assert.deepStrictEqual(normalize(views[2]), normalize(views[0]), `history of ${room} via node C`);
  }
});
