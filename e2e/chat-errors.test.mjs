// Chat errors (docs/events.md "Answers and errors", docs/security.md): INVALID_PAYLOAD in
// many shapes for every event, FORBIDDEN, NOT_IN_ROOM and NOT_FOUND, each delivered both ways
// (the ack { ok: false, error: { code, message } } and, without an ack, an `error` event
// { message, code }); a refused event changes nothing stored and leaves the connection up.
// Content and attachment rules. Most of it over JSON/WebSocket; the delivery of errors over
// polling/WebSocket with both parsers.
import { describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { serverTest, closeOrphans } from "./lib/scope.mjs";
import {
  startChat, chatConnect, smallMatrix, uniq, ack, ackOk, join, send, history, record, sleep,
  expectAckError, expectErrorEvent, assertMessage, assertQuiet, defaultName, waitFor, WAIT_MS,
} from "./lib/chat.mjs";

const MAX_ROOMS = 5;
let server;
before(async () => { server = await startChat(["--max-rooms-per-socket", String(MAX_ROOMS)]); });
after(async () => { closeOrphans(); await server?.stop(); });

const it = serverTest(() => server, { timeout: 40000 });

/** A message id in the store's format that names no message. */
const NO_SUCH_ID = "0000000000000";

/**
 * A room with some history: alice (a) and bob (b) in it, alice's messages m1 (edited) and m2,
 * bob's b1, a deleted message, and alice's read watermark at m1. `outside` is a room neither
 * socket is in, holding message o1.
 */
async function scene(combo) {
  const room = uniq("err");
  const outside = uniq("outside");
  const alice = uniq("alice");
  const bob = uniq("bob");
  const [a, b, o] = await Promise.all([
    chatConnect(server, alice, { combo }), chatConnect(server, bob, { combo }), chatConnect(server, uniq("olga"), { combo }),
  ]);
  await join(a, room);
  await join(b, room);
  await join(o, outside);
  const m1 = await send(a, room, "m1");
  await ackOk(a, "edit-message", { messageId: m1.id, content: "m1 edited" });
  const m2 = await send(a, room, "m2", { clientMsgId: "cid-m2" });
  const b1 = await send(b, room, "b1");
  const gone = await send(a, room, "to delete");
  await ackOk(a, "delete-message", gone.id);
  const readAtB = waitFor(b, "messages-read", WAIT_MS, "the scene's receipt");
  await ackOk(a, "mark-as-read", { roomId: room, messageIds: [m1.id] });
  await readAtB; // so that it does not arrive during the test
  const o1 = await send(o, outside, "o1");
  return { room, outside, alice, bob, a, b, o, m1, m2, b1, gone, o1 };
}

/** What is stored for the scene: both rooms' history and both users' read state. */
async function snapshot(sc) {
  return {
    history: await history(sc.a, { roomId: sc.room }),
    outside: await history(sc.o, { roomId: sc.outside }),
    readA: await ack(sc.a, "join-room", sc.room),
    readB: await ack(sc.b, "join-room", sc.room),
  };
}

/** Every refused event of the scene, as [code, event, ...args], sent by alice (a). */
function refusals(sc) {
  const { room, outside, m1, m2, b1, gone, o1 } = sc;
  const long = "x".repeat(10001);
  const link = (url) => ({ roomId: room, content: "with link", attachments: [{ url }] });
  const atts = (list) => ({ roomId: room, content: "with attachments", attachments: list });
  return [
    // unknown events and missing or mistyped arguments
    ["INVALID_PAYLOAD", "no-such-event", room],
    ["INVALID_PAYLOAD", "join-room"],
    ["INVALID_PAYLOAD", "join-room", 42],
    ["INVALID_PAYLOAD", "join-room", null],
    ["INVALID_PAYLOAD", "join-room", { roomId: room }],
    ["INVALID_PAYLOAD", "join-room", [room]],
    ["INVALID_PAYLOAD", "join-room", ""],
    ["INVALID_PAYLOAD", "join-room", "-starts-with-dash"],
    ["INVALID_PAYLOAD", "join-room", "has space"],
    ["INVALID_PAYLOAD", "join-room", "slash/room"],
    ["INVALID_PAYLOAD", "join-room", "r".repeat(129)],
    ["INVALID_PAYLOAD", "join-room", Buffer.from(room)],
    ["INVALID_PAYLOAD", "leave-room"],
    ["INVALID_PAYLOAD", "leave-room", 7],
    ["INVALID_PAYLOAD", "leave-room", "bad room"],
    ["INVALID_PAYLOAD", "send-message"],
    ["INVALID_PAYLOAD", "send-message", "hello"],
    ["INVALID_PAYLOAD", "send-message", [{ roomId: room, content: "in a list" }]],
    ["INVALID_PAYLOAD", "send-message", { roomId: room }],
    ["INVALID_PAYLOAD", "send-message", { content: "no room" }],
    ["INVALID_PAYLOAD", "send-message", { roomId: "bad room", content: "x" }],
    ["INVALID_PAYLOAD", "send-message", { roomId: room, content: 5 }],
    ["INVALID_PAYLOAD", "send-message", { roomId: room, content: null }],
    ["INVALID_PAYLOAD", "send-message", { roomId: room, content: ["x"] }],
    ["INVALID_PAYLOAD", "send-message", { roomId: room, content: Buffer.from("bytes") }],
    ["INVALID_PAYLOAD", "send-message", { roomId: room, content: "" }],
    ["INVALID_PAYLOAD", "send-message", { roomId: room, content: "  \n\t  " }],
    ["INVALID_PAYLOAD", "send-message", { roomId: room, content: "<b></b><img src=x>" }],
    ["INVALID_PAYLOAD", "send-message", { roomId: room, content: "\u0000\u0007\u001b" }],
    ["PAYLOAD_TOO_LARGE", "send-message", { roomId: room, content: long }],
    ["PAYLOAD_TOO_LARGE", "send-message", { roomId: room, content: "é".repeat(10001) }],
    ["INVALID_PAYLOAD", "send-message", { roomId: room, content: "x", clientMsgId: 12 }],
    ["INVALID_PAYLOAD", "send-message", { roomId: room, content: "x", clientMsgId: "c".repeat(129) }],
    // a retry of a stored clientMsgId is still validated first
    ["INVALID_PAYLOAD", "send-message", { roomId: room, content: "", clientMsgId: "cid-m2" }],
    // attachments
    ["INVALID_PAYLOAD", "send-message", atts("not a list")],
    ["INVALID_PAYLOAD", "send-message", atts({ url: "https://example.com/x" })],
    ["INVALID_PAYLOAD", "send-message", atts(Array.from({ length: 11 }, (_, i) => ({ url: `https://example.com/${i}` })))],
    ["INVALID_PAYLOAD", "send-message", atts(["https://example.com/x"])],
    ["INVALID_PAYLOAD", "send-message", atts([null])],
    ["INVALID_PAYLOAD", "send-message", link("javascript:alert(1)")],
    ["INVALID_PAYLOAD", "send-message", link("JavaScript:alert(1)//http://x")],
    ["INVALID_PAYLOAD", "send-message", link("data:text/html,<script>alert(1)</script>")],
    ["INVALID_PAYLOAD", "send-message", link("ftp://example.com/file")],
    ["INVALID_PAYLOAD", "send-message", link("file:///etc/passwd")],
    ["INVALID_PAYLOAD", "send-message", link("//example.com/no-scheme")],
    ["INVALID_PAYLOAD", "send-message", link("https://")],
    ["INVALID_PAYLOAD", "send-message", link("")],
    ["INVALID_PAYLOAD", "send-message", link(42)],
    ["INVALID_PAYLOAD", "send-message", atts([{ name: "no url or data" }])],
    ["INVALID_PAYLOAD", "send-message", atts([{ url: "https://example.com/x", size: -1 }])],
    ["INVALID_PAYLOAD", "send-message", atts([{ url: "https://example.com/x", size: 1.5 }])],
    ["INVALID_PAYLOAD", "send-message", atts([{ url: "https://example.com/x", size: "10" }])],
    ["INVALID_PAYLOAD", "send-message", atts([{ url: "https://example.com/x", name: 5 }])],
    ["INVALID_PAYLOAD", "send-message", atts([{ url: "https://example.com/x", name: "n".repeat(256) }])],
    ["INVALID_PAYLOAD", "send-message", atts([{ name: "f.txt", type: "text/plain", data: "not binary" }])],
    ["INVALID_PAYLOAD", "send-message", atts([{ name: "f.txt", type: "text/plain", data: [1, 2, 3] }])],
    ["INVALID_PAYLOAD", "send-message", atts([{ type: "text/plain", data: Buffer.from("no name") }])],
    ["INVALID_PAYLOAD", "send-message", atts([{ url: "https://example.com/ok" }, { url: "javascript:void(0)" }])],
    // edit / delete
    ["INVALID_PAYLOAD", "edit-message"],
    ["INVALID_PAYLOAD", "edit-message", m1.id],
    ["INVALID_PAYLOAD", "edit-message", { messageId: 5, content: "x" }],
    ["INVALID_PAYLOAD", "edit-message", { messageId: "", content: "x" }],
    ["INVALID_PAYLOAD", "edit-message", { messageId: m1.id }],
    ["INVALID_PAYLOAD", "edit-message", { messageId: m1.id, content: "   " }],
    ["PAYLOAD_TOO_LARGE", "edit-message", { messageId: m1.id, content: long }],
    ["INVALID_PAYLOAD", "edit-message", { content: "no id" }],
    ["INVALID_PAYLOAD", "delete-message"],
    ["INVALID_PAYLOAD", "delete-message", 5],
    ["INVALID_PAYLOAD", "delete-message", ""],
    ["INVALID_PAYLOAD", "delete-message", { messageId: m1.id }],
    // mark-as-read
    ["INVALID_PAYLOAD", "mark-as-read"],
    ["INVALID_PAYLOAD", "mark-as-read", room],
    ["INVALID_PAYLOAD", "mark-as-read", { roomId: room }],
    ["INVALID_PAYLOAD", "mark-as-read", { roomId: room, messageIds: [] }],
    ["INVALID_PAYLOAD", "mark-as-read", { roomId: room, messageIds: m2.id }],
    ["INVALID_PAYLOAD", "mark-as-read", { roomId: room, messageIds: [m2.id, 5] }],
    ["INVALID_PAYLOAD", "mark-as-read", { roomId: room, messageIds: [""] }],
    ["INVALID_PAYLOAD", "mark-as-read", { roomId: room, messageIds: Array.from({ length: 501 }, () => m2.id) }],
    ["INVALID_PAYLOAD", "mark-as-read", { messageIds: [m2.id] }],
    // typing and presence
    ["INVALID_PAYLOAD", "typing-start"],
    ["INVALID_PAYLOAD", "typing-start", { roomId: room }],
    ["INVALID_PAYLOAD", "typing-stop", "bad room"],
    ["INVALID_PAYLOAD", "update-presence"],
    ["INVALID_PAYLOAD", "update-presence", "sleeping"],
    ["INVALID_PAYLOAD", "update-presence", "ONLINE"],
    ["INVALID_PAYLOAD", "update-presence", { status: "away" }],
    ["INVALID_PAYLOAD", "get-room-presence"],
    ["INVALID_PAYLOAD", "get-room-presence", 1],
    // history
    ["INVALID_PAYLOAD", "get-history"],
    ["INVALID_PAYLOAD", "get-history", room],
    ["INVALID_PAYLOAD", "get-history", { roomId: "bad room" }],
    ["INVALID_PAYLOAD", "get-history", { roomId: room, limit: 0 }],
    ["INVALID_PAYLOAD", "get-history", { roomId: room, limit: 101 }],
    ["INVALID_PAYLOAD", "get-history", { roomId: room, limit: -5 }],
    ["INVALID_PAYLOAD", "get-history", { roomId: room, limit: 2.5 }],
    ["INVALID_PAYLOAD", "get-history", { roomId: room, limit: "10" }],
    ["INVALID_PAYLOAD", "get-history", { roomId: room, before: m2.id, after: m1.id }],
    ["INVALID_PAYLOAD", "get-history", { roomId: room, before: 5 }],
    // FORBIDDEN: another user's message, another user's personal room
    ["FORBIDDEN", "edit-message", { messageId: b1.id, content: "not mine" }],
    ["FORBIDDEN", "delete-message", b1.id],
    ["FORBIDDEN", "join-room", `user:${sc.bob}`],
    ["FORBIDDEN", "get-history", { roomId: `user:${sc.bob}` }],
    ["FORBIDDEN", "get-room-presence", `user:${sc.bob}`],
    // NOT_IN_ROOM
    ["NOT_IN_ROOM", "send-message", { roomId: outside, content: "not a member" }],
    ["NOT_IN_ROOM", "send-message", { roomId: outside, content: "not a member", clientMsgId: "cid-outside" }],
    ["NOT_IN_ROOM", "edit-message", { messageId: o1.id, content: "x" }],
    ["NOT_IN_ROOM", "delete-message", o1.id],
    ["NOT_IN_ROOM", "mark-as-read", { roomId: outside, messageIds: [o1.id] }],
    ["NOT_IN_ROOM", "typing-start", outside],
    ["NOT_IN_ROOM", "typing-stop", outside],
    ["NOT_IN_ROOM", "leave-room", outside],
    // NOT_FOUND
    ["NOT_FOUND", "edit-message", { messageId: NO_SUCH_ID, content: "x" }],
    ["NOT_FOUND", "edit-message", { messageId: "not-an-id", content: "x" }],
    ["NOT_FOUND", "edit-message", { messageId: gone.id, content: "raise the dead" }],
    ["NOT_FOUND", "delete-message", NO_SUCH_ID],
    ["NOT_FOUND", "delete-message", gone.id],
    ["NOT_FOUND", "get-history", { roomId: room, before: NO_SUCH_ID }],
    ["NOT_FOUND", "get-history", { roomId: room, after: NO_SUCH_ID }],
    ["NOT_FOUND", "get-history", { roomId: room, before: o1.id }],
    ["NOT_FOUND", "get-history", { roomId: outside, after: m1.id }],
    ["NOT_FOUND", "mark-as-read", { roomId: room, messageIds: [NO_SUCH_ID] }],
    ["NOT_FOUND", "mark-as-read", { roomId: room, messageIds: ["zzzzzzzzzzzzzzzz"] }],
    ["NOT_FOUND", "mark-as-read", { roomId: room, messageIds: [m1.id, o1.id] }],
  ];
}

const show = (args) => JSON.stringify(args, (k, v) => (typeof v === "string" && v.length > 40 ? v.slice(0, 40) + "…" : v));

describe("every refusal, both ways (websocket/json)", () => {
  it("each refused event answers its code in the ack, and as an `error` event without one", async () => {
    const sc = await scene();
    const before = await snapshot(sc);
    const heardB = { newMessage: record(sc.b, "new-message"), edited: record(sc.b, "message-edited"),
      deleted: record(sc.b, "message-deleted"), read: record(sc.b, "messages-read"), typing: record(sc.b, "user-typing"),
      presence: record(sc.b, "presence-update") };
    const errorsAtA = record(sc.a, "error");
    for (const [code, event, ...args] of refusals(sc)) {
      const r = await ack(sc.a, event, ...args);
      assert.ok(r && r.ok === false && r.error, `${event} ${show(args)}: expected a refusal, got ${show(r)}`);
      assert.deepStrictEqual(Object.keys(r).sort(), ["error", "ok"], `${event} ${show(args)}: ack keys`);
      assert.deepStrictEqual(Object.keys(r.error).sort(), ["code", "message"], `${event}: error keys`);
      assert.equal(r.error.code, code, `${event} ${show(args)}: code (message: ${r.error.message})`);
      assert.equal(typeof r.error.message, "string");
      assert.ok(r.error.message.length > 0);
    }
    assert.equal(errorsAtA.length, 0, "a refusal with an ack sends no error event");
    for (const [code, event, ...args] of refusals(sc)) {
      const e = await expectErrorEvent(sc.a, code, event, ...args).catch((err) => {
        err.message = `${event} ${show(args)}: ${err.message}`;
        throw err;
      });
      assert.ok(e.message.length > 0);
    }
    assert.ok(sc.a.connected, "refused events never close the connection");
    const after = await snapshot(sc);
    assert.deepStrictEqual(after, before, "refused events changed nothing stored (history, read state)");
    await sleep(100);
    for (const [k, got] of Object.entries(heardB)) assert.deepStrictEqual(got, [], `refused events broadcast no ${k}`);
  });

  it("a success without an ack is silent, and takes effect", async () => {
    const room = uniq("silent");
    const a = await chatConnect(server, uniq("alice"));
    const errors = record(a, "error");
    a.emit("join-room", room);
    a.emit("typing-start", room);
    a.emit("typing-stop", room);
    a.emit("update-presence", "busy");
    a.emit("send-message", { roomId: room, content: "no ack here" });
    const h = await history(a, { roomId: room });
    assert.deepStrictEqual(h.messages.map((m) => m.content), ["no ack here"], "the join and the send happened in order");
    await assertQuiet(errors, "error events after successes without acks");
  });
});

describe("error delivery with both parsers", { concurrency: true }, () => {
  for (const combo of smallMatrix()) {
    it(`${combo.label}: ack and error event for INVALID_PAYLOAD, FORBIDDEN, NOT_IN_ROOM, NOT_FOUND`, async () => {
      const sc = await scene(combo);
      const cases = [
        ["INVALID_PAYLOAD", "send-message", { roomId: sc.room, content: "x", attachments: [{ url: "javascript:alert(1)" }] }],
        ["INVALID_PAYLOAD", "get-history", { roomId: sc.room, limit: 101 }],
        ["FORBIDDEN", "delete-message", sc.b1.id],
        ["NOT_IN_ROOM", "send-message", { roomId: sc.outside, content: "x" }],
        ["NOT_FOUND", "edit-message", { messageId: NO_SUCH_ID, content: "x" }],
      ];
      for (const [code, event, ...args] of cases) {
        await expectAckError(sc.a, code, event, ...args);
        await expectErrorEvent(sc.a, code, event, ...args);
      }
      // And a good event still works afterwards.
      const m = await send(sc.a, sc.room, "still here");
      assertMessage(m, { roomId: sc.room, userId: sc.alice, username: defaultName(sc.alice), content: "still here" });
    });
  }
});

describe("limits and rules (websocket/json)", () => {
  it(`more than --max-rooms-per-socket (${MAX_ROOMS}) rooms is FORBIDDEN; re-joining and the personal room do not count`, async () => {
    const sub = uniq("many");
    const s = await chatConnect(server, sub);
    const rooms = Array.from({ length: MAX_ROOMS + 1 }, () => uniq("r"));
    for (const r of rooms.slice(0, MAX_ROOMS)) await join(s, r);
    await expectAckError(s, "FORBIDDEN", "join-room", rooms[MAX_ROOMS]);
    await expectErrorEvent(s, "FORBIDDEN", "join-room", rooms[MAX_ROOMS]);
    await join(s, rooms[0]); // already in: a no-op, not a new room
    await expectAckError(s, "NOT_IN_ROOM", "send-message", { roomId: rooms[MAX_ROOMS], content: "x" });
    assert.deepStrictEqual(await ack(s, "leave-room", rooms[0]), { ok: true, roomId: rooms[0] });
    await join(s, rooms[MAX_ROOMS]);
    // Another socket of the same user has its own count.
    const s2 = await chatConnect(server, sub);
    await join(s2, rooms[0]);
  });

  it("content: 10,000 characters pass, 10,001 do not; escapes count as one; cleaning as documented", async () => {
    const room = uniq("content");
    const s = await chatConnect(server, uniq("writer"));
    await join(s, room);
    const cases = [
      ["x".repeat(10000), "x".repeat(10000)],
      ["é".repeat(10000), "é".repeat(10000)],
      [" " + "y".repeat(10000) + " \n", "y".repeat(10000)],
      ["<3".repeat(5000), "&lt;3".repeat(5000)],
      ["a < b > c & \"d\" 'e'", "a &lt; b &gt; c &amp; &#34;d&#34; &#39;e&#39;"],
      ["<script>alert(1)</script>hello <b>bold</b> <a href=\"javascript:x\">link</a>", "hello bold link"],
      ["line1\nline2\ttabbed\r\u0000\u0007\u001b[31m", "line1\nline2\ttabbed[31m"],
      ["héllo ✓ 😀 中文", "héllo ✓ 😀 中文"],
    ];
    for (const [input, want] of cases) {
      const m = await send(s, room, input);
      assert.equal(m.content, want, `content of ${show(input)}`);
    }
    await expectAckError(s, "PAYLOAD_TOO_LARGE", "send-message", { roomId: room, content: "x".repeat(10001) });
    await expectAckError(s, "PAYLOAD_TOO_LARGE", "send-message", { roomId: room, content: "<3".repeat(5000) + "!" });
  });

  it("--sanitize html escapes '&' even when the text looks like an entity (what was typed is what is shown)", async () => {
    // docs/events.md, Payloads: tags removed and < > & " ' escaped. "AT&amp;T" typed literally must not turn
    // into "AT&T" on screen, and "&lt;b&gt;" must not turn into "<b>".
    const room = uniq("amp");
    const s = await chatConnect(server, uniq("writer"));
    await join(s, room);
    assert.equal((await send(s, room, "AT&amp;T")).content, "AT&amp;amp;T");
    assert.equal((await send(s, room, "&lt;b&gt;")).content, "&amp;lt;b&amp;gt;");
  });

  it("an inline attachment with no bytes is refused or delivered as empty binary, never as a link", async () => {
    const room = uniq("empty-file");
    const s = await chatConnect(server, uniq("writer"));
    await join(s, room);
    const r = await ack(s, "send-message", { roomId: room, content: "empty file", attachments: [{ name: "empty.txt", type: "text/plain", data: Buffer.alloc(0) }] });
    if (r.ok === false) {
      assert.equal(r.error.code, "INVALID_PAYLOAD");
      return;
    }
    const [att] = r.message.attachments;
    assert.deepStrictEqual(Object.keys(att).sort(), ["data", "name", "type"], `inline attachment keys, got ${show(att)}`);
    assert.equal(Buffer.from(att.data).length, 0);
  });

  it("a send-message packet over max-payload closes that connection only and stores nothing", async () => {
    const room = uniq("huge");
    const sub = uniq("big");
    const [big, other] = await Promise.all([chatConnect(server, sub), chatConnect(server, uniq("reader"))]);
    await join(big, room);
    await join(other, room);
    const heard = record(other, "new-message");
    const gone = waitFor(big, "disconnect", 5000, "the oversized sender's disconnect");
    big.emit("send-message", { roomId: room, content: "too big", attachments: [{ name: "huge.bin", type: "x/y", data: Buffer.alloc(1_100_000, 1) }] });
    await gone;
    const ok = await send(other, room, "still fine");
    const h = await history(other, { roomId: room });
    assert.deepStrictEqual(h.messages.map((m) => m.id), [ok.id], "nothing of the oversized packet was stored");
    await sleep(100);
    assert.deepStrictEqual(heard.map(([m]) => m.content), ["still fine"]);
    // The user may connect again.
    const again = await chatConnect(server, sub);
    await join(again, room);
  });

  it("ten attachments (links and inline) are accepted; the packet limit still applies to the whole", async () => {
    const room = uniq("ten");
    const a = await chatConnect(server, uniq("writer"));
    const b = await chatConnect(server, uniq("reader"));
    await join(a, room);
    await join(b, room);
    const list = Array.from({ length: 10 }, (_, i) => (i % 2
      ? { url: `https://example.com/${i}?q=1#f`, name: `n${i}` }
      : { name: `f${i}.bin`, type: "application/octet-stream", data: Buffer.from([i, 255 - i]) }));
    const atB = waitFor(b, "new-message", WAIT_MS);
    const m = await send(a, room, "ten", { attachments: list });
    assert.equal(m.attachments.length, 10);
    const [got] = await atB;
    assert.equal(got.attachments.length, 10);
    for (let i = 0; i < 10; i++) {
      if (i % 2) assert.deepStrictEqual(got.attachments[i], list[i]);
      else assert.deepStrictEqual(Buffer.from(got.attachments[i].data), list[i].data);
    }
  });
});
