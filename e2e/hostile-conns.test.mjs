// Hostile clients: too many sessions from one address (--max-conns-per-ip, polling and
// WebSocket), too many in all (--max-conns), too many handshakes a minute (--rate-handshakes).
// Refusals of an address are told in the protocol (a refused session whose CONNECT gets a
// CONNECT_ERROR RATE_LIMITED); a full server answers HTTP 503 (docs/events.md).
// Source addresses of this file: 127.0.2.x.
import assert from "node:assert/strict";
import {
  hostileTest, honestRoom, connectUser, makeSocket, outcome, join, ackOk, pollOpen, pollClose,
  wsRefused, assertRefusal, until, uniq, tokenFor, pollRefusal, wsRefusal, assertConnectError,
} from "./lib/hostile.mjs";

hostileTest("6th polling session from one address: CONNECT_ERROR RATE_LIMITED; another address works; a freed slot is reused", async (ctx) => {
  const server = await ctx.start(["--max-conns-per-ip", "5"]);
  const room = await honestRoom(ctx, server, ["127.0.2.2", "127.0.2.3"]);
  const before = await room.snapshot();
  const ip = "127.0.2.10";
  const sids = [];
  for (let i = 0; i < 5; i++) {
    const r = await pollOpen(server, ip);
    assert.equal(r.status, 200, `handshake ${i + 1} of 5 from ${ip}: HTTP ${r.status} ${r.text}`);
    sids.push(r.sid);
  }
  assertConnectError(await pollRefusal(server, ip, { what: "6th polling handshake" }), "RATE_LIMITED", "6th polling handshake", { retryAfterMs: 5000, tolerance: 0 });
  assert.equal(await server.metric("edgeio_refusals_total", { reason: "conns_per_ip" }), 1, "conns_per_ip counted");
  // the refusal is per address
  const other = await pollOpen(server, "127.0.2.11");
  assert.equal(other.status, 200, `another address: HTTP ${other.status} ${other.text}`);
  await pollClose(server, "127.0.2.11", other.sid);
  // one of the five ends: its slot is free again
  await pollClose(server, ip, sids.shift());
  let again;
  await until(async () => (again = await pollOpen(server, ip)).status === 200 && !again.refused, 2000, `a new session from ${ip} after one closed (last: HTTP ${again && again.status} ${again && again.text})`);
  // and the address is full again
  assertConnectError(await pollRefusal(server, ip, { what: "6th again" }), "RATE_LIMITED", "6th again", { retryAfterMs: 5000 });
  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("too many polling sessions");
});

hostileTest("6th WebSocket session from one address: connect_error RATE_LIMITED; another address works; a freed slot is reused", async (ctx) => {
  const server = await ctx.start(["--max-conns-per-ip", "5"]);
  const room = await honestRoom(ctx, server, ["127.0.2.4", "127.0.2.5"]);
  const before = await room.snapshot();
  const ip = "127.0.2.12";
  const user = uniq("many");
  const five = [];
  for (let i = 0; i < 5; i++) {
    const s = await connectUser(ctx, server, user, ip);
    await join(s, room.roomId);
    five.push(s);
  }
  const sixth = makeSocket(ctx, server, { ip, token: "unused" });
  const o = await outcome(sixth);
  assert.equal(o.ok, false, "6th socket.io-client connection from one address is refused");
  assertConnectError(o.err, "RATE_LIMITED", "6th socket.io-client connection", { retryAfterMs: 5000 });
  sixth.close();
  // the refused session never counts as one of the address's: the raw one is refused too
  assertConnectError(await wsRefusal(ctx, server, ip), "RATE_LIMITED", "6th raw WebSocket", { retryAfterMs: 5000 });
  // another address is not affected
  const other = await connectUser(ctx, server, uniq("other"), "127.0.2.13");
  await ackOk(other, "get-room-presence", room.roomId);
  // the five still work
  for (const s of five) await ackOk(s, "get-room-presence", room.roomId);
  // one closes: a new connection from that address is accepted
  five.shift().close();
  await until(async () => {
    const s = makeSocket(ctx, server, { ip, token: tokenFor(user) });
    const r = await outcome(s);
    if (r.ok) five.push(s); else s.close();
    return r.ok;
  }, 2000, `a new WebSocket session from ${ip} after one closed`);
  await join(five.at(-1), room.roomId);
  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("too many WebSocket sessions");
});

hostileTest("--max-conns: the session over the global bound gets HTTP 503 UNAVAILABLE (a stock client retries by itself)", async (ctx) => {
  const server = await ctx.start(["--max-conns", "3"]);
  const room = await honestRoom(ctx, server, ["127.0.2.6", "127.0.2.7"]);
  const third = await pollOpen(server, "127.0.2.20");
  assert.equal(third.status, 200, `3rd session: HTTP ${third.status}`);
  const full = await pollOpen(server, "127.0.2.21");
  assertRefusal(full, 503, "max_conns", "4th session (polling)");
  assert.equal(full.json.data.code, "UNAVAILABLE", "a full server: UNAVAILABLE");
  assert.equal(full.headers["retry-after"], "1", "Retry-After");
  assertRefusal(await wsRefused(ctx, server, "127.0.2.21"), 503, "max_conns", "4th session (WebSocket)");
  assert.ok(await server.metric("edgeio_refusals_total", { reason: "max_conns" }) >= 2, "max_conns counted");
  await pollClose(server, "127.0.2.20", third.sid);
  let r;
  await until(async () => (r = await pollOpen(server, "127.0.2.21")).status === 200 && !r.refused, 2000, "a session after one closed");
  await room.check("a full server");
});

hostileTest("--rate-handshakes: the N+1th handshake in a minute from one address gets CONNECT_ERROR RATE_LIMITED with retryAfterMs", async (ctx) => {
  const server = await ctx.start(["--rate-handshakes", "5"]);
  const room = await honestRoom(ctx, server, ["127.0.2.8", "127.0.2.9"]);
  const before = await room.snapshot();
  const ip = "127.0.2.30";
  for (let i = 0; i < 5; i++) {
    const r = await pollOpen(server, ip);
    assert.equal(r.status, 200, `handshake ${i + 1} of 5: HTTP ${r.status} ${r.text}`);
    await pollClose(server, ip, r.sid); // closed: only the rate counts, not concurrency
  }
  // 5 a minute: the next token in 12 s
  assertConnectError(await pollRefusal(server, ip), "RATE_LIMITED", "6th polling handshake in a minute", { retryAfterMs: 12000, tolerance: 2000 });
  assertConnectError(await wsRefusal(ctx, server, ip), "RATE_LIMITED", "7th handshake (WebSocket) in a minute", { retryAfterMs: 12000, tolerance: 2000 });
  const sio = makeSocket(ctx, server, { ip, token: "unused" });
  const o = await outcome(sio);
  assert.equal(o.ok, false, "socket.io-client from that address is refused too");
  assertConnectError(o.err, "RATE_LIMITED", "socket.io-client", { retryAfterMs: 12000, tolerance: 2000 });
  sio.close();
  assert.ok(await server.metric("edgeio_refusals_total", { reason: "handshake_rate" }) >= 3, "handshake_rate counted");
  // other addresses have their own budget
  for (let i = 0; i < 5; i++) {
    const r = await pollOpen(server, "127.0.2.31");
    assert.equal(r.status, 200, `another address, handshake ${i + 1}: HTTP ${r.status}`);
    await pollClose(server, "127.0.2.31", r.sid);
  }
  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("a handshake flood");
});

hostileTest("X-Forwarded-For: ignored from an untrusted peer (no evading the per-address limit), believed from --trusted-proxies", async (ctx) => {
  const proxy = "127.0.2.40";
  const server = await ctx.start(["--max-conns-per-ip", "2", "--trusted-proxies", `${proxy}/32`]);
  const room = await honestRoom(ctx, server, ["127.0.2.14", "127.0.2.15"]);
  const before = await room.snapshot();
  // an attacker forging a new X-Forwarded-For for each session still counts as itself
  const ip = "127.0.2.41";
  const refused = [];
  for (let i = 0; i < 4; i++) refused.push((await pollOpen(server, ip, { headers: { "X-Forwarded-For": `198.51.100.${i + 1}` } })).refused);
  assert.deepStrictEqual(refused, [false, false, true, true], "a forged X-Forwarded-For does not open more sessions");
  assertConnectError(await wsRefusal(ctx, server, ip, { headers: { "X-Forwarded-For": "198.51.100.99" } }), "RATE_LIMITED", "forged X-Forwarded-For on WebSocket", { retryAfterMs: 5000 });
  // through the trusted proxy, each client address counts for itself
  const via = async (client) => (await pollOpen(server, proxy, { headers: { "X-Forwarded-For": client } })).refused;
  assert.deepStrictEqual([await via("203.0.113.1"), await via("203.0.113.1"), await via("203.0.113.1")], [false, false, true],
    "behind the proxy, one client address is limited");
  assert.equal(await via("203.0.113.2"), false, "behind the proxy, another client address has its own limit");
  // a client behind the proxy that forges an earlier hop is still the hop the proxy saw
  assert.equal(await via("198.51.100.7, 203.0.113.1"), true, "the nearest untrusted hop counts, not a forged earlier one");
  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("forged X-Forwarded-For");
});
