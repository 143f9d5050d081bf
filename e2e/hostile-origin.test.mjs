// Hostile clients: cross-site requests (foreign Origin on polling and WebSocket, with
// --cors-origins; no Origin with --require-origin) and a token taken from a cookie without
// its double-submit CSRF token (--auth-cookie). A handshake from a refused origin opens a
// refused session that only says why (CONNECT_ERROR FORBIDDEN, readable by the page); the
// requests of real sessions from it get HTTP 403.
// Source addresses of this file: 127.0.4.x.
import assert from "node:assert/strict";
import {
  hostileTest, honestRoom, connectUser, makeSocket, outcome, join, ackOk, pollOpen, pollClose,
  pollUrl, request, RawWs, wsRefused, uniq, tokenFor, assertHonest, storedHistory,
  pollRefusal, wsRefusal, assertConnectError, assertRefusal,
} from "./lib/hostile.mjs";

const GOOD = "http://good.example";
const EVIL = "http://evil.example";

/** Asserts a CORS refusal of a request of a real session: HTTP 403 FORBIDDEN. */
function assertForbidden(r, what) {
  assertRefusal(r, 403, "origin", what);
  assert.equal(r.json.data.code, "FORBIDDEN", `${what}: data.code`);
}

hostileTest("foreign Origin: FORBIDDEN on polling and WebSocket handshakes, 403 on a session's requests and upgrades; the allowed origin passes", async (ctx) => {
  const server = await ctx.start(["--cors-origins", GOOD]);
  const room = await honestRoom(ctx, server, ["127.0.4.2", "127.0.4.3"]); // no Origin: non-browser clients pass
  const before = await room.snapshot();
  const ip = "127.0.4.10";

  const evil = { headers: { Origin: EVIL } };
  assertConnectError(await pollRefusal(server, ip, evil), "FORBIDDEN", "polling handshake from a foreign origin");
  // the page may read its refusal (it opens nothing)
  const refusedOpen = await pollOpen(server, ip, evil);
  assert.ok(refusedOpen.refused, `a refused session: ${refusedOpen.text}`);
  assert.equal(refusedOpen.headers["access-control-allow-origin"], EVIL, "the foreign page may read why it is refused");
  const good = await pollOpen(server, ip, { headers: { Origin: GOOD } });
  assert.equal(good.status, 200, `polling handshake from the allowed origin: ${good.status} ${good.text}`);
  assert.equal(good.headers["access-control-allow-origin"], GOOD, "CORS header names the allowed origin");
  assert.equal(good.headers["access-control-allow-credentials"], "true", "credentials allowed for it");
  // a foreign page cannot ride on an existing session either
  assertForbidden(await request(pollUrl(server, { sid: good.sid }), { ip, headers: { Origin: EVIL } }), "polling GET from a foreign origin");
  assertForbidden(await request(pollUrl(server, { sid: good.sid }), {
    ip, method: "POST", body: "40", headers: { Origin: EVIL, "Content-Type": "text/plain" },
  }), "polling POST from a foreign origin");
  const upgrade = await wsRefused(ctx, server, ip, { query: `sid=${good.sid}`, headers: { Origin: EVIL } });
  assert.equal(upgrade.status, 403, `upgrade of a session from a foreign origin: ${upgrade.status} ${upgrade.text}`);
  const pre = await request(pollUrl(server), { ip, method: "OPTIONS", headers: { Origin: EVIL, "Access-Control-Request-Method": "POST" } });
  assert.equal(pre.status, 403, `preflight from a foreign origin: ${pre.status}`);
  await pollClose(server, ip, good.sid);

  // WebSocket: cross-site WebSocket hijacking gets a refused session, which holds nothing
  assertConnectError(await wsRefusal(ctx, server, ip, evil), "FORBIDDEN", "WebSocket from a foreign origin");
  const wsGood = new RawWs(ctx, server, { ip, headers: { Origin: GOOD } });
  await wsGood.opened;
  assert.match(await wsGood.next((f) => typeof f === "string" && f.startsWith("0")), /^0\{/, "open packet for the allowed origin");
  wsGood.close();
  // stock client with a forged Origin header
  for (const transports of [["polling"], ["websocket"]]) {
    const evilClient = makeSocket(ctx, server, { ip, token: tokenFor(uniq("evil")), extraHeaders: { Origin: EVIL }, transports });
    const o = await outcome(evilClient);
    assert.equal(o.ok, false, `socket.io-client (${transports}) from a foreign origin is refused`);
    assertConnectError(o.err, "FORBIDDEN", `socket.io-client (${transports}) from a foreign origin`);
    evilClient.close();
  }
  const goodClient = await connectUser(ctx, server, uniq("page"), ip, { extraHeaders: { Origin: GOOD } });
  await join(goodClient, room.roomId);

  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("foreign-origin requests");
});

hostileTest("--require-origin: handshakes without Origin get FORBIDDEN; the allowed origin passes", async (ctx) => {
  const server = await ctx.start(["--cors-origins", GOOD, "--require-origin"]);
  const ips = ["127.0.4.4", "127.0.4.5"];
  const members = [];
  const roomId = uniq("room");
  for (const ip of ips) {
    const s = await connectUser(ctx, server, uniq("page"), ip, { extraHeaders: { Origin: GOOD } });
    await join(s, roomId);
    members.push(s);
  }
  const room = { roomId, members };
  const before = await storedHistory(members[0], roomId);
  const ip = "127.0.4.11";
  assertConnectError(await pollRefusal(server, ip), "FORBIDDEN", "polling handshake without Origin");
  assertConnectError(await pollRefusal(server, ip, { headers: { Origin: EVIL } }), "FORBIDDEN", "polling handshake from a foreign origin");
  assertConnectError(await wsRefusal(ctx, server, ip), "FORBIDDEN", "WebSocket without Origin");
  const noOrigin = makeSocket(ctx, server, { ip, token: tokenFor(uniq("bot")) });
  const o = await outcome(noOrigin);
  assert.equal(o.ok, false, "socket.io-client without Origin is refused");
  assertConnectError(o.err, "FORBIDDEN", "socket.io-client without Origin");
  noOrigin.close();
  const ok = await pollOpen(server, ip, { headers: { Origin: GOOD } });
  assert.ok(ok.status === 200 && !ok.refused, `with the allowed origin: ${ok.status} ${ok.text}`);
  const closeIt = await request(pollUrl(server, { sid: ok.sid }), { ip, method: "POST", body: "1", headers: { Origin: GOOD, "Content-Type": "text/plain" } });
  assert.equal(closeIt.status, 200, "closing it with the allowed origin");
  assert.deepStrictEqual(await storedHistory(members[0], roomId), before, "nothing stored changed");
  await assertHonest(server, room.members, room.roomId, "requests without Origin");
});

hostileTest("cookie token needs the double-submit CSRF token (--auth-cookie)", async (ctx) => {
  const server = await ctx.start(["--auth-cookie", "session"]);
  const room = await honestRoom(ctx, server, ["127.0.4.6", "127.0.4.7"]);
  const before = await room.snapshot();
  const ip = "127.0.4.12";
  const user = uniq("cookie");
  const jwt = tokenFor(user);

  const refused = async (headers, auth, what) => {
    const s = makeSocket(ctx, server, { ip, auth, extraHeaders: headers });
    const o = await outcome(s);
    s.close();
    assert.equal(o.ok, false, `${what}: should be refused`);
    assert.equal(o.err.message, "unauthorized", `${what}: connect_error message`);
    assert.equal(o.err.data && o.err.data.code, "UNAUTHORIZED", `${what}: data.code`);
  };
  const accepted = async (headers, auth, what) => {
    const s = makeSocket(ctx, server, { ip, auth, extraHeaders: headers });
    const o = await outcome(s);
    assert.ok(o.ok, `${what}: should connect, got ${o.err && o.err.message} ${JSON.stringify(o.err && o.err.data)}`);
    s.user = user;
    const j = await join(s, room.roomId);
    assert.equal(j.roomId, room.roomId);
    return s;
  };

  await refused({ Cookie: `session=${jwt}` }, undefined, "cookie token alone");
  await refused({ Cookie: `session=${jwt}; csrf_token=c5rf-${user}` }, undefined, "cookie token and CSRF cookie, no CSRF header");
  await refused({ Cookie: `session=${jwt}; csrf_token=c5rf-${user}`, "X-CSRF-Token": "something-else" }, undefined, "mismatched X-CSRF-Token");
  await refused({ Cookie: `session=${jwt}; csrf_token=c5rf-${user}` }, { csrf: "something-else" }, "mismatched csrf in the auth payload");
  await refused({ Cookie: `session=${jwt}`, "X-CSRF-Token": `c5rf-${user}` }, undefined, "CSRF header without the CSRF cookie");
  await refused({ Cookie: `session=${jwt}; csrf_token=`, "X-CSRF-Token": "" }, undefined, "empty CSRF cookie and header");
  assert.ok(await server.metric("edgeio_refusals_total", { reason: "csrf" }) >= 2, "csrf refusals counted");

  const viaHeader = await accepted({ Cookie: `session=${jwt}; csrf_token=c5rf-${user}`, "X-CSRF-Token": `c5rf-${user}` }, undefined, "matching X-CSRF-Token");
  const viaAuth = await accepted({ Cookie: `session=${jwt}; csrf_token=c5rf-${user}` }, { csrf: `c5rf-${user}` }, "matching csrf in the auth payload");
  // the socket carries the cookie's user
  const presence = await ackOk(viaHeader, "get-room-presence", room.roomId);
  assert.ok(presence.users.some((u) => u.userId === user), `the cookie's user is in the room: ${JSON.stringify(presence.users)}`);
  await ackOk(viaAuth, "get-room-presence", room.roomId);

  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("cookie tokens without CSRF tokens");
});
