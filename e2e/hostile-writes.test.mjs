// Hostile writers on a server with production defaults: an edit flood of 50 KB contents
// from five sockets of one user; delete, receipt, presence and join/leave floods (each a
// per-user budget: --rate-edits, --rate-receipts, --rate-presence, --rate-joins); history
// pages of big attachments (--history-max-bytes); the storage quota (--storage-quota);
// receipts naming what is not a message of the room; a 300 KB name claim
// (--max-name-length). docs/security.md.
// Source addresses of this file: 127.0.10.x.
import assert from "node:assert/strict";
import {
  hostileTest, connectUser, join, ack, ackOk, assertAckError, tokenFor, uniq, sleep, until, waitForMatch,
  storedHistory, rawSocketIO,
} from "./lib/hostile.mjs";
import { productionRoom, underAttack } from "./lib/attack.mjs";

function assertRateLimited(r, what) {
  assertAckError(r, "RATE_LIMITED", what);
  assert.ok(typeof r.error.retryAfterMs === "number" && r.error.retryAfterMs > 0,
    `${what}: retryAfterMs > 0 (${JSON.stringify(r)})`);
}

/** Splits acks into the ok ones and the refusals. */
function outcomes(acks) {
  return { ok: acks.filter((r) => r && r.ok === true), refused: acks.filter((r) => !(r && r.ok === true)) };
}

/** Counts the events `name` a socket gets from now on. */
function counter(socket, name, pred = () => true) {
  const c = { n: 0 };
  socket.on(name, (...args) => { if (pred(...args)) c.n += 1; });
  return c;
}

/** A send-message of file i: 900 KB of the byte i, inline. */
const upload = (roomId, i) => ({ roomId, content: `file ${i}`,
  attachments: [{ name: `f${i}.bin`, type: "application/octet-stream", data: Buffer.alloc(900_000, i) }] });

/** Bytes of a history message as the budget counts them: text, names, attachments. */
function messageBytes(m) {
  let n = (m.content || "").length + (m.username || "").length;
  for (const a of m.attachments || []) {
    n += (a.name || "").length + (a.type || "").length + (a.url || "").length;
    if (a.data) n += a.data.byteLength ?? a.data.length;
  }
  return n;
}

hostileTest("edit flood: five sockets of one user editing 50 KB contents are cut down to --rate-edits with RATE_LIMITED", async (ctx) => {
  const { server, room } = await productionRoom(ctx, ["127.0.10.1", "127.0.10.2", "127.0.10.3"]);
  // raw WebSockets that leave what they are sent unparsed: the test process's CPU goes to
  // the honest clients it measures
  const token = tokenFor(uniq("editor"));
  const sockets = [];
  for (let i = 0; i < 5; i++) { // --max-conns-per-ip 5: all from one address
    const w = await rawSocketIO(ctx, server, { ip: "127.0.10.11", token });
    assert.equal((await w.emit("join-room", room.roomId)).ok, true, "the editor joins");
    sockets.push(w);
  }
  const { message } = await sockets[0].emit("send-message", { roomId: room.roomId, content: "soon edited" });
  const edited = counter(room.members[0], "message-edited", (e) => e && e.messageId === message.id);
  const content = "&".repeat(10_000); // the longest content; 50 KB once escaped
  const seconds = 20; // long enough that the first burst of 30 allowed edits is a small share of the honest samples

  const figures = await underAttack(ctx, server, room, async () => {
    const acks = [];
    const deadline = Date.now() + seconds * 1000;
    await Promise.all(sockets.map(async (s) => {
      while (Date.now() < deadline) { // 18 a second: under --rate-events (20), so only the edit budget refuses
        acks.push(s.emit("edit-message", { messageId: message.id, content }).catch((err) => ({ lost: err.message })));
        await sleep(55);
      }
    }));
    return outcomes(await Promise.all(acks));
  }, { what: "edit flood" });

  const { ok, refused } = figures.attack;
  ctx.t.diagnostic(`edit flood: ${ok.length} edits accepted, ${refused.length} refused in ${seconds} s; ` +
    `${edited.n} message-edited (${(edited.n * 50_000 / 1e6).toFixed(1)} MB) reached each member`);
  assert.ok(refused.length > 0, `the flood is refused past the budget (${ok.length} edits accepted, none refused)`);
  refused.forEach((r, i) => assertRateLimited(r, `edit refusal ${i}`));
  // 30 a minute in bursts of 30: the burst and what refills during the attack
  assert.ok(ok.length <= 30 + seconds / 2 + 2, `at most about the budget passes, got ${ok.length}`);
  assert.ok(edited.n <= ok.length, `members got ${edited.n} message-edited for ${ok.length} accepted edits`);
  assert.equal(await server.metric("edgeio_refusals_total", { reason: "edit_rate" }), refused.length,
    "every refused edit is counted as edit_rate");
  for (const s of sockets) assert.ok(s.isOpen, "a rate-limited editor stays connected");
}, { timeout: 40000 });

hostileTest("delete, receipt, presence and join/leave floods: RATE_LIMITED past each per-user budget", async (ctx) => {
  const { server, room } = await productionRoom(ctx, ["127.0.10.4", "127.0.10.5"]);
  const [alice, bob] = room.members;
  const { message } = await ackOk(alice, "send-message", { roomId: room.roomId, content: "read me" });

  // deletes share the edit budget (30 a minute): 15 messages, 40 deletes
  const deleter = await connectUser(ctx, server, uniq("deleter"), "127.0.10.21");
  await join(deleter, room.roomId);
  const ids = [];
  for (let i = 0; i < 15; i++) ids.push((await ackOk(deleter, "send-message", { roomId: room.roomId, content: `d${i}` })).message.id);
  await sleep(1000); // the socket's event burst refills
  const deleted = counter(bob, "message-deleted");
  const deletes = outcomes(await Promise.all(Array.from({ length: 40 }, (_, i) => ack(deleter, "delete-message", ids[i % 15]))));
  const deleteLimited = deletes.refused.filter((r) => r.error && r.error.code === "RATE_LIMITED");
  assert.equal(deletes.ok.length, 15, "each message is deleted once");
  assert.ok(deleteLimited.length >= 5, `deletes past 30 are RATE_LIMITED, got ${JSON.stringify(deletes.refused.map((r) => r.error && r.error.code))}`);
  deleteLimited.forEach((r, i) => assertRateLimited(r, `delete refusal ${i}`));

  // receipts: 5 a second
  const reader = await connectUser(ctx, server, uniq("reader"), "127.0.10.22");
  await join(reader, room.roomId);
  const receipts = outcomes(await Promise.all(Array.from({ length: 30 }, () =>
    ack(reader, "mark-as-read", { roomId: room.roomId, messageIds: [message.id] }))));
  assert.ok(receipts.refused.length >= 20, `receipts past 5 a second are refused, ${receipts.ok.length} passed`);
  receipts.refused.forEach((r, i) => assertRateLimited(r, `receipt refusal ${i}`));

  // presence: 2 a second
  const flipper = await connectUser(ctx, server, uniq("flipper"), "127.0.10.23");
  await join(flipper, room.roomId);
  const presence = outcomes(await Promise.all(Array.from({ length: 30 }, (_, i) =>
    ack(flipper, "update-presence", i % 2 ? "online" : "away"))));
  assert.ok(presence.refused.length >= 20, `presence past 2 a second is refused, ${presence.ok.length} passed`);
  presence.refused.forEach((r, i) => assertRateLimited(r, `presence refusal ${i}`));

  // joins and leaves: 120 a minute over the user's five sockets, each one well inside its own event burst
  const joiner = uniq("joiner");
  const joinerSockets = [];
  for (let i = 0; i < 5; i++) joinerSockets.push(await connectUser(ctx, server, joiner, "127.0.10.24"));
  const joinAcks = (await Promise.all(joinerSockets.map(async (s) => {
    const acks = [];
    for (let i = 0; i < 13; i++) {
      acks.push(await ack(s, "join-room", room.roomId));
      acks.push(await ack(s, "leave-room", room.roomId));
    }
    return acks;
  }))).flat();
  const joins = outcomes(joinAcks);
  const joinLimited = joins.refused.filter((r) => r.error && r.error.code === "RATE_LIMITED");
  assert.ok(joinLimited.length >= 5, `joins and leaves past 120 are RATE_LIMITED, ${joins.ok.length} of 130 passed`);
  joinLimited.forEach((r, i) => assertRateLimited(r, `join/leave refusal ${i}`));

  ctx.t.diagnostic(`floods: deletes ${deletes.ok.length} ok, ${deleteLimited.length} RATE_LIMITED; receipts ` +
    `${receipts.ok.length} ok, ${receipts.refused.length} refused; presence ${presence.ok.length} ok, ` +
    `${presence.refused.length} refused; joins/leaves ${joins.ok.length} ok, ${joinLimited.length} RATE_LIMITED`);
  for (const [reason, n] of [["edit_rate", deleteLimited.length], ["receipt_rate", receipts.refused.length],
    ["presence_rate", presence.refused.length], ["join_rate", joinLimited.length]]) {
    assert.equal(await server.metric("edgeio_refusals_total", { reason }), n, `refusals counted as ${reason}`);
  }
  await until(() => deleted.n === 15, 2000, "a message-deleted for each accepted delete");
  await room.check("write floods");
}, { timeout: 30000 });

hostileTest("history of big attachments: every get-history answer stays under --history-max-bytes, hasMore pages on to every message", async (ctx) => {
  // sends relaxed in this one test, to store 12 x 900 KB quickly
  const { server, room } = await productionRoom(ctx, ["127.0.10.6"], ["--rate-messages", "0"]);
  const writer = await connectUser(ctx, server, uniq("uploader"), "127.0.10.31");
  await join(writer, room.roomId);
  const sent = [];
  for (let i = 0; i < 12; i++) {
    sent.push((await ackOk(writer, "send-message", upload(room.roomId, i))).message.id);
  }
  const reader = room.members[0];
  const budget = 1_000_000; // the default
  for (const direction of ["before", "after"]) {
    // newest first from the end, or oldest first from the first upload
    const seen = direction === "before" ? [] : [sent[0]];
    let q = direction === "before" ? { roomId: room.roomId, limit: 100 } : { roomId: room.roomId, limit: 100, after: sent[0] };
    let pages = 0;
    let largest = 0;
    for (;;) {
      const r = await ackOk(reader, "get-history", q);
      pages += 1;
      assert.ok(r.messages.length >= 1, `page ${pages} (${direction}) holds a message`);
      const bytes = r.messages.reduce((n, m) => n + messageBytes(m), 0);
      largest = Math.max(largest, bytes);
      assert.ok(bytes <= budget || r.messages.length === 1,
        `page ${pages} (${direction}): ${r.messages.length} messages, ${(bytes / 1e6).toFixed(1)} MB, over the 1 MB budget`);
      for (const m of r.messages) {
        if (!sent.includes(m.id)) continue;
        assert.equal(m.attachments[0].data.length, 900_000, "the attachment comes whole");
        assert.equal(m.attachments[0].data[0], sent.indexOf(m.id), "its own bytes");
      }
      if (direction === "before") seen.unshift(...r.messages.map((m) => m.id));
      else seen.push(...r.messages.map((m) => m.id));
      if (!r.hasMore) break;
      assert.ok(pages < 30, "paging ends");
      q = direction === "before" ? { roomId: room.roomId, limit: 100, before: r.messages[0].id }
        : { roomId: room.roomId, limit: 100, after: r.messages[r.messages.length - 1].id };
    }
    ctx.t.diagnostic(`history ${direction}: ${pages} pages, the largest ${(largest / 1e6).toFixed(2)} MB`);
    assert.deepStrictEqual(seen.filter((id) => sent.includes(id)), sent, `paging ${direction} reaches every message, in order`);
    if (direction === "before") assert.ok(pages >= 12, "one 900 KB message a page");
  }
  await room.check("big history");
}, { timeout: 40000 });

hostileTest("storage quota: past --storage-quota a send is refused with RATE_LIMITED 'storage quota' and nothing is stored", async (ctx) => {
  const { server, room } = await productionRoom(ctx, ["127.0.10.7"], ["--storage-quota", "2000000"]);
  const writer = await connectUser(ctx, server, uniq("hoarder"), "127.0.10.41");
  await join(writer, room.roomId);
  const file = (i) => upload(room.roomId, i);
  await ackOk(writer, "send-message", file(0));
  await ackOk(writer, "send-message", file(1));
  const announced = counter(room.members[0], "new-message", (m) => m && m.content === "file 2");
  const r = await ack(writer, "send-message", file(2));
  assertRateLimited(r, "a send past the quota");
  assert.match(r.error.message, /storage quota/, "the refusal says why");
  assert.ok(r.error.retryAfterMs > 60_000, `the quota refills over a day: retryAfterMs ${r.error.retryAfterMs}`);
  await ackOk(writer, "send-message", { roomId: room.roomId, content: "a few bytes still fit" });
  const stored = (await storedHistory(room.members[0], room.roomId)).filter((m) => m.userId === writer.user);
  assert.deepStrictEqual(stored.map((m) => m.content), ["file 0", "file 1", "a few bytes still fit"], "nothing of the refused send is stored");
  assert.equal(announced.n, 0, "the refused send reached nobody");
  assert.equal(await server.metric("edgeio_refusals_total", { reason: "storage_quota" }), 1, "counted as storage_quota");
  await room.check("storage quota");
});

hostileTest("mark-as-read relays only ids of the room's messages: foreign ids, made-up and HTML strings are dropped", async (ctx) => {
  const { room } = await productionRoom(ctx, ["127.0.10.8", "127.0.10.9", "127.0.10.10"]);
  const [alice, bob, carol] = room.members;
  const elsewhere = uniq("elsewhere");
  await join(alice, elsewhere);
  const foreign = (await ackOk(alice, "send-message", { roomId: elsewhere, content: "not in this room" })).message.id;
  const real = (await ackOk(alice, "send-message", { roomId: room.roomId, content: "read me" })).message.id;
  const html = "0 <img src=x onerror=alert(1)>";
  const seen = [];
  carol.on("messages-read", (e) => seen.push(e));
  const r = await ackOk(bob, "mark-as-read", { roomId: room.roomId, messageIds: [html, foreign, "0 spoofed", real] });
  assert.equal(r.lastReadId, real, "the watermark is the real message");
  const [ev] = await waitForMatch(carol, "messages-read", (e) => e && e.userId === bob.user, 2000, "bob's receipt");
  assert.deepStrictEqual(ev.messageIds, [real], `only the room's message is relayed, got ${JSON.stringify(ev.messageIds)}`);
  await sleep(300); // two receipt windows: nothing else follows
  assert.ok(seen.every((e) => e.messageIds.every((id) => id === real)), `relayed: ${JSON.stringify(seen)}`);
  assertAckError(await ack(bob, "mark-as-read", { roomId: room.roomId, messageIds: [foreign] }), "NOT_FOUND", "only a foreign id");
});

hostileTest("a 300 KB name claim is cut to --max-name-length in room-member-joined, messages and history", async (ctx) => {
  const { server, room } = await productionRoom(ctx, ["127.0.10.12"]);
  const [honest] = room.members;
  const long = "N".repeat(300_000);
  const sub = uniq("longname");
  const joined = waitForMatch(honest, "room-member-joined", (e) => e && e.user && e.user.userId === sub, 3000, "the long name's join");
  const s = await connectUser(ctx, server, sub, "127.0.10.61", { token: tokenFor(sub, { name: long }) });
  await join(s, room.roomId);
  const [ev] = await joined;
  assert.equal(ev.user.username, "N".repeat(64), `room-member-joined username of ${ev.user.username.length} characters`);
  const msg = waitForMatch(honest, "new-message", (m) => m && m.userId === sub, 3000, "the long name's message");
  await ackOk(s, "send-message", { roomId: room.roomId, content: "hello" });
  assert.equal((await msg)[0].username.length, 64, "new-message username");
  const stored = (await storedHistory(honest, room.roomId)).find((m) => m.userId === sub);
  assert.equal(stored.username.length, 64, "stored username");
});
