// Three edgeio nodes on one redis-server (--redis-url): clients of both parsers, over polling,
// WebSocket and the upgrade, spread over the nodes and sharing rooms. Every event of docs/events.md
// must reach every socket it is meant for exactly once and no other socket; history, edits,
// read watermarks and clientMsgId de-duplication are the same from every node; a node holds
// a room's Redis channel only while it has members there.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { combo, normalize, sleep } from "./lib/client.mjs";
import { closeOrphans } from "./lib/scope.mjs";
import {
  chatConnect, ackOk, ack, history, defaultName, assertMessage, assertTombstone, assertKeys,
  assertPresenceInfo, assertTime,
} from "./lib/chat.mjs";
import {
  startRedis, startNodes, waitForMesh, recordAll, step, withLogs, numsub, roomChannel,
} from "./lib/redis.mjs";

const R = "general";
const R2 = "random";

let redis;
let nodes = [];
let A, B, C;
const S = {}; // sockets by name
let all = [];
const msgs = {}; // stored MessagePayloads by name

const ctest = (name, fn, opts = {}) => test(name, { timeout: 20000, ...opts }, withLogs(() => [...nodes, redis], fn));

before(async () => {
  redis = await startRedis();
  // typing must not end by itself inside a step's quiet window on a loaded machine
  nodes = await startNodes(redis, 3, { args: ["--typing-timeout", "3s"] });
  [A, B, C] = nodes;
  await waitForMesh(nodes);
  const plan = [
    ["a1", A, "alice", combo("websocket", "json")],
    ["b1", B, "bob", combo("polling", "msgpack")],
    ["b2", C, "bob", combo("websocket", "msgpack")],
    ["c1", C, "carol", combo("polling", "json")],
    ["d1", B, "dave", combo("upgrade", "json")],
    ["e1", A, "eve", combo("upgrade", "msgpack")],
  ];
  for (const [name, node, user, cb] of plan) {
    S[name] = recordAll(await chatConnect(node, user, { combo: cb }), `${name}(${user}@${node.nodeId.slice(0, 6)},${cb.label})`);
  }
  all = Object.values(S);
}, { timeout: 30000 });

after(async () => {
  closeOrphans();
  await Promise.all(nodes.map((n) => n.stop()));
  if (redis) await redis.stop();
});

const info = (id, status = "online") => ({ userId: id, username: defaultName(id), status });
const joined = (room, id) => ({ roomId: room, user: (u) => { assertPresenceInfo(u, info(id)); return true; } });

async function join(s, room, expectRead = null) {
  const r = await ackOk(s, "join-room", room);
  assertKeys(r, ["ok", "roomId", "lastReadId", "unreadCount"], "join-room ack");
  assert.equal(r.roomId, room);
  if (expectRead !== undefined) assert.equal(r.lastReadId, expectRead, "join-room lastReadId");
  return r;
}

ctest("joins: room-member-joined once at every other member on every node, only for a user's first socket cluster-wide", async () => {
  const { a1, b1, b2, c1, d1, e1 } = S;
  await step("a1 joins general", all, () => join(a1, R), []);
  await step("b1 (bob, node B) joins general", all, () => join(b1, R), [[a1, "room-member-joined", joined(R, "bob")]]);
  await step("c1 (carol, node C) joins general", all, () => join(c1, R), [
    [a1, "room-member-joined", joined(R, "carol")],
    [b1, "room-member-joined", joined(R, "carol")],
  ]);
  await step("d1 (dave, node B) joins general", all, () => join(d1, R), [
    [a1, "room-member-joined", joined(R, "dave")],
    [b1, "room-member-joined", joined(R, "dave")],
    [c1, "room-member-joined", joined(R, "dave")],
  ]);
  // bob's second socket, on node C: bob is already in the room through node B
  await step("b2 (bob's 2nd socket, node C) joins general", all, () => join(b2, R), []);
  await step("a1 joins random", all, () => join(a1, R2), []);
  await step("e1 (eve, node A) joins random", all, () => join(e1, R2), [[a1, "room-member-joined", joined(R2, "eve")]]);
  await step("b1 joins random", all, () => join(b1, R2), [
    [a1, "room-member-joined", joined(R2, "bob")],
    [e1, "room-member-joined", joined(R2, "bob")],
  ]);
  // A node subscribes to a room's channel only while it holds members of the room.
  const subs = await numsub(redis, [roomChannel(R), roomChannel(R2), roomChannel("nobody-here")]);
  assert.deepEqual(subs, { [roomChannel(R)]: 3, [roomChannel(R2)]: 2, [roomChannel("nobody-here")]: 0 }, "PUBSUB NUMSUB of the room channels");
});

ctest("get-room-presence lists the users of every node, from every node, to the asker only", async () => {
  const expected = ["alice", "bob", "carol", "dave"].map((id) => info(id));
  for (const s of [S.a1, S.b1, S.c1, S.d1]) {
    const { result } = await step(`get-room-presence via ${s.label}`, all, () => ackOk(s, "get-room-presence", R), [
      [s, "room-presence", { roomId: R, users: (u) => { assert.deepStrictEqual(u, expected); return true; } }],
    ]);
    assert.deepStrictEqual(result, { ok: true, roomId: R, users: expected }, `room-presence ack via ${s.label}`);
  }
  const { result } = await step("get-room-presence random via e1", all, () => ackOk(S.e1, "get-room-presence", R2), [
    [S.e1, "room-presence", { roomId: R2 }],
  ]);
  assert.deepStrictEqual(result.users, ["alice", "bob", "eve"].map((id) => info(id)));
});

const inR = () => [S.a1, S.b1, S.b2, S.c1, S.d1];

async function sendAndExpect(what, s, content, clientMsgId) {
  const exp = { roomId: R, userId: s.user.id, username: s.user.name, content, clientMsgId };
  const { result, payloads } = await step(what, all,
    () => ackOk(s, "send-message", { roomId: R, content, clientMsgId }),
    inR().map((x) => [x, "new-message", { roomId: R, userId: s.user.id, clientMsgId }]));
  assertKeys(result, ["ok", "message"], "send-message ack");
  assertMessage(result.message, { ...exp, content: result.message.content }, "send-message ack.message");
  for (const [i, p] of payloads.entries()) {
    assert.deepStrictEqual(normalize(p), normalize(result.message), `new-message at ${inR()[i].label} equals the stored message`);
  }
  return result.message;
}

ctest("send-message: new-message once at every socket in the room on every node (both parsers), never outside it", async () => {
  msgs.m1 = await sendAndExpect("alice (A, ws/json) sends", S.a1, "hello from A", "cid-alice-1");
  msgs.m2 = await sendAndExpect("bob (B, polling/msgpack) sends", S.b1, "hello from B", "cid-bob-1");
  msgs.m3 = await sendAndExpect("dave (B, upgrade/json) sends", S.d1, "hello <b>from</b> B & co", "cid-dave-1");
  assert.equal(msgs.m3.content, "hello from B &amp; co", "sanitized once, by the node that stored it");
  assert.ok(msgs.m1.id < msgs.m2.id && msgs.m2.id < msgs.m3.id, "ids in creation order across nodes");
});

ctest("clientMsgId de-duplication holds across nodes", async () => {
  // bob resends his message through his other socket, on node C: same stored message, no broadcast
  const { result } = await step("bob resends cid-bob-1 via node C", all,
    () => ackOk(S.b2, "send-message", { roomId: R, content: "hello from B", clientMsgId: "cid-bob-1" }), []);
  assert.deepStrictEqual(normalize(result.message), normalize(msgs.m2), "the resend returns the stored message");
  // even with other content, it is the same message
  const again = await step("bob resends cid-bob-1 with other content via node B", all,
    () => ackOk(S.b1, "send-message", { roomId: R, content: "changed", clientMsgId: "cid-bob-1" }), []);
  assert.equal(again.result.message.id, msgs.m2.id);
  // the same clientMsgId from another user is another message
  msgs.m4 = await sendAndExpect("carol (C) sends with bob's clientMsgId", S.c1, "carol's own", "cid-bob-1");
  assert.notEqual(msgs.m4.id, msgs.m2.id);
});

ctest("edit-message and delete-message from any node reach every member once", async () => {
  const { result, payloads } = await step("alice edits m1", all,
    () => ackOk(S.a1, "edit-message", { messageId: msgs.m1.id, content: "hello again" }),
    inR().map((x) => [x, "message-edited", { messageId: msgs.m1.id, roomId: R, content: "hello again" }]));
  assertMessage(result.message, { ...msgs.m1, id: msgs.m1.id, content: "hello again", editedAt: true }, "edit ack");
  for (const p of payloads) {
    assertKeys(p, ["messageId", "roomId", "content", "editedAt"], "message-edited");
    assert.equal(p.editedAt, result.message.editedAt);
  }
  msgs.m1 = result.message;
  // bob deletes his message through node C (it was stored through node B)
  const del = await step("bob deletes m2 via node C", all,
    () => ackOk(S.b2, "delete-message", msgs.m2.id),
    inR().map((x) => [x, "message-deleted", msgs.m2.id]));
  assert.deepStrictEqual(del.result, { ok: true, messageId: msgs.m2.id });
  // not the author: refused on any node, nothing sent
  const r = await step("carol tries to edit alice's message", all, () => ack(S.c1, "edit-message", { messageId: msgs.m1.id, content: "x" }), []);
  assert.equal(r.result.ok, false);
  assert.equal(r.result.error.code, "FORBIDDEN");
});

ctest("mark-as-read: messages-read once everywhere in the room; the watermark is cluster-wide", async () => {
  const { result, payloads } = await step("carol (C) marks m1, m3", all,
    () => ackOk(S.c1, "mark-as-read", { roomId: R, messageIds: [msgs.m1.id, msgs.m3.id] }),
    inR().map((x) => [x, "messages-read", { roomId: R, userId: "carol" }]));
  assert.deepStrictEqual(result, { ok: true, roomId: R, lastReadId: msgs.m3.id });
  for (const p of payloads) {
    assertKeys(p, ["roomId", "messageIds", "userId", "readAt"], "messages-read");
    assert.deepStrictEqual([...p.messageIds].sort(), [msgs.m1.id, msgs.m3.id].sort());
    assertTime(p.readAt, "readAt");
    assert.equal(p.readAt, payloads[0].readAt, "one merged receipt");
  }
  // carol opens a second socket on node A: her watermark is there; no room-member-joined
  // (she is in the room through node C), and none leaving when it closes (nor offline)
  const c2 = recordAll(await chatConnect(A, "carol", { combo: combo("websocket", "msgpack") }), "c2(carol@A)");
  const { result: j } = await step("carol's 2nd socket (node A) joins general", [...all, c2], () => join(c2, R, msgs.m3.id), []);
  assert.equal(j.unreadCount, 0, "unreadCount after the watermark (her own m4 does not count)");
  await step("carol's 2nd socket disconnects", all, () => c2.disconnect(), [], { quiet: 700 });
});

ctest("typing: user-typing once at the room's other users on every node, never the typist's own sockets", async () => {
  const others = [S.a1, S.c1, S.d1];
  const typing = (isTyping) => ({ roomId: R, userId: "bob", username: defaultName("bob"), isTyping });
  const { payloads } = await step("bob (B) typing-start twice", all, async () => {
    await ackOk(S.b1, "typing-start", R);
    await ackOk(S.b1, "typing-start", R); // a repeat only extends it
  }, others.map((x) => [x, "user-typing", typing(true)]));
  for (const p of payloads) assertKeys(p, ["roomId", "userId", "username", "isTyping"], "user-typing");
  await step("bob (B) typing-stop", all, () => ackOk(S.b1, "typing-stop", R), others.map((x) => [x, "user-typing", typing(false)]));
  // typing on node C ends when the typist sends
  const ct = (v) => ({ roomId: R, userId: "carol", isTyping: v });
  await step("carol (C) typing-start", all, () => ackOk(S.c1, "typing-start", R),
    [S.a1, S.b1, S.b2, S.d1].map((x) => [x, "user-typing", ct(true)]));
  const { result } = await step("carol (C) sends: typing ends", all,
    () => ackOk(S.c1, "send-message", { roomId: R, content: "done typing", clientMsgId: "cid-carol-2" }), [
      ...[S.a1, S.b1, S.b2, S.d1].map((x) => [x, "user-typing", ct(false)]),
      ...inR().map((x) => [x, "new-message", { roomId: R, clientMsgId: "cid-carol-2" }]),
    ]);
  msgs.m5 = result.message;
});

ctest("update-presence: presence-update once at every socket sharing a room (any node) and the user's other sockets", async () => {
  const { a1, b1, b2, c1, d1, e1 } = S;
  for (const status of ["away", "busy", "online"]) {
    const { result, payloads } = await step(`bob (B) goes ${status}`, all, () => ackOk(b1, "update-presence", status),
      [a1, b2, c1, d1, e1].map((x) => [x, "presence-update", { userId: "bob", status }]));
    assert.deepStrictEqual(result, { ok: true, status });
    for (const p of payloads) assert.deepStrictEqual(p, { userId: "bob", status });
  }
  // from bob's other socket, on node C
  const { payloads } = await step("bob (C) goes away", all, () => ackOk(b2, "update-presence", "away"),
    [a1, b1, c1, d1, e1].map((x) => [x, "presence-update", { userId: "bob", status: "away" }]));
  for (const p of payloads) assert.deepStrictEqual(p, { userId: "bob", status: "away" });
  await step("bob (C) back online", all, () => ackOk(b2, "update-presence", "online"),
    [a1, b1, c1, d1, e1].map((x) => [x, "presence-update", { userId: "bob", status: "online" }]));
});

ctest("get-room-presence agrees on every node about a user with sockets on two nodes", async () => {
  const { a1, b1, b2, c1, d1 } = S;
  const bobVia = async (s) => (await ackOk(s, "get-room-presence", R)).users.find((u) => u.userId === "bob");
  try {
    // bob (sockets on nodes B and C) sets "away" through node B: every node must say away
    await ackOk(b1, "update-presence", "away");
    await sleep(300);
    for (const s of [b1, d1, a1, c1, b2]) assert.deepStrictEqual(await bobVia(s), info("bob", "away"), `bob's status via ${s.label}, after "away" through node B`);
    // invisible through node C: everyone else must see offline
    await ackOk(b2, "update-presence", "offline");
    await sleep(300);
    for (const s of [a1, c1, d1]) {
      const p = await bobVia(s);
      assert.equal(p && p.status, "offline", `bob's status via ${s.label}, after "offline" (invisible) through node C: ${JSON.stringify(p)}`);
    }
  } finally {
    await ackOk(b1, "update-presence", "online");
    await ackOk(b2, "update-presence", "online");
    await sleep(300);
  }
});

ctest("leaving: room-member-left once, only when the user's last socket in the cluster leaves", async () => {
  const { a1, b1, b2, c1, d1 } = S;
  await step("dave (B) leaves general", all, () => ackOk(d1, "leave-room", R),
    [a1, b1, b2, c1].map((x) => [x, "room-member-left", { roomId: R, userId: "dave" }]));
  await step("bob leaves general on node B (still in it on node C)", all, () => ackOk(b1, "leave-room", R), []);
  // carol's only socket (node C) goes: left at once, offline after the presence grace
  const { payloads } = await step("carol (C) disconnects", all, () => c1.disconnect(), [
    ...[a1, b2].map((x) => [x, "room-member-left", { roomId: R, userId: "carol" }]),
    ...[a1, b2].map((x) => [x, "presence-update", { userId: "carol", status: "offline" }]),
  ], { quiet: 700 });
  for (const p of payloads.slice(0, 2)) assert.deepStrictEqual(p, { roomId: R, userId: "carol" });
  for (const p of payloads.slice(2)) {
    assertKeys(p, ["userId", "status", "lastSeen"], "presence-update offline");
    assertTime(p.lastSeen, "lastSeen");
  }
  for (const s of [a1, b1, d1]) {
    const r = await ackOk(s, "get-room-presence", R);
    assert.deepStrictEqual(r.users, [info("alice"), info("bob")], `general's presence via ${s.label}`);
  }
  const subs = await numsub(redis, [roomChannel(R), roomChannel(R2)]);
  assert.deepEqual(subs, { [roomChannel(R)]: 2, [roomChannel(R2)]: 2 }, "node B dropped general's channel (no members left there)");
});

ctest("history is the same from every node: edits, tombstones, order", async () => {
  const { a1, b2, d1 } = S;
  const views = [];
  for (const s of [a1, b2, d1]) views.push((await history(s, { roomId: R })).messages);
  assert.deepStrictEqual(normalize(views[1]), normalize(views[0]), "history via node C = via node A");
  assert.deepStrictEqual(normalize(views[2]), normalize(views[0]), "history via node B = via node A");
  const h = views[0];
  assert.deepStrictEqual(h.map((m) => m.id), [msgs.m1.id, msgs.m2.id, msgs.m3.id, msgs.m4.id, msgs.m5.id]);
  assert.deepStrictEqual(normalize(h[0]), normalize(msgs.m1), "edited m1");
  assertTombstone(h[1], { id: msgs.m2.id, roomId: R });
  assert.deepStrictEqual(normalize(h[2]), normalize(msgs.m3));
  assert.deepStrictEqual(normalize(h[3]), normalize(msgs.m4));
  assert.deepStrictEqual(normalize(h[4]), normalize(msgs.m5));
  // cursors work against another node's ids
  const page = await history(b2, { roomId: R, after: msgs.m3.id, limit: 1 });
  assert.deepStrictEqual(page.messages.map((m) => m.id), [msgs.m4.id]);
  assert.equal(page.hasMore, true);
});
