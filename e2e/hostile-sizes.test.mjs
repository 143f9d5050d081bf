// Hostile clients: oversized WebSocket frames and polling bodies (--max-payload), too many
// binary attachments, too many rooms per socket (--max-rooms-per-socket).
// Source addresses of this file: 127.0.5.x.
import assert from "node:assert/strict";
import net from "node:net";
import {
  hostileTest, honestRoom, connectUser, rawSocketIO, join, ack, ackOk, assertAckError, pollOpen,
  pollUrl, request, uniq, tokenFor, waitForMatch, after, sleep, storedHistory,
} from "./lib/hostile.mjs";

const MAX = 10000;

hostileTest("WebSocket frame over --max-payload: that connection is closed (1009), the others are fine", async (ctx) => {
  const server = await ctx.start(["--max-payload", String(MAX)]);
  const room = await honestRoom(ctx, server, ["127.0.5.2", "127.0.5.3"]);
  const ip = "127.0.5.10";
  const token = tokenFor(uniq("big"));
  const raw = await rawSocketIO(ctx, server, { ip, token });
  assert.equal(raw.handshake.maxPayload, MAX, "the handshake announces maxPayload");
  assert.equal((await raw.emit("join-room", room.roomId)).ok, true, "raw client joins");
  // a second connection from the same address, which must survive
  const sibling = await connectUser(ctx, server, uniq("sibling"), ip);
  await join(sibling, room.roomId);
  // just under the limit passes
  const near = await raw.emit("send-message", { roomId: room.roomId, content: "n".repeat(MAX - 200) });
  assert.equal(near.ok, true, `a frame just under maxPayload is served: ${JSON.stringify(near).slice(0, 200)}`);
  const before = await room.snapshot();

  const frame = `42${JSON.stringify(["send-message", { roomId: room.roomId, content: "x".repeat(2 * MAX) }])}`;
  assert.ok(frame.length > MAX);
  raw.send(frame);
  const closed = await raw.closedWithin(3000);
  assert.ok(closed, "the connection that sent the oversized frame is closed");
  assert.equal(closed.code, 1009, `close code 1009 (message too big), got ${closed.code} ${closed.reason}`);

  assert.ok(sibling.connected, "another connection of the same address is not affected");
  await ackOk(sibling, "get-room-presence", room.roomId);
  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("an oversized frame");
});

hostileTest("a stock client's emit over --max-payload: its connection ends with a reason the client can read (1009 'message too big' on WebSocket, HTTP 413 on polling)", async (ctx) => {
  const server = await ctx.start(["--max-payload", String(MAX)]);
  const room = await honestRoom(ctx, server, ["127.0.5.6", "127.0.5.7"]);
  const before = await room.snapshot();
  for (const [transports, ip] of [[["websocket"], "127.0.5.13"], [["polling"], "127.0.5.14"]]) {
    const s = await connectUser(ctx, server, uniq("big"), ip, { transports });
    await join(s, room.roomId);
    const gone = new Promise((resolve) => s.once("disconnect", (reason, details) => resolve({ reason, details })));
    s.emit("send-message", { roomId: room.roomId, content: "x".repeat(2 * MAX) });
    const { reason, details } = await Promise.race([gone, after(3000, { reason: "still connected after 3 s" })]);
    if (transports[0] === "websocket") {
      assert.equal(reason, "transport close", "WebSocket: the disconnect reason");
      assert.equal(details.context.code, 1009, `WebSocket: the close code the client sees: ${details.context.code}`);
      assert.equal(String(details.context.reason), "message too big", "WebSocket: the close reason the client sees");
    } else {
      assert.equal(reason, "transport error", "polling: the disconnect reason");
      assert.equal(details.description, 413, `polling: the HTTP status the client sees: ${details.description}`);
    }
  }
  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("oversized emits from stock clients");
});

hostileTest("polling body over --max-payload: HTTP 413 (Content-Length and chunked); the server and other sessions are fine", async (ctx) => {
  const server = await ctx.start(["--max-payload", String(MAX)]);
  const room = await honestRoom(ctx, server, ["127.0.5.4", "127.0.5.5"]);
  const before = await room.snapshot();
  const ip = "127.0.5.11";
  const s = await pollOpen(server, ip);
  assert.equal(s.status, 200);
  const big = `42${JSON.stringify(["send-message", { roomId: room.roomId, content: "y".repeat(2 * MAX) }])}`;
  const r = await request(pollUrl(server, { sid: s.sid }), { ip, method: "POST", body: big, headers: { "Content-Type": "text/plain" } });
  assert.equal(r.status, 413, `oversized polling body: HTTP ${r.status} ${r.text}`);

  // the same without a Content-Length: a chunked body that grows past the limit
  const s2 = await pollOpen(server, ip);
  const status = await new Promise((resolve, reject) => {
    const sock = net.connect({ host: "127.0.0.1", port: server.port, localAddress: ip });
    ctx.track({ close: () => sock.destroy() });
    let got = "";
    sock.on("data", (c) => { got += c; const m = /^HTTP\/1\.1 (\d+)/.exec(got); if (m) { resolve(Number(m[1])); sock.destroy(); } });
    sock.on("error", () => {});
    sock.on("close", () => resolve(got ? got.slice(0, 60) : "closed without an answer"));
    const u = new URL(pollUrl(server, { sid: s2.sid }));
    sock.write(`POST ${u.pathname}${u.search} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n`);
    const chunk = "z".repeat(4000);
    let n = 0;
    const more = () => {
      if (sock.destroyed || n++ >= 10) return sock.destroyed || sock.write("0\r\n\r\n");
      sock.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`, () => setTimeout(more, 5));
    };
    more();
    setTimeout(() => reject(new Error("no answer to a chunked oversized body within 5 s")), 5000).unref();
  });
  assert.equal(status, 413, `oversized chunked polling body: ${status}`);

  // a body under the limit still works on a fresh session
  const s3 = await pollOpen(server, "127.0.5.12");
  const ok = await request(pollUrl(server, { sid: s3.sid }), {
    ip: "127.0.5.12", method: "POST", body: `40${JSON.stringify({ token: tokenFor(uniq("p")) })}`, headers: { "Content-Type": "text/plain" },
  });
  assert.equal(ok.status, 200, `a normal polling body: ${ok.status} ${ok.text}`);
  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("oversized polling bodies");
});

hostileTest("attachments: 10 binary pass; 11 links are INVALID_PAYLOAD; a packet announcing 11 binary attachments closes that connection", async (ctx) => {
  const server = await ctx.start([]);
  const room = await honestRoom(ctx, server, ["127.0.5.6", "127.0.5.7"]);
  const ip = "127.0.5.13";
  const sender = await connectUser(ctx, server, uniq("att"), ip);
  await join(sender, room.roomId);

  // the limit itself: 10 inline binary attachments are fine and arrive as binary
  const ten = Array.from({ length: 10 }, (_, i) => ({ name: `f${i}.bin`, type: "application/octet-stream", data: Buffer.from([i, i, i]) }));
  const got = waitForMatch(room.members[0], "new-message", (m) => m && m.content === "ten files", 2000, "10 attachments");
  const okTen = await ackOk(sender, "send-message", { roomId: room.roomId, content: "ten files", attachments: ten });
  assert.equal(okTen.message.attachments.length, 10);
  const [delivered] = await got;
  assert.equal(delivered.attachments.length, 10, "10 attachments delivered");
  assert.ok(Buffer.from(delivered.attachments[9].data).equals(Buffer.from([9, 9, 9])), "binary attachment delivered as bytes");
  const before = await room.snapshot();

  // 11 links: a bad event argument — INVALID_PAYLOAD, the connection stays
  const links = Array.from({ length: 11 }, (_, i) => ({ url: `https://example.com/${i}` }));
  assertAckError(await ack(sender, "send-message", { roomId: room.roomId, content: "eleven links", attachments: links }), "INVALID_PAYLOAD", "11 links");
  assert.ok(sender.connected, "INVALID_PAYLOAD leaves the connection open");
  await ackOk(sender, "get-room-presence", room.roomId);

  // 11 binary attachments: the packet header `51 1-` (type 5, 11 attachments) is malformed for
  // the parser (more than 10), so that session is closed, from a raw client...
  const raw = await rawSocketIO(ctx, server, { ip, token: tokenFor(uniq("raw")) });
  assert.equal((await raw.emit("join-room", room.roomId)).ok, true);
  const placeholders = Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, type: "x", data: { _placeholder: true, num: i } }));
  raw.send(`511-7${JSON.stringify(["send-message", { roomId: room.roomId, content: "eleven files", attachments: placeholders }])}`);
  for (let i = 0; i < 11 && raw.isOpen; i++) raw.send(Buffer.from([i]));
  const closed = await raw.closedWithin(3000);
  assert.ok(closed, "the raw connection announcing 11 attachments is closed");
  // ...and from the stock client
  const eleven = Array.from({ length: 11 }, (_, i) => ({ name: `f${i}.bin`, type: "application/octet-stream", data: Buffer.from([i]) }));
  const reason = new Promise((r) => sender.once("disconnect", r));
  sender.emit("send-message", { roomId: room.roomId, content: "eleven files", attachments: eleven }, () => {});
  const r = await Promise.race([reason, after(3000, "still connected after 3 s")]);
  assert.equal(r, "transport close", `socket.io-client that sent 11 attachments is cut off: ${r}`);

  await sleep(100);
  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("too many attachments");
});

hostileTest("--max-rooms-per-socket 3: the 4th join is FORBIDDEN, per socket", async (ctx) => {
  const server = await ctx.start(["--max-rooms-per-socket", "3"]);
  const room = await honestRoom(ctx, server, ["127.0.5.8", "127.0.5.9"]);
  const before = await room.snapshot();
  const user = uniq("roomer");
  const s = await connectUser(ctx, server, user, "127.0.5.14");
  const rooms = [room.roomId, uniq("r2"), uniq("r3")];
  for (const r of rooms) await join(s, r);
  const fourth = uniq("r4");
  assertAckError(await ack(s, "join-room", fourth), "FORBIDDEN", "4th room");
  assertAckError(await ack(s, "join-room", uniq("r5")), "FORBIDDEN", "5th room");
  await join(s, rooms[0]); // joining a room it is in is not a new room
  assert.ok(s.connected, "FORBIDDEN leaves the connection open");
  const presence = await ackOk(s, "get-room-presence", fourth);
  assert.ok(!presence.users.some((u) => u.userId === user), "the refused join did not join");
  await ackOk(s, "leave-room", rooms[2]);
  await join(s, fourth); // a freed slot is usable
  // the bound is per socket: the same user's other socket has its own
  const s2 = await connectUser(ctx, server, user, "127.0.5.15");
  for (const r of [uniq("a"), uniq("b"), uniq("c")]) await join(s2, r);
  assertAckError(await ack(s2, "join-room", uniq("d")), "FORBIDDEN", "4th room of the second socket");
  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("too many rooms");
});

hostileTest("a history page of maximal messages reaches a client that reads it (the slow-client bound must not cut it off)", async (ctx) => {
  // default limits, spelled out: the attack stays inside every one of them
  const server = await ctx.start(["--rate-messages", "30", "--rate-events", "20", "--rate-events-burst", "50"]);
  const room = await honestRoom(ctx, server, ["127.0.5.20", "127.0.5.21"]);
  // four users post 25 messages each of 10,000 '&' (the longest content; 5 bytes each once
  // escaped as &amp;): a page of 100 is about 5 MB, more than --max-buffered (4 MiB)
  await Promise.all([22, 23, 24, 25].map(async (n) => {
    const s = await connectUser(ctx, server, uniq("poster"), `127.0.5.${n}`);
    await join(s, room.roomId);
    for (let i = 0; i < 25; i++) await ackOk(s, "send-message", { roomId: room.roomId, content: "&".repeat(10000) });
  }));
  const reader = await connectUser(ctx, server, uniq("reader"), "127.0.5.26");
  let r;
  try {
    r = await ack(reader, "get-history", { roomId: room.roomId, limit: 100 });
  } catch (err) {
    const closes = await server.metric("edgeio_session_closes_total", { reason: "slow consumer" });
    assert.fail(`get-history (limit 100) of a reading client failed: ${err.message}; disconnects ${JSON.stringify(reader.disconnects.map((d) => d.reason))}; session closes 'slow consumer': ${closes}`);
  }
  assert.equal(r.ok, true, "get-history ok");
  // --history-max-bytes (1 MB) cuts the page at about 19 of these; hasMore pages on
  assert.ok(r.messages.length >= 1 && r.messages.length < 100 && r.hasMore === true,
    `a page of ${r.messages.length} messages under the byte budget, hasMore ${r.hasMore}`);
  assert.equal((await storedHistory(reader, room.roomId)).length, 100, "paging on reaches every message");
  assert.ok(reader.connected, "the reader is still connected");
  await room.check("a history of maximal messages");
}, { timeout: 30000 });
