// socket.io-client 2.x (Engine.IO v3) as a first-class chat client, with --allow-eio3: every
// chat flow (join, send, receive, edit, delete, history, inline binary, typing, presence,
// room presence, receipts, leave, the offline announcement, a refused token) on polling,
// WebSocket and polling-then-upgrade, with the JSON parser and with socket.io-msgpack-parser
// 2.x (a second server with --eio3-parser msgpack); and mixed rooms where v2 and v4 clients
// on every transport and parser get every broadcast exactly once, in order.
import { describe, before, after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { serverBinary } from "./lib/server.mjs";
import { serverTest, closeOrphans } from "./lib/scope.mjs";
import { normalize, combo as v4Combo, parsersUnderTest } from "./lib/client.mjs";
import {
  startChat, chatConnect, uniq, ack, ackOk, join, send, history, record, sleep, until, assertKeys,
  assertMessage, assertTombstone, assertTime, assertPresenceInfo, defaultName, tokenFor, SECRET, signJwt,
  QUIET_MS, WAIT_MS,
} from "./lib/chat.mjs";
import { V2_PARSERS, V2_TRANSPORTS, v2Matrix, v2Connect, v2Refused } from "./lib/v2.mjs";

const servers = {};
before(async () => {
  for (const parser of Object.values(V2_PARSERS)) servers[parser.name] = await startChat(["--allow-eio3", ...parser.serverArgs]);
});
after(async () => {
  closeOrphans();
  await Promise.all(Object.values(servers).map((s) => s.stop()));
});

const isBinary = (v) => Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v);

describe("socket.io-client 2.x", { concurrency: true }, () => {
for (const parser of Object.values(V2_PARSERS)) {
  const it = serverTest(() => servers[parser.name], { timeout: 40000 });
  for (const combo of v2Matrix(parser)) {
    describe(combo.label, () => {
      it("join, send, receive (the sender too, once), edit, delete, history with a tombstone, inline binary", async () => {
        const server = servers[parser.name];
        const room = uniq("v2room");
        const alice = uniq("alice");
        const bob = uniq("bob");
        const [a, b, c] = await Promise.all([
          v2Connect(server, alice, { combo }), v2Connect(server, bob, { combo }), v2Connect(server, uniq("carol"), { combo }),
        ]);
        assert.deepStrictEqual(await ack(a, "join-room", room), { ok: true, roomId: room, lastReadId: null, unreadCount: 0 }, "join-room ack");
        const joined = record(a, "room-member-joined");
        await join(b, room);
        await until(() => joined.length >= 1, WAIT_MS, "room-member-joined at alice");
        assertKeys(joined[0][0], ["roomId", "user"], "room-member-joined");
        assertPresenceInfo(joined[0][0].user, { userId: bob, username: defaultName(bob), status: "online" }, "room-member-joined.user");

        const seen = { a: record(a, "new-message"), b: record(b, "new-message"), c: record(c, "new-message") };
        const m = await send(a, room, "  hello <i>v2</i> & co  ");
        assertMessage(m, { roomId: room, userId: alice, username: defaultName(alice), content: "hello v2 &amp; co" }, "ack.message");
        const bytes = Buffer.from([0, 1, 2, 127, 128, 255, 0x0a, 0x22, 0x5c]);
        const withFile = await send(b, room, "a file", { attachments: [{ name: "x.bin", type: "application/octet-stream", data: bytes }] });
        await until(() => seen.a.length >= 2 && seen.b.length >= 2, WAIT_MS, "new-message at alice and bob");
        await sleep(QUIET_MS);
        for (const k of ["a", "b"]) {
          assert.equal(seen[k].length, 2, `${k}: each message once`);
          assert.deepStrictEqual(seen[k][0], [m], `${k}: the first message as acked`);
          const got = seen[k][1][0];
          assert.equal(got.id, withFile.id, `${k}: the second message`);
          assert.ok(isBinary(got.attachments[0].data), `${k}: inline data arrives as binary`);
          assert.deepStrictEqual(normalize(got.attachments[0].data), normalize(bytes), `${k}: inline bytes`);
        }
        assert.deepStrictEqual(seen.c, [], "a socket outside the room gets nothing");

        const edited = record(b, "message-edited");
        const e = await ackOk(a, "edit-message", { messageId: m.id, content: "edited" });
        assert.equal(e.message.content, "edited");
        await until(() => edited.length >= 1, WAIT_MS, "message-edited at bob");
        assertKeys(edited[0][0], ["messageId", "roomId", "content", "editedAt"], "message-edited");
        assert.equal(edited[0][0].messageId, m.id);
        assert.equal(edited[0][0].content, "edited");
        assertTime(edited[0][0].editedAt, "editedAt");

        const deleted = record(b, "message-deleted");
        assert.deepStrictEqual(await ack(a, "delete-message", m.id), { ok: true, messageId: m.id }, "delete-message ack");
        await until(() => deleted.length >= 1, WAIT_MS, "message-deleted at bob");
        assert.deepStrictEqual(deleted[0], [m.id], "message-deleted carries the id as a string");

        const h = await history(b, { roomId: room });
        assert.equal(h.messages.length, 2, "history: two messages");
        assert.equal(h.hasMore, false);
        assertTombstone(h.messages[0], { id: m.id, roomId: room }, "history[0]");
        assert.equal(h.messages[1].id, withFile.id);
        assert.deepStrictEqual(normalize(h.messages[1].attachments[0].data), normalize(bytes), "history keeps the bytes");
      });

      it("typing, presence, room presence, receipts, leave, and offline after the grace", async () => {
        const server = servers[parser.name];
        const room = uniq("v2live");
        const alice = uniq("alice");
        const bob = uniq("bob");
        const [a, b] = await Promise.all([v2Connect(server, alice, { combo }), v2Connect(server, bob, { combo })]);
        await join(a, room);
        await join(b, room);

        const typingAtB = record(b, "user-typing");
        const typingAtA = record(a, "user-typing");
        await ackOk(a, "typing-start", room);
        await until(() => typingAtB.length >= 1, WAIT_MS, "user-typing at bob");
        assert.deepStrictEqual(typingAtB[0], [{ roomId: room, userId: alice, username: defaultName(alice), isTyping: true }]);
        await ackOk(a, "typing-stop", room);
        await until(() => typingAtB.length >= 2, WAIT_MS, "user-typing stop at bob");
        assert.deepStrictEqual(typingAtB[1], [{ roomId: room, userId: alice, username: defaultName(alice), isTyping: false }]);
        assert.deepStrictEqual(typingAtA, [], "the typer does not hear itself");

        const presenceAtB = record(b, "presence-update");
        assert.deepStrictEqual(await ack(a, "update-presence", "away"), { ok: true, status: "away" });
        await until(() => presenceAtB.length >= 1, WAIT_MS, "presence-update at bob");
        assert.deepStrictEqual(presenceAtB[0], [{ userId: alice, status: "away" }]);

        const roomPresence = record(b, "room-presence");
        const p = await ackOk(b, "get-room-presence", room);
        await until(() => roomPresence.length >= 1, WAIT_MS, "room-presence event");
        const users = Object.fromEntries(p.users.map((u) => [u.userId, u.status]));
        assert.deepStrictEqual(users, { [alice]: "away", [bob]: "online" }, "room presence");
        assert.deepStrictEqual(roomPresence[0][0].users.length, 2);

        const msg = await send(b, room, "read me");
        const reads = record(b, "messages-read");
        assert.deepStrictEqual(await ack(a, "mark-as-read", { roomId: room, messageIds: [msg.id] }), { ok: true, roomId: room, lastReadId: msg.id });
        await until(() => reads.length >= 1, WAIT_MS, "messages-read at bob");
        assertKeys(reads[0][0], ["roomId", "messageIds", "userId", "readAt"], "messages-read");
        assert.deepStrictEqual(reads[0][0].messageIds, [msg.id]);
        assert.equal(reads[0][0].userId, alice);

        const left = record(a, "room-member-left");
        assert.deepStrictEqual(await ack(b, "leave-room", room), { ok: true, roomId: room });
        await until(() => left.length >= 1, WAIT_MS, "room-member-left at alice");
        assert.deepStrictEqual(left[0], [{ roomId: room, userId: bob }]);

        await join(b, room);
        const offline = record(a, "presence-update");
        b.close();
        await until(() => offline.length >= 1, WAIT_MS, "offline presence-update at alice");
        assertKeys(offline[0][0], ["userId", "status", "lastSeen"], "offline presence-update");
        assert.equal(offline[0][0].userId, bob);
        assert.equal(offline[0][0].status, "offline");
        assertTime(offline[0][0].lastSeen, "lastSeen");
      });

      it("a bad token and an expired one are refused ('unauthorized' as v2's error event)", async () => {
        const server = servers[parser.name];
        const forged = signJwt({ sub: "mallory", exp: Math.floor(Date.now() / 1000) + 60 }, { secret: SECRET + "-wrong" });
        assert.equal(await v2Refused(server, forged, combo), "unauthorized");
        assert.equal(await v2Refused(server, tokenFor("late", { exp: Math.floor(Date.now() / 1000) - 3600 }), combo), "unauthorized");
        const ok = await v2Connect(server, uniq("after"), { combo });
        assert.ok(ok.connected, "the next good token connects");
      });
    });
  }

  it("a mixed room: v2 clients on every transport and v4 clients on every transport and parser each get every message once, in order", async () => {
    const server = servers[parser.name];
    const room = uniq("mixed");
    const members = [];
    for (const transport of V2_TRANSPORTS) {
      const combo = v2Matrix(parser).find((c) => c.transport === transport);
      members.push({ label: combo.label, socket: await v2Connect(server, uniq("v2"), { combo }) });
    }
    for (const p of parsersUnderTest()) {
      for (const t of ["polling", "websocket", "upgrade"]) {
        const combo = v4Combo(t, p.name);
        members.push({ label: `v4/${combo.label}`, socket: await chatConnect(server, uniq("v4"), { combo }) });
      }
    }
    for (const m of members) await join(m.socket, room);
    for (const m of members) m.seen = record(m.socket, "new-message");
    const sent = [];
    for (const m of members) sent.push(await send(m.socket, room, `from ${m.label}`));
    await until(() => members.every((m) => m.seen.length >= sent.length), WAIT_MS, "every message at every member");
    await sleep(QUIET_MS);
    for (const m of members) {
      assert.deepStrictEqual(m.seen.map((args) => args[0].id), sent.map((s) => s.id), `${m.label}: every message once, in order`);
      assert.deepStrictEqual(m.seen.map((args) => args[0]), sent, `${m.label}: payloads as acked`);
    }
  });
}
});

test("--eio3-parser takes json or msgpack only, with a clear error", () => {
  const out = spawnSync(serverBinary(), ["--addr", "127.0.0.1:0", "--admin-addr", "", "--eio3-parser", "cbor"], { encoding: "utf8", timeout: 10000 });
  assert.notEqual(out.status, 0, "edgeio --eio3-parser cbor should not start");
  assert.match(out.stderr, /--eio3-parser must be json or msgpack, not "cbor"/);
});
