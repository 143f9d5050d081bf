// Hostile clients: authentication failures that earn a ban (--auth-fail-limit, the admin
// listener's /admin/bans), and a denylist re-read on SIGHUP (--ip-denylist). A banned or
// denied address's handshakes are refused in the protocol: CONNECT_ERROR BANNED (with
// retryAfterMs) or FORBIDDEN.
// Source addresses of this file: 127.0.3.x, and 127.0.0.9 / 127.0.0.10 / 127.0.0.11.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  hostileTest, honestRoom, connectUser, makeSocket, outcome, refusedUser, join, ackOk, pollOpen,
  pollClose, request, until, uniq, tokenFor, badToken, after, RawWs, pollRefusal, wsRefusal, assertConnectError,
} from "./lib/hostile.mjs";

const ADMIN_TOKEN = "hostile-admin-" + Math.random().toString(36).slice(2);

/**
 * Records what an open socket.io-client socket hears when the server expels it: the `error`
 * events, then the disconnect. Call it before the expulsion.
 */
function watchExpulsion(socket) {
  const seen = { errors: [], disconnect: null };
  socket.on("error", (e) => { if (!seen.disconnect) seen.errors.push(e); });
  seen.done = new Promise((resolve) => socket.once("disconnect", (reason) => { seen.disconnect = reason; resolve(); }));
  return seen;
}

/**
 * Asserts the socket learnt why it was expelled: an `error` event { code: "BANNED", message }
 * (with retryAfterMs for a ban that ends) and then "io server disconnect", so that the stock
 * client does not reconnect by itself.
 */
async function assertExpelled(seen, ms, what, { message, retryAfterMs } = {}) {
  await Promise.race([seen.done, after(ms)]);
  assert.equal(seen.disconnect, "io server disconnect", `${what}: the disconnect reason (errors before it: ${JSON.stringify(seen.errors)})`);
  assert.equal(seen.errors.length, 1, `${what}: one error event before the disconnect: ${JSON.stringify(seen.errors)}`);
  const e = seen.errors[0];
  assert.equal(e.code, "BANNED", `${what}: error code`);
  if (message) assert.match(e.message, message, `${what}: error message`);
  if (retryAfterMs === undefined) assert.equal(e.retryAfterMs, undefined, `${what}: no retryAfterMs for a ban without an end`);
  else assert.ok(Math.abs(e.retryAfterMs - retryAfterMs) < 1000, `${what}: retryAfterMs ${e.retryAfterMs}, want about ${retryAfterMs}`);
}

/** A connect_error within a second; resolves with it. */
async function refusedFast(ctx, server, ip, token, transports, what) {
  const s = makeSocket(ctx, server, { ip, token, transports });
  const started = Date.now();
  const o = await Promise.race([outcome(s), after(1000, { timeout: true })]);
  const ms = Date.now() - started;
  s.close();
  assert.ok(!o.timeout, `${what}: no connect_error within 1 s (the client would hang)`);
  assert.equal(o.ok, false, `${what}: refused`);
  return { err: o.err, ms };
}

for (const transports of [["websocket"], ["polling"]]) {
  hostileTest(`exactly --auth-fail-limit failures over ${transports[0]}: every one, the last included, gets its connect_error within a second`, async (ctx) => {
    const limit = 10;
    const server = await ctx.start(["--auth-fail-limit", String(limit), "--auth-fail-window", "1m", "--auth-ban", "10m"]);
    const ip = transports[0] === "websocket" ? "127.0.3.30" : "127.0.3.31";
    const open = await connectUser(ctx, server, uniq("neighbour"), ip, { transports });
    const expelled = watchExpulsion(open);
    for (let i = 1; i <= limit; i++) {
      // one expired token among them: every failure counts, whatever its code
      const expired = i === 4;
      const token = expired ? tokenFor(uniq("late"), { ttl: -3600 }) : badToken(uniq("mallory"));
      const { err, ms } = await refusedFast(ctx, server, ip, token, transports, `failure ${i} of ${limit}`);
      assert.equal(err.message, "unauthorized", `failure ${i}: connect_error message`);
      const want = i === limit ? "BANNED" : expired ? "TOKEN_EXPIRED" : "UNAUTHORIZED";
      assert.equal(err.data && err.data.code, want, `failure ${i}: connect_error data.code (${ms} ms)`);
      if (i === limit) {
        assert.ok(Math.abs(err.data.retryAfterMs - 600000) < 1000, `the ban's connect_error says how long it lasts: ${JSON.stringify(err.data)}`);
      } else {
        assert.ok(open.connected, `${i} failures do not ban yet`);
      }
    }
    await assertExpelled(expelled, 2000, "the open session of the banned address", { message: /failed authentications/, retryAfterMs: 600000 });
    // the open session and the banning one at least; a refused polling session the client has
    // just closed may still be counted, its close POST racing the ban
    const logged = new RegExp(`${ip.replace(/\./g, "\\.")} banned for failed authentications; (\\d+) sessions closed`);
    await until(() => logged.test(server.logs()), 2000, "the ban in the log");
    const closed = Number(logged.exec(server.logs())[1]);
    assert.ok(closed >= 2, `the ban closed the open session and the banning one (${closed} logged)`);
    const afterBan = makeSocket(ctx, server, { ip, token: badToken(uniq("m")), transports });
    const o = await outcome(afterBan);
    assert.equal(o.ok, false, "a handshake after the ban is refused");
    assertConnectError(o.err, "BANNED", "socket.io-client after the ban", { retryAfterMs: 600000, tolerance: 10000 });
    assertConnectError(await pollRefusal(server, ip), "BANNED", "a polling handshake after the ban", { retryAfterMs: 600000, tolerance: 10000 });
  });
}

hostileTest("10 bad tokens then a good one: the address is banned (CONNECT_ERROR BANNED), its open session closed; admin lists and lifts the ban", async (ctx) => {
  const server = await ctx.start([
    "--auth-fail-limit", "10", "--auth-fail-window", "1m", "--auth-ban", "10m", "--admin-token", ADMIN_TOKEN,
  ]);
  const room = await honestRoom(ctx, server, ["127.0.3.2", "127.0.3.3"]);
  const ip = "127.0.3.10";
  const victimUser = uniq("victim");
  // a session of that address that was open before the attack
  const open = await connectUser(ctx, server, victimUser, ip);
  await join(open, room.roomId);
  const expelled = watchExpulsion(open);
  const before = await room.snapshot();

  for (let i = 1; i <= 9; i++) {
    const err = await refusedUser(ctx, server, ip, { token: badToken(uniq("mallory")) });
    assert.equal(err.message, "unauthorized", `bad token ${i}: connect_error message`);
    assert.equal(err.data && err.data.code, "UNAUTHORIZED", `bad token ${i}: connect_error data.code`);
  }
  assert.ok(open.connected, "9 failures do not ban yet: the open session is still there");
  await ackOk(open, "get-room-presence", room.roomId);
  // the 10th failure bans, and is answered like the others before its session closes
  const tenth = await refusedUser(ctx, server, ip, { token: badToken(uniq("mallory")) });
  assert.equal(tenth.data && tenth.data.code, "BANNED", "10th bad token: connect_error BANNED");

  await assertExpelled(expelled, 2000, "the open session of the banned address", { message: /failed authentications/, retryAfterMs: 600000 });
  assert.ok(await server.metric("edgeio_session_closes_total", { reason: "banned" }) >= 1, "session close 'banned' counted");

  // the good token from the banned address: BANNED on polling and WebSocket, with the time left
  const ban10m = { retryAfterMs: 600000, tolerance: 10000 };
  assertConnectError(await pollRefusal(server, ip), "BANNED", "polling handshake of a banned address", ban10m);
  assertConnectError(await wsRefusal(ctx, server, ip), "BANNED", "WebSocket handshake of a banned address", ban10m);
  const good = makeSocket(ctx, server, { ip, token: tokenFor(victimUser) });
  const goodOutcome = await outcome(good);
  assert.equal(goodOutcome.ok, false, "a good token from the banned address is refused");
  assertConnectError(goodOutcome.err, "BANNED", "socket.io-client from the banned address", ban10m);
  good.close();
  // another address is unaffected
  const other = await connectUser(ctx, server, uniq("bystander"), "127.0.3.11");
  await ackOk(other, "get-room-presence", room.roomId);
  assert.ok(await server.metric("edgeio_refusals_total", { reason: "auth_UNAUTHORIZED" }) >= 10, "auth failures counted");
  assert.equal(await server.metric("edgeio_refusals_total", { reason: "banned_now" }), 1, "one ban counted");
  assert.ok(await server.metric("edgeio_refusals_total", { reason: "banned" }) >= 3, "banned refusals counted");

  // the admin listener
  const bearer = { Authorization: `Bearer ${ADMIN_TOKEN}` };
  const list = await server.admin("/admin/bans", { headers: bearer });
  assert.equal(list.status, 200, `GET /admin/bans: ${list.status} ${list.text}`);
  assert.ok(Array.isArray(list.json), `ban list is a JSON array: ${list.text}`);
  const ban = list.json.find((b) => b.address === ip);
  assert.ok(ban, `ban list names ${ip}: ${list.text}`);
  const until_ = Date.parse(ban.until);
  assert.ok(until_ > Date.now() + 9 * 60e3 && until_ < Date.now() + 11 * 60e3, `ban lasts --auth-ban (10m): ${ban.until}`);
  assert.ok(!list.json.some((b) => b.address === "127.0.3.11" || b.address === "127.0.3.2"), "nobody else is banned");
  assert.equal((await server.admin("/admin/bans")).status, 401, "GET /admin/bans without the token");
  assert.equal((await server.admin("/admin/bans", { headers: { Authorization: "Bearer wrong" } })).status, 401, "GET with a wrong token");
  assert.equal((await server.admin(`/admin/bans?address=${ip}`, { method: "DELETE" })).status, 401, "DELETE without the token");
  assertConnectError(await pollRefusal(server, ip), "BANNED", "still banned after a refused DELETE", ban10m);
  // the ban is not on the client port
  const onClientPort = await request(`${server.url}/admin/bans`, { ip: "127.0.3.12", headers: bearer });
  assert.notEqual(onClientPort.status, 200, "no /admin/bans on the client listener");

  const lift = await server.admin(`/admin/bans?address=${ip}`, { method: "DELETE", headers: bearer });
  assert.equal(lift.status, 204, `DELETE /admin/bans?address=${ip}: ${lift.status} ${lift.text}`);
  assert.ok(!(await server.admin("/admin/bans", { headers: bearer })).json.some((b) => b.address === ip), "the ban is gone from the list");
  assert.equal((await server.admin(`/admin/bans?address=${ip}`, { method: "DELETE", headers: bearer })).status, 404, "lifting it again: 404");
  const back = await connectUser(ctx, server, victimUser, ip);
  await join(back, room.roomId);
  await ackOk(back, "get-room-presence", room.roomId);

  // an operator's ban: POST /admin/bans expels the address's sessions, who learn why
  const backExpelled = watchExpulsion(back);
  assert.equal((await server.admin(`/admin/bans?address=${ip}`, { method: "POST" })).status, 401, "POST without the token");
  assert.ok(back.connected, "a refused POST bans nobody");
  for (const bad of ["address=nonsense", `address=${ip}&for=soon`, `address=${ip}&for=-1m`]) {
    const r = await server.admin(`/admin/bans?${bad}`, { method: "POST", headers: bearer });
    assert.equal(r.status, 400, `POST /admin/bans?${bad}: ${r.status} ${r.text}`);
  }
  const banned = await server.admin(`/admin/bans?address=${ip}&for=2m`, { method: "POST", headers: bearer });
  assert.equal(banned.status, 200, `POST /admin/bans: ${banned.status} ${banned.text}`);
  assert.equal(banned.json.address, ip);
  assert.equal(banned.json.closed, 1, `one session closed: ${banned.text}`);
  await assertExpelled(backExpelled, 2000, "the session of an address the operator bans", { message: /by the operator/, retryAfterMs: 120000 });
  assertConnectError(await pollRefusal(server, ip), "BANNED", "handshake after the operator's ban", { retryAfterMs: 120000, tolerance: 5000 });
  const opBan = (await server.admin("/admin/bans", { headers: bearer })).json.find((b) => b.address === ip);
  assert.ok(opBan && Math.abs(Date.parse(opBan.until) - Date.now() - 120000) < 5000, `the operator's ban is listed for 2m: ${JSON.stringify(opBan)}`);
  assert.equal((await server.admin(`/admin/bans?address=${ip}`, { method: "DELETE", headers: bearer })).status, 204, "lift the operator's ban");
  const again = await connectUser(ctx, server, victimUser, ip);
  await join(again, room.roomId);

  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("a ban", { n: 2 });
});

hostileTest("denylist: CONNECT_ERROR FORBIDDEN for listed addresses; SIGHUP adds one and closes its session; a broken file keeps the old list", async (ctx) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "edgeio-denylist-"));
  ctx.track({ close: () => rmSync(dir, { recursive: true, force: true }) });
  const file = path.join(dir, "deny.txt");
  writeFileSync(file, "# refused\n127.0.0.9\n\n127.0.3.64/28   # a network\n");
  const server = await ctx.start(["--ip-denylist", file]);
  const room = await honestRoom(ctx, server, ["127.0.3.4", "127.0.3.5"]);

  // listed: an address, and an address inside a listed network
  for (const ip of ["127.0.0.9", "127.0.3.70"]) {
    assertConnectError(await pollRefusal(server, ip), "FORBIDDEN", `polling handshake from ${ip}`);
    assertConnectError(await wsRefusal(ctx, server, ip), "FORBIDDEN", `WebSocket handshake from ${ip}`);
  }
  const sio = makeSocket(ctx, server, { ip: "127.0.0.9", token: tokenFor(uniq("denied")) });
  const sioOutcome = await outcome(sio);
  assert.equal(sioOutcome.ok, false, "socket.io-client from 127.0.0.9 is refused");
  assertConnectError(sioOutcome.err, "FORBIDDEN", "socket.io-client from 127.0.0.9");
  sio.close();

  // 127.0.0.10 is not listed yet: it has a WebSocket and a polling session in the room
  const user10 = uniq("ten");
  const ws10 = await connectUser(ctx, server, user10, "127.0.0.10");
  await join(ws10, room.roomId);
  const poll10 = await connectUser(ctx, server, user10, "127.0.0.10", { transports: ["polling"] });
  await join(poll10, room.roomId);
  const expelled = { ws: watchExpulsion(ws10), poll: watchExpulsion(poll10) };
  const before = await room.snapshot();

  writeFileSync(file, "# refused\n127.0.0.9\n127.0.0.10\n127.0.3.64/28\n");
  server.proc.kill("SIGHUP");
  await assertExpelled(expelled.ws, 2000, "the WebSocket session of the newly denied address", { message: /denied/ });
  await assertExpelled(expelled.poll, 3000, "the polling session of the newly denied address", { message: /denied/ });
  assertConnectError(await pollRefusal(server, "127.0.0.10"), "FORBIDDEN", "127.0.0.10 after the reload");
  assertConnectError(await pollRefusal(server, "127.0.0.9"), "FORBIDDEN", "127.0.0.9 after the reload");
  await until(() => /denylist reloaded/.test(server.logs()), 2000, "the reload in the log");
  assert.ok(await server.metric("edgeio_session_closes_total", { reason: "denied" }) >= 2, "session closes 'denied' counted");
  const ok11 = await pollOpen(server, "127.0.0.11");
  assert.ok(ok11.status === 200 && !ok11.refused, `an address not listed: HTTP ${ok11.status} ${ok11.text}`);
  await pollClose(server, "127.0.0.11", ok11.sid);

  // a broken file (which would also drop 127.0.0.10) is refused: the previous list stays
  writeFileSync(file, "127.0.0.9\nthis is not an address\n");
  server.proc.kill("SIGHUP");
  await until(() => /keeping the previous denylist/.test(server.logs()), 2000, "the log to say the broken file was refused");
  assertConnectError(await pollRefusal(server, "127.0.0.10"), "FORBIDDEN", "127.0.0.10 after a broken reload");
  assertConnectError(await pollRefusal(server, "127.0.3.70"), "FORBIDDEN", "127.0.3.70 after a broken reload");
  assert.ok(server.alive(), "a broken denylist does not stop the server");
  assert.ok(await server.metric("edgeio_refusals_total", { reason: "denylist" }) >= 7, "denylist refusals counted");

  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("a denylist reload");
});

hostileTest("10 bad CONNECTs on one WebSocket session (no new handshakes) ban the address too", async (ctx) => {
  const server = await ctx.start(["--auth-fail-limit", "10", "--auth-fail-window", "1m", "--auth-ban", "10m"]);
  const room = await honestRoom(ctx, server, ["127.0.3.6", "127.0.3.7"]);
  const before = await room.snapshot();
  const ip = "127.0.3.20";
  const w = new RawWs(ctx, server, { ip });
  await w.opened;
  await w.next((f) => typeof f === "string" && f.startsWith("0"), 3000, "open packet");
  for (let i = 1; i <= 9; i++) {
    w.send("40" + JSON.stringify({ token: badToken(uniq("m")) }));
    const r = await w.next((f) => typeof f === "string" && f.startsWith("4"), 3000, `CONNECT_ERROR ${i}`);
    assert.match(r, /^44\{.*"unauthorized"/, `bad CONNECT ${i} answered CONNECT_ERROR`);
  }
  w.send("40" + JSON.stringify({ token: badToken(uniq("m")) }));
  const r = await w.next((f) => typeof f === "string" && f.startsWith("4"), 1000, "CONNECT_ERROR 10");
  assert.match(r, /^44\{.*"code":"BANNED"/, "the 10th failure is answered (BANNED) before its session closes");
  const closed = await w.closedWithin(2000);
  assert.ok(closed, "the 10th failure closes the session that made it");
  assertConnectError(await pollRefusal(server, ip), "BANNED", "handshake after the ban", { retryAfterMs: 600000, tolerance: 10000 });
  const other = await connectUser(ctx, server, uniq("bystander"), "127.0.3.21");
  await ackOk(other, "get-room-presence", room.roomId);
  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("repeated bad CONNECTs");
});
