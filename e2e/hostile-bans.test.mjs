// Hostile clients: authentication failures that earn a ban (--auth-fail-limit, the admin
// listener's /admin/bans), and a denylist re-read on SIGHUP (--ip-denylist).
// Source addresses of this file: 127.0.3.x, and 127.0.0.9 / 127.0.0.10 / 127.0.0.11.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  hostileTest, honestRoom, connectUser, makeSocket, outcome, refusedUser, join, ackOk, pollOpen,
  pollClose, wsRefused, assertRefusal, request, until, uniq, tokenFor, badToken, after, RawWs,
} from "./lib/hostile.mjs";

const ADMIN_TOKEN = "hostile-admin-" + Math.random().toString(36).slice(2);

/** Waits for a socket.io-client socket to be disconnected by the server. */
async function assertClosedByServer(socket, ms, what) {
  if (socket.connected) {
    const reason = await Promise.race([
      new Promise((r) => socket.once("disconnect", r)),
      after(ms, `still connected after ${ms} ms`),
    ]);
    assert.ok(["transport close", "io server disconnect", "transport error"].includes(reason), `${what}: ${reason}`);
  }
  assert.equal(socket.connected, false, what);
}

hostileTest("10 bad tokens then a good one: the address is banned (403), its open session closed; admin lists and lifts the ban", async (ctx) => {
  const server = await ctx.start([
    "--auth-fail-limit", "10", "--auth-fail-window", "1m", "--auth-ban", "10m", "--admin-token", ADMIN_TOKEN,
  ]);
  const room = await honestRoom(ctx, server, ["127.0.3.2", "127.0.3.3"]);
  const ip = "127.0.3.10";
  const victimUser = uniq("victim");
  // a session of that address that was open before the attack
  const open = await connectUser(ctx, server, victimUser, ip);
  await join(open, room.roomId);
  const before = await room.snapshot();

  for (let i = 1; i <= 9; i++) {
    const err = await refusedUser(ctx, server, ip, { token: badToken(uniq("mallory")) });
    assert.equal(err.message, "unauthorized", `bad token ${i}: connect_error message`);
    assert.equal(err.data && err.data.code, "UNAUTHORIZED", `bad token ${i}: connect_error data.code`);
  }
  assert.ok(open.connected, "9 failures do not ban yet: the open session is still there");
  await ackOk(open, "get-room-presence", room.roomId);
  // the 10th failure bans: its own session may be closed before or after the connect_error
  const tenth = makeSocket(ctx, server, { ip, token: badToken(uniq("mallory")) });
  const o = await Promise.race([outcome(tenth), new Promise((r) => tenth.io.on("close", () => r({ ok: false, closed: true })))]);
  assert.equal(o.ok, false, "10th bad token refused");
  tenth.close();

  await assertClosedByServer(open, 2000, "the open session of the banned address is closed");
  assert.ok(await server.metric("edgeio_session_closes_total", { reason: "banned" }) >= 1, "session close 'banned' counted");

  // the good token from the banned address: 403 on the handshake, polling and WebSocket
  assertRefusal(await pollOpen(server, ip), 403, "banned", "polling handshake of a banned address");
  assertRefusal(await wsRefused(ctx, server, ip), 403, "banned", "WebSocket upgrade of a banned address");
  const good = makeSocket(ctx, server, { ip, token: tokenFor(victimUser) });
  assert.equal((await outcome(good)).ok, false, "a good token from the banned address is refused");
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
  assertRefusal(await pollOpen(server, ip), 403, "banned", "still banned after a refused DELETE");
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

  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("a ban", { n: 2 });
});

hostileTest("denylist: 403 for listed addresses; SIGHUP adds one and closes its session; a broken file keeps the old list", async (ctx) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "edgeio-denylist-"));
  ctx.track({ close: () => rmSync(dir, { recursive: true, force: true }) });
  const file = path.join(dir, "deny.txt");
  writeFileSync(file, "# refused\n127.0.0.9\n\n127.0.3.64/28   # a network\n");
  const server = await ctx.start(["--ip-denylist", file]);
  const room = await honestRoom(ctx, server, ["127.0.3.4", "127.0.3.5"]);

  // listed: an address, and an address inside a listed network
  for (const ip of ["127.0.0.9", "127.0.3.70"]) {
    assertRefusal(await pollOpen(server, ip), 403, "denylist", `polling handshake from ${ip}`);
    assertRefusal(await wsRefused(ctx, server, ip), 403, "denylist", `WebSocket upgrade from ${ip}`);
  }
  const sio = makeSocket(ctx, server, { ip: "127.0.0.9", token: tokenFor(uniq("denied")) });
  assert.equal((await outcome(sio)).ok, false, "socket.io-client from 127.0.0.9 is refused");
  sio.close();

  // 127.0.0.10 is not listed yet: it has a WebSocket and a polling session in the room
  const user10 = uniq("ten");
  const ws10 = await connectUser(ctx, server, user10, "127.0.0.10");
  await join(ws10, room.roomId);
  const poll10 = await connectUser(ctx, server, user10, "127.0.0.10", { transports: ["polling"] });
  await join(poll10, room.roomId);
  const before = await room.snapshot();

  writeFileSync(file, "# refused\n127.0.0.9\n127.0.0.10\n127.0.3.64/28\n");
  server.proc.kill("SIGHUP");
  await assertClosedByServer(ws10, 2000, "the WebSocket session of the newly denied address is closed");
  await assertClosedByServer(poll10, 3000, "the polling session of the newly denied address is closed");
  assertRefusal(await pollOpen(server, "127.0.0.10"), 403, "denylist", "127.0.0.10 after the reload");
  assertRefusal(await pollOpen(server, "127.0.0.9"), 403, "denylist", "127.0.0.9 after the reload");
  assert.match(server.logs(), /denylist reloaded/, "the reload is logged");
  assert.ok(await server.metric("edgeio_session_closes_total", { reason: "denied" }) >= 2, "session closes 'denied' counted");
  const ok11 = await pollOpen(server, "127.0.0.11");
  assert.equal(ok11.status, 200, `an address not listed: HTTP ${ok11.status}`);
  await pollClose(server, "127.0.0.11", ok11.sid);

  // a broken file (which would also drop 127.0.0.10) is refused: the previous list stays
  writeFileSync(file, "127.0.0.9\nthis is not an address\n");
  server.proc.kill("SIGHUP");
  await until(() => /keeping the previous denylist/.test(server.logs()), 2000, "the log to say the broken file was refused");
  assertRefusal(await pollOpen(server, "127.0.0.10"), 403, "denylist", "127.0.0.10 after a broken reload");
  assertRefusal(await pollOpen(server, "127.0.3.70"), 403, "denylist", "127.0.3.70 after a broken reload");
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
  const closed = await w.closedWithin(2000);
  assert.ok(closed, "the 10th failure closes the session that made it");
  assertRefusal(await pollOpen(server, ip), 403, "banned", "handshake after the ban");
  const other = await connectUser(ctx, server, uniq("bystander"), "127.0.3.21");
  await ackOk(other, "get-room-presence", room.roomId);
  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("repeated bad CONNECTs");
});
