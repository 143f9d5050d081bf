// Chat messages over every transport setting and both parsers: join-room, send-message and
// new-message to every socket of the room (and no other), edit-message, delete-message and
// tombstones, get-history pages (before/after/limit/hasMore), clientMsgId retries,
// attachments (links and inline binary, across parsers), mark-as-read and messages-read, and
// the read state join-room reports. Every ack and event payload is checked field by field.
import { describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { serverTest, closeOrphans } from "./lib/scope.mjs";
import { TRANSPORTS, PARSERS, normalize, parsersUnderTest } from "./lib/client.mjs";
import {
  startChat, chatConnect, chatMatrix, uniq, ack, ackOk, join, send, history, record, sleep, until,
  assertKeys, assertMessage, assertTombstone, assertTime, expectAckError, defaultName, QUIET_MS, WAIT_MS,
} from "./lib/chat.mjs";

let server;
before(async () => { server = await startChat(); });
after(async () => { closeOrphans(); await server?.stop(); });

const it = serverTest(() => server, { timeout: 40000 });

const isBinary = (v) => Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v);

/** The other parser (for a receiver that must get the same payload encoded its own way). */
function otherParser(parser) {
  const names = parsersUnderTest().map((p) => p.name);
  const other = names.find((n) => n !== parser.name);
  return PARSERS[other || parser.name];
}

describe("matrix", { concurrency: true }, () => {
for (const combo of chatMatrix()) {
  describe(combo.label, () => {
    it("join-room, send-message: ack and new-message field by field, to every socket of the room only", async () => {
      const room = uniq("room");
      const alice = uniq("alice");
      const bob = uniq("bob");
      const [a1, a2, a3, b, c] = await Promise.all([
        chatConnect(server, alice, { combo }),
        chatConnect(server, alice, { combo }),
        chatConnect(server, alice, { combo }), // alice's socket that never joins
        chatConnect(server, bob, { combo }),
        chatConnect(server, uniq("carol"), { combo }), // not in the room
      ]);
      const j = await ack(a1, "join-room", room);
      assert.deepStrictEqual(j, { ok: true, roomId: room, lastReadId: null, unreadCount: 0 }, "first join-room ack");
      assert.deepStrictEqual(await ack(a2, "join-room", room), { ok: true, roomId: room, lastReadId: null, unreadCount: 0 });
      assert.deepStrictEqual(await ack(b, "join-room", room), { ok: true, roomId: room, lastReadId: null, unreadCount: 0 });

      const seen = Object.fromEntries(Object.entries({ a1, a2, a3, b, c }).map(([k, s]) => [k, record(s, "new-message")]));
      const cid = randomUUID();
      const r = await ack(a1, "send-message", { roomId: room, content: "  hello & <b>bye</b>\n\tsecond line  ", clientMsgId: cid });
      assertKeys(r, ["ok", "message"], "send-message ack");
      assert.equal(r.ok, true);
      assertMessage(r.message, {
        roomId: room, userId: alice, username: defaultName(alice), content: "hello &amp; bye\n\tsecond line", clientMsgId: cid,
      }, "ack.message");
      await until(() => seen.a1.length && seen.a2.length && seen.b.length, WAIT_MS, "new-message at a1, a2 and b");

      // Without clientMsgId: the payload has no clientMsgId key.
      const plain = await send(b, room, "plain", { clientMsgId: undefined, attachments: undefined });
      assertMessage(plain, { roomId: room, userId: bob, username: defaultName(bob), content: "plain" }, "second message");
      assert.ok(plain.id > r.message.id, "ids order by creation");
      assert.ok(plain.createdAt >= r.message.createdAt, "createdAt does not go back");
      await until(() => seen.a1.length >= 2 && seen.a2.length >= 2 && seen.b.length >= 2, WAIT_MS, "second new-message");
      await sleep(QUIET_MS);
      for (const k of ["a1", "a2", "b"]) {
        assert.deepStrictEqual(seen[k], [[r.message], [plain]], `new-message at ${k}: the ack's message, once, one argument (no recovery offset: the client did not ask)`);
      }
      assert.deepStrictEqual(seen.a3, [], "alice's socket outside the room gets nothing");
      assert.deepStrictEqual(seen.c, [], "a user outside the room gets nothing");
    });

    it("edit-message and delete-message: acks, message-edited, message-deleted (a string), tombstone, NOT_FOUND after", async () => {
      const room = uniq("room");
      const alice = uniq("alice");
      const [a, b] = await Promise.all([chatConnect(server, alice, { combo }), chatConnect(server, uniq("bob"), { combo })]);
      await join(a, room);
      await join(b, room);
      const m = await send(a, room, "first draft");
      const other = await send(a, room, "stays");

      const editedA = record(a, "message-edited");
      const editedB = record(b, "message-edited");
      const e = await ack(a, "edit-message", { messageId: m.id, content: " <i>second</i> draft " });
      assertKeys(e, ["ok", "message"], "edit-message ack");
      assert.equal(e.ok, true);
      assertMessage(e.message, {
        id: m.id, roomId: room, userId: alice, username: defaultName(alice), content: "second draft",
        createdAt: m.createdAt, editedAt: true,
      }, "edit ack.message");
      await until(() => editedA.length && editedB.length, WAIT_MS, "message-edited at both");
      for (const [who, got] of [["author", editedA], ["other", editedB]]) {
        assert.equal(got.length, 1, `one message-edited at ${who}`);
        assert.equal(got[0].length, 1, "message-edited has one argument");
        assertKeys(got[0][0], ["messageId", "roomId", "content", "editedAt"], "message-edited");
        assert.deepStrictEqual(got[0][0], { messageId: m.id, roomId: room, content: "second draft", editedAt: e.message.editedAt });
      }

      const deletedA = record(a, "message-deleted");
      const deletedB = record(b, "message-deleted");
      const d = await ack(a, "delete-message", m.id);
      assert.deepStrictEqual(d, { ok: true, messageId: m.id }, "delete-message ack");
      await until(() => deletedA.length && deletedB.length, WAIT_MS, "message-deleted at both");
      assert.deepStrictEqual(deletedA, [[m.id]], "message-deleted is the id as a plain string, alone");
      assert.deepStrictEqual(deletedB, [[m.id]]);
      assert.equal(typeof deletedB[0][0], "string");

      const h = await history(b, { roomId: room });
      assertKeys(h, ["ok", "roomId", "messages", "hasMore"], "get-history ack");
      assert.equal(h.roomId, room);
      assert.equal(h.hasMore, false);
      assert.equal(h.messages.length, 2);
      assertTombstone(h.messages[0], { id: m.id, roomId: room }, "history[0]");
      assertMessage(h.messages[1], { id: other.id, roomId: room, userId: alice, username: defaultName(alice), content: "stays", createdAt: other.createdAt });

      await expectAckError(a, "NOT_FOUND", "edit-message", { messageId: m.id, content: "again" });
      await expectAckError(a, "NOT_FOUND", "delete-message", m.id);
      const after = await history(b, { roomId: room });
      assert.deepStrictEqual(after.messages, h.messages, "refused edit/delete changed nothing");
    });

    it("get-history: newest page, before/after cursors, limit, hasMore, tombstones in place", async () => {
      const room = uniq("hist");
      const user = uniq("writer");
      const s = await chatConnect(server, user, { combo });
      await join(s, room);
      const empty = await history(s, { roomId: room });
      assert.deepStrictEqual(empty, { ok: true, roomId: room, messages: [], hasMore: false }, "an empty room");
      const msgs = [];
      for (let i = 1; i <= 7; i++) msgs.push(await send(s, room, `m${i}`));
      await ackOk(s, "delete-message", msgs[2].id); // m3 becomes a tombstone
      const ids = msgs.map((m) => m.id);
      const page = async (q, wantIdx, wantMore, what) => {
        const r = await history(s, { roomId: room, ...q });
        assertKeys(r, ["ok", "roomId", "messages", "hasMore"], what);
        assert.deepStrictEqual(r.messages.map((m) => m.id), wantIdx.map((i) => ids[i]), `${what}: ids`);
        assert.equal(r.hasMore, wantMore, `${what}: hasMore`);
        for (const m of r.messages) {
          const i = ids.indexOf(m.id);
          if (i === 2) assertTombstone(m, { id: ids[2], roomId: room }, `${what}: m3`);
          else assertMessage(m, { ...msgs[i] }, `${what}: m${i + 1}`);
        }
        return r;
      };
      await page({}, [0, 1, 2, 3, 4, 5, 6], false, "default limit");
      await page({ limit: 3 }, [4, 5, 6], true, "newest 3");
      await page({ limit: 7 }, [0, 1, 2, 3, 4, 5, 6], false, "newest 7");
      await page({ limit: 100 }, [0, 1, 2, 3, 4, 5, 6], false, "limit 100");
      await page({ before: ids[4], limit: 3 }, [1, 2, 3], true, "3 before m5");
      await page({ before: ids[1], limit: 3 }, [0], false, "before m2");
      await page({ before: ids[0] }, [], false, "before the first");
      await page({ after: ids[0], limit: 3 }, [1, 2, 3], true, "3 after m1");
      await page({ after: ids[3], limit: 3 }, [4, 5, 6], false, "3 after m4");
      await page({ after: ids[6] }, [], false, "after the last");
      await page({ after: ids[2], limit: 1 }, [3], true, "1 after the tombstone");
      await page({ before: ids[4], limit: 1, after: undefined }, [3], true, "an undefined cursor is absent (msgpack sends undefined)");
      // Walking back from the newest page reaches every message exactly once.
      let got = [];
      let q = { limit: 2 };
      for (let n = 0; n < 10; n++) {
        const r = await history(s, { roomId: room, ...q });
        got = [...r.messages.map((m) => m.id), ...got];
        if (!r.hasMore) break;
        q = { limit: 2, before: r.messages[0].id };
      }
      assert.deepStrictEqual(got, ids, "paging back with before covers the room in order");
    });

    it("clientMsgId: a retry returns the stored message and broadcasts nothing", async () => {
      const room = uniq("dedup");
      const alice = uniq("alice");
      const bob = uniq("bob");
      const [a, b] = await Promise.all([chatConnect(server, alice, { combo }), chatConnect(server, bob, { combo })]);
      await join(a, room);
      await join(b, room);
      const atB = record(b, "new-message");
      const atA = record(a, "new-message");
      const cid = `retry-${randomUUID()}`;
      const first = await send(a, room, "only once", { clientMsgId: cid });
      const again = await ack(a, "send-message", { roomId: room, content: "only once", clientMsgId: cid });
      assert.deepStrictEqual(again, { ok: true, message: first }, "the retry's ack is the stored message");
      const changed = await ack(a, "send-message", { roomId: room, content: "different text", clientMsgId: cid });
      assert.deepStrictEqual(changed, { ok: true, message: first }, "same clientMsgId, other text: still the stored message");
      // Another user may use the same clientMsgId: that is a new message.
      const bobs = await send(b, room, "bob's own", { clientMsgId: cid });
      assert.notEqual(bobs.id, first.id);
      assert.equal(bobs.userId, bob);
      await until(() => atB.length >= 2 && atA.length >= 2, WAIT_MS, "the two new-messages");
      await sleep(QUIET_MS);
      assert.deepStrictEqual(atB.map(([m]) => m.id), [first.id, bobs.id], "one new-message per stored message at b");
      assert.deepStrictEqual(atA.map(([m]) => m.id), [first.id, bobs.id], "and at the sender");
      const h = await history(b, { roomId: room });
      assert.deepStrictEqual(h.messages.map((m) => m.id), [first.id, bobs.id], "history holds each once");
    });

    it("attachments: links and inline bytes arrive as binary with both parsers; history keeps them", async () => {
      const room = uniq("files");
      const alice = uniq("alice");
      const otherCombo = { transport: TRANSPORTS.find((t) => t.name === "websocket"), parser: otherParser(combo.parser) };
      const [a, b, x] = await Promise.all([
        chatConnect(server, alice, { combo }),
        chatConnect(server, uniq("bob"), { combo }),
        chatConnect(server, uniq("xavier"), { combo: otherCombo }),
      ]);
      for (const s of [a, b, x]) await join(s, room);
      const bytes = Buffer.from([0, 1, 2, 127, 128, 250, 255, 0x0a, 0x22, 0x5c]);
      const big = Buffer.alloc(20000, 7);
      const sent = [
        { url: "https://example.com/a.png", name: "a.png", type: "image/png", size: 1234 },
        { url: "http://example.com/plain" },
        { name: "blob.bin", type: "application/octet-stream", data: bytes },
        { name: "big.bin", type: "application/x-big", data: big },
      ];
      const atB = record(b, "new-message");
      const atX = record(x, "new-message");
      const m = await send(a, room, "with files", { attachments: sent });
      assertMessage(m, { roomId: room, userId: alice, username: defaultName(alice), content: "with files", attachments: true }, "ack.message");
      const check = (atts, where) => {
        assert.equal(atts.length, 4, `${where}: four attachments`);
        assertKeys(atts[0], ["url", "name", "type", "size"], `${where}: link`);
        assert.deepStrictEqual(atts[0], sent[0], `${where}: link with name, type, size`);
        assert.deepStrictEqual(atts[1], sent[1], `${where}: bare link`);
        for (const i of [2, 3]) {
          assertKeys(atts[i], ["name", "type", "data"], `${where}: inline ${i}`);
          assert.equal(atts[i].name, sent[i].name);
          assert.equal(atts[i].type, sent[i].type);
          assert.ok(isBinary(atts[i].data), `${where}: inline data arrives as binary, got ${typeof atts[i].data} ${JSON.stringify(atts[i].data)?.slice(0, 80)}`);
          assert.deepStrictEqual(normalize(atts[i].data), normalize(sent[i].data), `${where}: inline bytes`);
        }
      };
      check(m.attachments, "ack");
      await until(() => atB.length && atX.length, WAIT_MS, "new-message at b and x");
      check(atB[0][0].attachments, `new-message at ${combo.label}`);
      check(atX[0][0].attachments, `new-message at websocket/${otherCombo.parser.name}`);
      const h = await history(x, { roomId: room });
      check(h.messages[0].attachments, "history");
      const h2 = await history(a, { roomId: room });
      check(h2.messages[0].attachments, "history at the sender's parser");
    });

    it("mark-as-read: ack, one messages-read to the room (reader's sockets too), read state in join-room", async () => {
      const room = uniq("read");
      const alice = uniq("alice");
      const bob = uniq("bob");
      const [a1, a2, b] = await Promise.all([
        chatConnect(server, alice, { combo }), chatConnect(server, alice, { combo }), chatConnect(server, bob, { combo }),
      ]);
      for (const s of [a1, a2, b]) await join(s, room);
      const b1 = await send(b, room, "b1");
      const b2 = await send(b, room, "b2");
      const b3 = await send(b, room, "b3");
      const a1msg = await send(a1, room, "alice's own");
      const b4 = await send(b, room, "b4");
      await ackOk(b, "delete-message", b3.id);

      const reads = { a1: record(a1, "messages-read"), a2: record(a2, "messages-read"), b: record(b, "messages-read") };
      const r = await ack(a1, "mark-as-read", { roomId: room, messageIds: [b1.id] });
      assert.deepStrictEqual(r, { ok: true, roomId: room, lastReadId: b1.id }, "mark-as-read ack");
      await until(() => reads.a1.length && reads.a2.length && reads.b.length, WAIT_MS, "messages-read everywhere");
      await sleep(QUIET_MS);
      for (const [k, got] of Object.entries(reads)) {
        assert.equal(got.length, 1, `one messages-read at ${k}`);
        assert.equal(got[0].length, 1);
        const p = got[0][0];
        assertKeys(p, ["roomId", "messageIds", "userId", "readAt"], `messages-read at ${k}`);
        assert.equal(p.roomId, room);
        assert.deepStrictEqual(p.messageIds, [b1.id]);
        assert.equal(p.userId, alice);
        assertTime(p.readAt, "readAt");
      }

      // Unread after b1: b2 and b4 (b3 is deleted, a1msg is alice's own).
      const again = await ack(a2, "join-room", room);
      assert.deepStrictEqual(again, { ok: true, roomId: room, lastReadId: b1.id, unreadCount: 2 }, "join-room again: read state");
      const fresh = await chatConnect(server, alice, { combo });
      assert.deepStrictEqual(await ack(fresh, "join-room", room), { ok: true, roomId: room, lastReadId: b1.id, unreadCount: 2 },
        "a new socket of the reader");
      // Someone who never read: everything not deleted and not theirs.
      const dave = await chatConnect(server, uniq("dave"), { combo });
      assert.deepStrictEqual(await ack(dave, "join-room", room), { ok: true, roomId: room, lastReadId: null, unreadCount: 4 });
      // bob wrote b1..b4: only alice's message is unread for him.
      assert.deepStrictEqual(await ack(b, "join-room", room), { ok: true, roomId: room, lastReadId: null, unreadCount: 1 });

      // Reading up to the newest leaves nothing unread.
      await ackOk(a2, "mark-as-read", { roomId: room, messageIds: [b2.id, a1msg.id, b4.id] });
      assert.deepStrictEqual(await ack(fresh, "join-room", room), { ok: true, roomId: room, lastReadId: b4.id, unreadCount: 0 });
    });
  });
}
});
