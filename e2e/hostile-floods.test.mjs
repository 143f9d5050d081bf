// Hostile clients: event floods (--rate-events, the flood cut-off after 100 refusals in a
// row) and message floods of one user over several sockets (--rate-messages).
// Source addresses of this file: 127.0.1.x.
import assert from "node:assert/strict";
import {
  hostileTest, honestRoom, connectUser, join, ack, ackOk, assertAckError, uniq, sleep, until, after as within,
} from "./lib/hostile.mjs";

/** Asserts `after` is `before` plus exactly the messages with `addedIds`, in order. */
function assertOnlyAdded(before, after, addedIds, what) {
  assert.deepStrictEqual(after.slice(0, before.length), before, `${what}: earlier history unchanged`);
  assert.deepStrictEqual(after.slice(before.length).map((m) => m.id).sort(), [...addedIds].sort(),
    `${what}: exactly the accepted messages were stored`);
}

function assertRateLimited(r, what) {
  assertAckError(r, "RATE_LIMITED", what);
  assert.equal(typeof r.error.retryAfterMs, "number", `${what}: retryAfterMs is a number (${JSON.stringify(r)})`);
  assert.ok(r.error.retryAfterMs > 0, `${what}: retryAfterMs > 0 (${JSON.stringify(r)})`);
}

hostileTest("event flood: RATE_LIMITED with retryAfterMs, connection stays open; a socket that keeps flooding is cut off", async (ctx) => {
  const server = await ctx.start(["--rate-events", "5", "--rate-events-burst", "10"]);
  const room = await honestRoom(ctx, server, ["127.0.1.2", "127.0.1.3"]);
  const attacker = await connectUser(ctx, server, uniq("flooder"), "127.0.1.4");
  await join(attacker, room.roomId);
  await sleep(300); // the burst refills after the joins
  const before = await room.snapshot();
  // what honest members see from the attacker
  const seenFromAttacker = [];
  room.members[1].on("new-message", (m) => { if (m.userId === attacker.user) seenFromAttacker.push(m.id); });

  // Phase 1: 40 acked send-message at once; the burst (10) passes, the rest is refused.
  const acks = await Promise.all(Array.from({ length: 40 }, (_, i) =>
    ack(attacker, "send-message", { roomId: room.roomId, content: `flood ${i}` })));
  const oks = acks.filter((r) => r && r.ok === true);
  const refused = acks.filter((r) => !(r && r.ok === true));
  assert.ok(oks.length >= 1 && oks.length <= 12, `about the burst (10) passes, got ${oks.length} ok`);
  assert.ok(refused.length >= 28, `the rest is refused, got ${refused.length}`);
  refused.forEach((r, i) => assertRateLimited(r, `flood refusal ${i}`));
  assert.ok(attacker.connected, "a rate-limited socket stays connected");
  assert.deepStrictEqual(attacker.disconnects, [], "no disconnect after one burst of refusals");
  // the refused events changed nothing stored: only the accepted ones are there
  const afterPhase1 = await room.snapshot();
  assertOnlyAdded(before, afterPhase1, oks.map((r) => r.message.id), "after the burst");
  await room.check("an event flood");
  const base2 = await room.snapshot();

  // The limit lifts: after retryAfterMs the same socket is served again.
  const wait = Math.max(...refused.map((r) => r.error.retryAfterMs));
  assert.ok(wait <= 1000, `retryAfterMs is about one token at 5/s, got ${wait}`);
  await sleep(wait + 50);
  await ackOk(attacker, "get-room-presence", room.roomId);

  // Phase 2: keep flooding (no acks): refusals arrive as `error` events, and the 100th
  // refusal in a row disconnects the socket. 150 events: enough for 100 refusals in a row.
  // (A flooder that is still writing when the server closes may get a TCP reset instead,
  // which discards what it had not read yet: then it sees "transport close" only.)
  const errors = [];
  attacker.on("error", (e) => errors.push(e));
  const flood = seenFromAttacker.length;
  const disconnected = new Promise((resolve) => attacker.once("disconnect", (reason) => resolve(reason)));
  for (let i = 0; i < 150 && attacker.connected; i++) {
    attacker.emit("send-message", { roomId: room.roomId, content: `flood again ${i}` });
  }
  const reason = await Promise.race([disconnected, within(3000, "still connected after 3 s")]);
  assert.ok(["io server disconnect", "transport close"].includes(reason), `flooder disconnected by the server, got ${reason}`);
  if (reason === "io server disconnect") {
    assert.ok(errors.length >= 90, `refusals arrived as error events before the cut-off (${errors.length})`);
    assert.match(errors.at(-1).message, /disconnected/, `the refusal that cut the socket off says so: ${JSON.stringify(errors.at(-1))}`);
  }
  for (const e of errors) {
    assert.equal(e.code, "RATE_LIMITED", `error event code: ${JSON.stringify(e)}`);
    assert.ok(e.retryAfterMs > 0, `error event retryAfterMs: ${JSON.stringify(e)}`);
  }
  await until(async () => !attacker.connected, 1000, "the flooder's disconnect");
  assert.ok(await server.metric("edgeio_refusals_total", { reason: "flood_disconnect" }) >= 1, "flood_disconnect counted");
  assert.ok(await server.metric("edgeio_refusals_total", { reason: "event_rate" }) >= 28 + 100, "event_rate refusals counted");

  // Nothing refused was stored: the history grew only by what the room saw from the flooder.
  await sleep(200);
  const after = await room.snapshot();
  const accepted2 = seenFromAttacker.slice(flood);
  assert.ok(accepted2.length <= 12, `at most a burst of phase 2 was accepted (${accepted2.length})`);
  assertOnlyAdded(base2, after, accepted2, "after the flood");
  await room.check("a flood that was cut off");
});

hostileTest("message flood of one user over two sockets: RATE_LIMITED per user, other events and users unaffected", async (ctx) => {
  const server = await ctx.start(["--rate-messages", "10"]);
  const room = await honestRoom(ctx, server, ["127.0.1.5", "127.0.1.6"]);
  const spammer = uniq("spammer");
  const a = await connectUser(ctx, server, spammer, "127.0.1.7");
  const b = await connectUser(ctx, server, spammer, "127.0.1.8");
  await join(a, room.roomId);
  await join(b, room.roomId);
  const before = await room.snapshot();

  const results = [];
  for (let i = 0; i < 14; i++) {
    const s = i % 2 === 0 ? a : b;
    results.push(await ack(s, "send-message", { roomId: room.roomId, content: `spam ${i}` }));
  }
  const oks = results.filter((r) => r && r.ok === true);
  assert.equal(oks.length, 10, `10 messages a minute for the user across both sockets: ${JSON.stringify(results.map((r) => r.ok))}`);
  assert.ok(results.slice(0, 10).every((r) => r.ok === true), "the first 10 pass");
  results.slice(10).forEach((r, i) => {
    assertRateLimited(r, `message ${10 + i}`);
    assert.ok(r.error.retryAfterMs <= 60000, `retryAfterMs within the minute: ${r.error.retryAfterMs}`);
  });
  // a third socket of the same user, from yet another address, shares the budget
  const c = await connectUser(ctx, server, spammer, "127.0.1.9");
  await join(c, room.roomId);
  assertRateLimited(await ack(c, "send-message", { roomId: room.roomId, content: "spam from c" }), "third socket");

  for (const s of [a, b, c]) {
    assert.ok(s.connected, "rate-limited sockets stay connected");
    await ackOk(s, "get-room-presence", room.roomId); // other events still served
  }
  const after = await room.snapshot();
  assertOnlyAdded(before, after, oks.map((r) => r.message.id), "after the message flood");
  await room.check("a message flood");
  assert.deepStrictEqual([...a.disconnects, ...b.disconnects, ...c.disconnects], []);
});
