// Several sockets per user, membership, typing, presence and read receipts:
// room-member-joined on a user's first socket and room-member-left on the last, user-typing
// to the room's other users only (with its timeout, and ended by sending, leaving and
// disconnecting), presence-update once per socket however many rooms are shared (and to the
// user's own other sockets), room-presence, the presence grace, and receipts merged over
// --receipt-window. The server runs with --presence-grace 300ms --typing-timeout 500ms
// --receipt-window 50ms; a second one with slower timers (--typing-timeout 3s,
// --presence-grace 1500ms, --receipt-window 400ms) serves the tests whose verdict would
// otherwise depend on how quickly a loaded machine answers.
import { describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { serverTest, closeOrphans } from "./lib/scope.mjs";
import {
  startChat, chatConnect, chatMatrix, uniq, ack, ackOk, join, send, record, sleep, until, waitFor,
  assertKeys, assertPresenceInfo, assertTime, assertQuiet, defaultName, QUIET_MS, WAIT_MS,
} from "./lib/chat.mjs";

const GRACE = 300;
const TYPING = 500;
const SLOW = { grace: 1500, typing: 3000, window: 400 };
let server;
let slow;
before(async () => {
  [server, slow] = await Promise.all([
    startChat(),
    startChat(["--presence-grace", `${SLOW.grace}ms`, "--typing-timeout", `${SLOW.typing}ms`, "--receipt-window", `${SLOW.window}ms`]),
  ]);
});
after(async () => { closeOrphans(); await server?.stop(); await slow?.stop(); });

const it = serverTest(() => server, { timeout: 40000 });
const itSlow = serverTest(() => slow, { timeout: 40000 });

/** Records `event` on each named socket: { name: [[args...], ...] }. */
function recordAll(sockets, event) {
  return Object.fromEntries(Object.entries(sockets).map(([k, s]) => [k, record(s, event)]));
}

function assertTyping(got, { roomId, userId, username, isTyping }, what = "user-typing") {
  assert.equal(got.length, 1, `${what}: one argument`);
  assertKeys(got[0], ["roomId", "userId", "username", "isTyping"], what);
  assert.deepStrictEqual(got[0], { roomId, userId, username, isTyping }, what);
}

// The tests use their own users and rooms, mostly wait on timers, and check their timings with
// lower bounds (and loose upper ones): they all run concurrently.
describe("presence", { concurrency: true }, () => {
describe("matrix", { concurrency: true }, () => {
for (const combo of chatMatrix()) {
  describe(combo.label, () => {
    it("room-member-joined on a user's first socket only, room-member-left on the last (leave and disconnect)", async () => {
      const room = uniq("members");
      const alice = uniq("alice");
      const bob = uniq("bob");
      const [a1, a2, a3, b, c] = await Promise.all([
        chatConnect(server, alice, { combo }), chatConnect(server, alice, { combo }), chatConnect(server, alice, { combo }),
        chatConnect(server, bob, { combo }), chatConnect(server, uniq("carol"), { combo }),
      ]);
      await join(b, room);
      const joined = recordAll({ a1, a2, a3, b, c }, "room-member-joined");
      const left = recordAll({ a1, a2, a3, b, c }, "room-member-left");
      await join(a1, room);
      await until(() => joined.b.length >= 1, WAIT_MS, "room-member-joined at bob");
      assert.equal(joined.b[0].length, 1);
      assertKeys(joined.b[0][0], ["roomId", "user"], "room-member-joined");
      assert.equal(joined.b[0][0].roomId, room);
      assertPresenceInfo(joined.b[0][0].user, { userId: alice, username: defaultName(alice), status: "online" }, "room-member-joined.user");
      await join(a2, room); // alice's second socket: nobody is told
      await join(a2, room); // joining again is a no-op
      const l1 = await ack(a1, "leave-room", room);
      assert.deepStrictEqual(l1, { ok: true, roomId: room }, "leave-room ack");
      await sleep(QUIET_MS);
      assert.equal(joined.b.length, 1, "no room-member-joined for alice's second socket");
      assert.deepStrictEqual(left.b, [], "no room-member-left while alice has a socket in the room");
      for (const k of ["a1", "a2", "a3", "c"]) assert.deepStrictEqual(joined[k], [], `no room-member-joined at ${k}`);

      await ackOk(a2, "leave-room", room); // alice's last socket
      await until(() => left.b.length >= 1, WAIT_MS, "room-member-left at bob");
      assert.deepStrictEqual(left.b[0], [{ roomId: room, userId: alice }], "room-member-left payload");

      // A disconnect leaves at once (the grace is about presence, not membership).
      await join(a3, room);
      await until(() => joined.b.length >= 2, WAIT_MS, "room-member-joined for a3");
      a3.disconnect();
      await until(() => left.b.length >= 2, WAIT_MS, "room-member-left after the disconnect");
      assert.deepStrictEqual(left.b[1], [{ roomId: room, userId: alice }]);
      await sleep(QUIET_MS);
      for (const k of ["a1", "a2", "c"]) assert.deepStrictEqual(left[k], [], `no room-member-left at ${k}`);
      assert.equal(left.b.length, 2);
    });

    // (on the server with the long typing timeout: no typing ends by itself here)
    itSlow("typing: user-typing to the other users only, repeats not re-sent, typing-stop, acks { ok }", async () => {
      const room = uniq("typing");
      const alice = uniq("alice");
      const bob = uniq("bob");
      const [a1, a2, b1, b2] = await Promise.all([
        chatConnect(slow, alice, { combo }), chatConnect(slow, alice, { combo }),
        chatConnect(slow, bob, { combo }), chatConnect(slow, bob, { combo }),
      ]);
      for (const s of [a1, a2, b1]) await join(s, room); // b2 stays out of the room
      const typing = recordAll({ a1, a2, b1, b2 }, "user-typing");
      assert.deepStrictEqual(await ack(a1, "typing-start", room), { ok: true }, "typing-start ack");
      await until(() => typing.b1.length >= 1, WAIT_MS, "user-typing at bob");
      assertTyping(typing.b1[0], { roomId: room, userId: alice, username: defaultName(alice), isTyping: true });
      assert.deepStrictEqual(await ack(a1, "typing-start", room), { ok: true });
      assert.deepStrictEqual(await ack(a2, "typing-start", room), { ok: true }, "alice's other socket: same user, already typing");
      assert.deepStrictEqual(await ack(a1, "typing-stop", room), { ok: true }, "typing-stop ack");
      await until(() => typing.b1.length >= 2, WAIT_MS, "isTyping false at bob");
      assertTyping(typing.b1[1], { roomId: room, userId: alice, username: defaultName(alice), isTyping: false });
      assert.deepStrictEqual(await ack(a1, "typing-stop", room), { ok: true }, "typing-stop when not typing");
      await sleep(QUIET_MS);
      assert.equal(typing.b1.length, 2, "repeats and a second stop are not sent");
      assert.deepStrictEqual(typing.a1, [], "the typist's socket gets no user-typing");
      assert.deepStrictEqual(typing.a2, [], "the typist's other socket gets no user-typing");
      assert.deepStrictEqual(typing.b2, [], "a socket outside the room gets no user-typing");
    });

    it("update-presence: one presence-update per socket however many rooms are shared, the user's other sockets too", async () => {
      const r1 = uniq("p1");
      const r2 = uniq("p2");
      const alice = uniq("alice");
      const bob = uniq("bob");
      const carol = uniq("carol");
      const [a1, a2, a3, b1, b2, c, d] = await Promise.all([
        chatConnect(server, alice, { combo }), chatConnect(server, alice, { combo }), chatConnect(server, alice, { combo }),
        chatConnect(server, bob, { combo }), chatConnect(server, bob, { combo }),
        chatConnect(server, carol, { combo }), chatConnect(server, uniq("dave"), { combo }),
      ]);
      for (const [s, rooms] of [[a1, [r1, r2]], [a2, [r1, r2]], [b1, [r1, r2]], [b2, [r1]], [c, [r2]], [d, [uniq("elsewhere")]]]) {
        for (const r of rooms) await join(s, r);
      }
      // a3 joined no room: it hears through alice's personal room.
      const updates = recordAll({ a1, a2, a3, b1, b2, c, d }, "presence-update");
      const r = await ack(a1, "update-presence", "away");
      assert.deepStrictEqual(r, { ok: true, status: "away" }, "update-presence ack");
      await until(() => ["a2", "a3", "b1", "b2", "c"].every((k) => updates[k].length >= 1), WAIT_MS, "presence-update everywhere");
      await sleep(QUIET_MS);
      for (const k of ["a2", "a3", "b1", "b2", "c"]) {
        assert.deepStrictEqual(updates[k], [[{ userId: alice, status: "away" }]], `exactly one presence-update at ${k}`);
      }
      assert.deepStrictEqual(updates.a1, [], "the asking socket gets the ack instead");
      assert.deepStrictEqual(updates.d, [], "a user sharing no room hears nothing");

      // room-presence shows the chosen status; offline while connected is invisible.
      const p = await ack(b1, "get-room-presence", r1);
      assert.equal(p.users.find((u) => u.userId === alice).status, "away");
      await ackOk(a2, "update-presence", "offline");
      await until(() => updates.b1.length >= 2 && updates.a1.length >= 1, WAIT_MS, "offline presence-update");
      const off = updates.b1[1][0];
      assertKeys(off, ["userId", "status", "lastSeen"], "offline presence-update");
      assert.equal(off.userId, alice);
      assert.equal(off.status, "offline");
      assertTime(off.lastSeen, "lastSeen");
      const q = await ack(b1, "get-room-presence", r1);
      assert.equal(q.users.find((u) => u.userId === alice).status, "offline", "invisible looks offline");
      assert.deepStrictEqual((await ack(a1, "update-presence", "busy")).status, "busy");
      await until(() => updates.b1.length >= 3, WAIT_MS, "busy presence-update");
      assert.deepStrictEqual(updates.b1[2], [{ userId: alice, status: "busy" }]);
    });

    it("get-room-presence: the room-presence event and the ack, one PresenceInfo per user, by user id", async () => {
      const room = uniq("who");
      const ids = [uniq("u-c"), uniq("u-a"), uniq("u-b")];
      const [x1, x2, y, z, asker] = await Promise.all([
        chatConnect(server, ids[0], { combo }), chatConnect(server, ids[0], { combo }),
        chatConnect(server, ids[1], { combo }), chatConnect(server, ids[2], { combo, name: "<b>Zed</b>" }),
        chatConnect(server, uniq("asker"), { combo }),
      ]);
      for (const s of [x1, x2, y, z]) await join(s, room);
      await ackOk(y, "update-presence", "busy");
      const event = waitFor(asker, "room-presence", WAIT_MS);
      const r = await ack(asker, "get-room-presence", room); // the asker need not be in the room
      assertKeys(r, ["ok", "roomId", "users"], "get-room-presence ack");
      assert.equal(r.ok, true);
      assert.equal(r.roomId, room);
      const [ev, ...rest] = await event;
      assert.equal(rest.length, 0);
      assert.deepStrictEqual(ev, { roomId: room, users: r.users }, "room-presence event = the ack's roomId and users");
      const sorted = [...ids].sort();
      assert.deepStrictEqual(r.users.map((u) => u.userId), sorted, "one entry per user, sorted by user id");
      const want = { [ids[0]]: [defaultName(ids[0]), "online"], [ids[1]]: [defaultName(ids[1]), "busy"], [ids[2]]: ["Zed", "online"] };
      for (const u of r.users) {
        assertPresenceInfo(u, { userId: u.userId, username: want[u.userId][0], status: want[u.userId][1] });
      }
      const empty = await ack(asker, "get-room-presence", uniq("empty"));
      assert.deepStrictEqual(empty, { ok: true, roomId: empty.roomId, users: [] });
    });
  });
}
});

describe("timers and edge cases (websocket/json)", { concurrency: true }, () => {
  it("typing ends by itself after --typing-timeout; a refresh extends it", async (t) => {
    const room = uniq("timeout");
    const alice = uniq("alice");
    const [a, b] = await Promise.all([chatConnect(server, alice), chatConnect(server, uniq("bob"))]);
    await join(a, room);
    await join(b, room);
    const typing = []; // [payload, arrival time]
    b.on("user-typing", (p) => typing.push([p, Date.now()]));
    const t0 = Date.now();
    await ackOk(a, "typing-start", room);
    await until(() => typing.length >= 2, WAIT_MS, "typing true, then false after the timeout");
    assert.deepStrictEqual(typing.map(([p]) => p), [
      { roomId: room, userId: alice, username: defaultName(alice), isTyping: true },
      { roomId: room, userId: alice, username: defaultName(alice), isTyping: false },
    ]);
    const ended = typing[1][1] - t0;
    assert.ok(ended >= TYPING - 30, `typing ended after ${ended} ms, before the ${TYPING} ms timeout`);
    assert.ok(ended < TYPING + 4000, `typing ended only after ${ended} ms`);

    // A refresh inside the window extends it (and is not re-sent).
    typing.length = 0;
    const t1 = Date.now();
    await ackOk(a, "typing-start", room);
    await sleep(150);
    const refreshed = Date.now();
    if (refreshed - t1 > TYPING - 150) {
      t.diagnostic(`refresh not tested: the machine took ${refreshed - t1} ms for a 150 ms pause`);
      return;
    }
    await ackOk(a, "typing-start", room);
    await until(() => typing.length >= 2, WAIT_MS, "typing true then false");
    await sleep(QUIET_MS);
    assert.deepStrictEqual(typing.map(([p]) => p.isTyping), [true, false], "the refresh was not sent again");
    const ended2 = typing[1][1];
    assert.ok(ended2 - refreshed >= TYPING - 30, `after a refresh typing ended ${ended2 - refreshed} ms later (${ended2 - t1} ms after the first start)`);
  });

  itSlow(`send-message, leave-room and disconnect end typing (long before the ${SLOW.typing} ms timeout)`, async () => {
    const room = uniq("ends");
    const alice = uniq("alice");
    const [a, b] = await Promise.all([chatConnect(slow, alice), chatConnect(slow, uniq("bob"))]);
    await join(a, room);
    await join(b, room);
    const typing = record(b, "user-typing");
    const stopped = () => typing.filter(([p]) => p.isTyping === false).length;
    const off = { roomId: room, userId: alice, username: defaultName(alice), isTyping: false };

    await ackOk(a, "typing-start", room);
    await until(() => typing.length >= 1, WAIT_MS, "typing");
    await send(a, room, "done typing");
    await until(() => stopped() >= 1, SLOW.typing / 2, "isTyping false right after send-message (well before the timeout)");
    assert.deepStrictEqual(typing[1], [off]);

    await ackOk(a, "typing-start", room);
    await until(() => typing.length >= 3, WAIT_MS, "typing again");
    await ackOk(a, "leave-room", room);
    await until(() => stopped() >= 2, SLOW.typing / 2, "isTyping false right after leave-room");

    await join(a, room);
    await ackOk(a, "typing-start", room);
    await until(() => typing.length >= 5, WAIT_MS, "typing a third time");
    a.disconnect();
    await until(() => stopped() >= 3, SLOW.typing / 2, "isTyping false right after the disconnect");
    await sleep(QUIET_MS);
    assert.equal(typing.length, 6, `nothing more once typing ended: ${JSON.stringify(typing)}`);
  });

  itSlow(`presence grace: a disconnect and reconnect inside the grace (${SLOW.grace} ms) announces nothing`, async (t) => {
    const room = uniq("reload");
    const alice = uniq("alice");
    const a = await chatConnect(slow, alice);
    const b = await chatConnect(slow, uniq("bob"));
    await join(a, room);
    await join(b, room);
    const updates = record(b, "presence-update");
    const left = waitFor(b, "room-member-left", WAIT_MS);
    const t0 = Date.now();
    a.disconnect();
    await left; // membership ends at once
    await sleep(100);
    const again = await chatConnect(slow, alice); // the page reloaded
    const back = Date.now() - t0;
    if (back >= SLOW.grace - 200) {
      t.skip(`the reconnect took ${back} ms: the machine is too slow to test the ${SLOW.grace} ms grace`);
      return;
    }
    const rejoined = waitFor(b, "room-member-joined", WAIT_MS);
    await join(again, room);
    await rejoined;
    await sleep(SLOW.grace - back + 300);
    assert.deepStrictEqual(updates, [], "no presence-update for a reconnect inside the grace");
  });

  it("presence grace: after it, presence-update offline with lastSeen, once, to the rooms the user was in", async () => {
    const r1 = uniq("g1");
    const r2 = uniq("g2");
    const alice = uniq("alice");
    const [a1, a2, b, c, d] = await Promise.all([
      chatConnect(server, alice), chatConnect(server, alice), chatConnect(server, uniq("bob")),
      chatConnect(server, uniq("carol")), chatConnect(server, uniq("dave")),
    ]);
    await join(a1, r1);
    await join(a2, r2);
    await join(a1, r2);
    await join(b, r1);
    await join(b, r2); // shares both rooms
    await join(c, r2);
    await join(d, uniq("unrelated"));
    const updates = recordAll({ b, c, d }, "presence-update");
    a1.disconnect();
    await sleep(GRACE * 2);
    assert.deepStrictEqual(updates.b, [], "alice still has a socket: no offline");
    const t0 = Date.now();
    a2.disconnect();
    await until(() => updates.b.length && updates.c.length, WAIT_MS, "offline presence-update");
    const waited = Date.now() - t0;
    assert.ok(waited >= GRACE - 50, `offline announced after ${waited} ms, inside the ${GRACE} ms grace`);
    for (const k of ["b", "c"]) {
      assert.equal(updates[k][0].length, 1);
      const p = updates[k][0][0];
      assertKeys(p, ["userId", "status", "lastSeen"], `offline presence-update at ${k}`);
      assert.equal(p.userId, alice);
      assert.equal(p.status, "offline");
      assertTime(p.lastSeen, "lastSeen");
      assert.ok(Date.parse(p.lastSeen) >= t0 - 1000, "lastSeen is about the last disconnect");
    }
    await sleep(QUIET_MS);
    assert.equal(updates.b.length, 1, "one presence-update for bob, who shares two rooms");
    assert.equal(updates.c.length, 1);
    assert.deepStrictEqual(updates.d, [], "nothing to a room alice was not in");
    const p = await ack(b, "get-room-presence", r1);
    assert.ok(!p.users.some((u) => u.userId === alice), "alice has left the room's presence");
  });

  itSlow("joining and leaving one's own personal room keeps the socket in it", async () => {
    const room = uniq("own");
    const alice = uniq("alice");
    const [a1, a2, b] = await Promise.all([chatConnect(slow, alice), chatConnect(slow, alice), chatConnect(slow, uniq("bob"))]);
    const own = await ack(a1, "join-room", `user:${alice}`);
    assert.deepStrictEqual(own, { ok: true, roomId: `user:${alice}`, lastReadId: null, unreadCount: 0 });
    assert.deepStrictEqual(await ack(a1, "leave-room", `user:${alice}`), { ok: true, roomId: `user:${alice}` });
    await join(a1, room);
    await join(a2, room);
    await join(b, room);
    const typingA1 = record(a1, "user-typing");
    const presenceA1 = record(a1, "presence-update");
    const typingB = record(b, "user-typing");
    await ackOk(a2, "typing-start", room);
    await ackOk(a2, "update-presence", "away");
    await until(() => typingB.length >= 1, WAIT_MS, "user-typing at bob");
    await until(() => presenceA1.length >= 1, WAIT_MS, "presence-update at alice's other socket");
    await assertQuiet(typingA1, "user-typing at the typist's own other socket");
  });

  it("receipts: the read watermark never moves back; join-room and the ack report it", async () => {
    const room = uniq("watermark");
    const [a, b] = await Promise.all([chatConnect(server, uniq("alice")), chatConnect(server, uniq("bob"))]);
    await join(a, room);
    await join(b, room);
    const m = [];
    for (let i = 0; i < 4; i++) m.push(await send(b, room, `m${i}`));
    await ackOk(a, "mark-as-read", { roomId: room, messageIds: [m[2].id] });
    const back = await ack(a, "mark-as-read", { roomId: room, messageIds: [m[0].id] });
    assert.deepStrictEqual(await ack(a, "join-room", room), { ok: true, roomId: room, lastReadId: m[2].id, unreadCount: 1 },
      "an older receipt does not move the watermark back");
    assert.deepStrictEqual(back, { ok: true, roomId: room, lastReadId: m[2].id }, "the ack's lastReadId is the watermark");
  });
});

describe(`receipt merging (--receipt-window ${SLOW.window}ms)`, () => {
  const WINDOW = SLOW.window;
  itSlow("two mark-as-read inside the window make one messages-read with both ids, wherever the window falls", async () => {
    const room = uniq("merge");
    const alice = uniq("alice");
    const [a1, a2, b] = await Promise.all([
      chatConnect(slow, alice), chatConnect(slow, alice), chatConnect(slow, uniq("bob")),
    ]);
    for (const s of [a1, a2, b]) await join(s, room);
    const m = [];
    for (let i = 0; i < 7; i++) m.push(await send(b, room, `m${i}`));
    const reads = recordAll({ a2, b }, "messages-read");

    // Back to back.
    a1.emit("mark-as-read", { roomId: room, messageIds: [m[0].id] });
    a1.emit("mark-as-read", { roomId: room, messageIds: [m[1].id, m[0].id] });
    await until(() => reads.b.length >= 1, WAIT_MS, "messages-read");
    await sleep(WINDOW + 100);
    assert.equal(reads.b.length, 1, `two receipts sent back to back: one messages-read, got ${JSON.stringify(reads.b)}`);
    assert.deepStrictEqual([...reads.b[0][0].messageIds].sort(), [m[0].id, m[1].id], "both ids, once each");
    assert.equal(reads.a2.length, 1, "the reader's other socket gets it too");

    // Two receipts 100 ms apart, placed around the moment the previous messages-read went out
    // plus a whole number of windows (where a fixed-phase ticker would flush in between).
    // A trial counts when both acks were back within the window (else the machine was too
    // slow to tell, and the trial is repeated).
    let conclusive = 0;
    for (let attempt = 0; attempt < 5 && conclusive < 2; attempt++) {
      const flushed = waitFor(b, "messages-read", WAIT_MS);
      a1.emit("mark-as-read", { roomId: room, messageIds: [m[2].id] });
      await flushed;
      const last = Date.now();
      reads.b.length = 0;
      await sleep(2 * WINDOW - 50 - (Date.now() - last));
      const tA = Date.now();
      const ackA = ack(a1, "mark-as-read", { roomId: room, messageIds: [m[2].id] });
      await sleep(100);
      const ackB = ack(a1, "mark-as-read", { roomId: room, messageIds: [m[3].id] });
      await Promise.all([ackA, ackB]);
      const spread = Date.now() - tA;
      await until(() => reads.b.length >= 1, WAIT_MS, "messages-read");
      await sleep(WINDOW + 100);
      if (spread >= WINDOW - 50) continue; // too slow to tell
      conclusive++;
      assert.equal(reads.b.length, 1,
        `two receipts ${spread} ms apart or less inside a ${WINDOW} ms window: one messages-read, got ${reads.b.length}: ${JSON.stringify(reads.b.map(([p]) => p.messageIds))}`);
      assert.deepStrictEqual([...reads.b[0][0].messageIds].sort(), [m[2].id, m[3].id]);
    }
    assert.ok(conclusive > 0, "the machine was too slow for every trial");
    assert.deepStrictEqual(await ack(a2, "join-room", room), { ok: true, roomId: room, lastReadId: m[3].id, unreadCount: 3 });
  });
});
});
