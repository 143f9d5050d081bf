// Hostile clients behind a reverse proxy (docs/security.md): a real HTTP and WebSocket proxy
// on loopback that adds an X-Forwarded-For line of its own, as nginx, HAProxy and most
// balancers do, named by --trusted-proxies. A client that forges its own X-Forwarded-For line
// must not get past the per-address cap or the handshake rate, nor get an innocent address
// banned; IPv6 clients count by /64. Failed-authentication counters are forgotten after
// --auth-fail-window and bounded by --auth-fail-tracked; the admin listener shows no secret.
// Source addresses of this file: 127.0.11.1-99 (127.0.11.1 is the proxy).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import {
  hostileTest, makeSocket, outcome, connectUser, join, ackOk, pollOpen, pollClose, until, uniq,
  tokenFor, badToken, assertConnectError, SECRET, sleep,
} from "./lib/hostile.mjs";
import { passUpgrade } from "./lib/balancer.mjs";

const PROXY_IP = "127.0.11.1";

/**
 * A reverse proxy in front of server, listening on PROXY_IP and connecting from it: every
 * request and WebSocket upgrade goes through with its headers as sent, plus an
 * X-Forwarded-For line naming the client it saw (a line of its own, after the client's).
 */
async function startProxy(ctx, server) {
  const forward = (req) => {
    const headers = [...req.rawHeaders, "X-Forwarded-For", req.socket.remoteAddress];
    return headers;
  };
  const proxy = http.createServer((req, res) => {
    const up = http.request({
      host: "127.0.0.1", port: server.port, localAddress: PROXY_IP, agent: false,
      method: req.method, path: req.url, headers: forward(req),
    }, (r) => {
      res.writeHead(r.statusCode, r.rawHeaders);
      r.pipe(res);
    });
    up.on("error", () => res.destroy());
    req.pipe(up);
  });
  proxy.on("upgrade", (req, sock, head) => {
    const up = net.connect({ host: "127.0.0.1", port: server.port, localAddress: PROXY_IP }, () => passUpgrade(req, head, forward(req), up, sock));
    up.on("error", () => sock.destroy());
    sock.on("error", () => up.destroy());
  });
  await new Promise((resolve) => proxy.listen(0, PROXY_IP, resolve));
  ctx.track({ close: () => { proxy.closeAllConnections(); proxy.close(); } });
  const port = proxy.address().port;
  // the server's helpers (pollOpen, makeSocket, ...) take it in the server's place
  return { url: `http://${PROXY_IP}:${port}`, port };
}

/** A socket.io-client socket through the proxy, from ip, with a forged X-Forwarded-For line. */
function viaProxy(ctx, proxy, ip, { forged, token, transports = ["websocket"] } = {}) {
  return makeSocket(ctx, proxy, { ip, token, transports, extraHeaders: forged ? { "X-Forwarded-For": forged } : undefined });
}

hostileTest("a forged X-Forwarded-For line behind the proxy evades neither the per-address cap (polling, WebSocket) nor the handshake rate", async (ctx) => {
  const server = await ctx.start(["--trusted-proxies", PROXY_IP, "--max-conns-per-ip", "2", "--rate-handshakes", "6"]);
  const proxy = await startProxy(ctx, server);
  const user = uniq("forger");
  for (const transports of [["websocket"], ["polling"]]) {
    const ip = transports[0] === "websocket" ? "127.0.11.10" : "127.0.11.11";
    const open = [];
    for (let i = 1; i <= 2; i++) {
      const s = viaProxy(ctx, proxy, ip, { forged: `198.51.100.${i}`, token: tokenFor(user), transports });
      const o = await outcome(s);
      assert.ok(o.ok, `${transports} ${i} of 2 through the proxy: ${o.err && o.err.message}`);
      open.push(s);
    }
    const third = viaProxy(ctx, proxy, ip, { forged: "198.51.100.3", token: tokenFor(user), transports });
    const o = await outcome(third);
    assert.equal(o.ok, false, `${transports}: a 3rd session with a new forged X-Forwarded-For is refused`);
    assertConnectError(o.err, "RATE_LIMITED", `${transports}: the 3rd session`, { retryAfterMs: 5000 });
  }
  // every client behind the proxy counts for itself: another address is not affected
  const other = await connectUser(ctx, proxy, uniq("neighbour"), "127.0.11.12");
  await ackOk(other, "get-room-presence", "lobby");

  // the handshake rate: six a minute from one client, whatever it writes
  const ip = "127.0.11.13";
  for (let i = 1; i <= 6; i++) {
    const r = await pollOpen(proxy, ip, { headers: { "X-Forwarded-For": `203.0.113.${i}` } });
    assert.ok(r.sid && !r.refused, `handshake ${i} of 6: ${r.status} ${r.text}`);
    await pollClose(proxy, ip, r.sid);
  }
  const seventh = viaProxy(ctx, proxy, ip, { forged: "203.0.113.7", token: tokenFor(user) });
  const o = await outcome(seventh);
  assert.equal(o.ok, false, "the 7th handshake in a minute is refused, forged line or not");
  assertConnectError(o.err, "RATE_LIMITED", "the 7th handshake", { retryAfterMs: 10000, tolerance: 2000 });
  assert.ok(await server.metric("edgeio_refusals_total", { reason: "conns_per_ip" }) >= 2, "cap refusals counted");
  assert.equal(await server.metric("edgeio_refusals_total", { reason: "handshake_rate" }), 1, "one rate refusal");
});

hostileTest("an attacker behind the proxy who names an innocent address in X-Forwarded-For bans only itself; IPv6 clients count (and are banned) by /64", async (ctx) => {
  const adminToken = "proxy-admin-" + uniq("t");
  const inner = "127.0.11.30"; // a second trusted proxy in front of the first: it names IPv6 clients
  const server = await ctx.start([
    "--trusted-proxies", `${PROXY_IP},${inner}`, "--auth-fail-limit", "3", "--auth-fail-window", "1m", "--auth-ban", "5m",
    "--admin-token", adminToken,
  ]);
  const proxy = await startProxy(ctx, server);
  const innocentIp = "127.0.11.20";
  const innocent = await connectUser(ctx, proxy, uniq("innocent"), innocentIp);
  await join(innocent, "lobby");
  const attacker = "127.0.11.21";
  for (let i = 1; i <= 3; i++) {
    const s = viaProxy(ctx, proxy, attacker, { forged: innocentIp, token: badToken(uniq("m")) });
    const o = await outcome(s);
    s.close();
    assert.equal(o.ok, false, `bad token ${i}`);
    assert.equal(o.err.data.code, i === 3 ? "BANNED" : "UNAUTHORIZED", `bad token ${i}: ${JSON.stringify(o.err.data)}`);
  }
  await sleep(300);
  assert.ok(innocent.connected, "the innocent address's session is not expelled");
  await ackOk(innocent, "get-room-presence", "lobby");
  const again = await connectUser(ctx, proxy, uniq("innocent"), innocentIp);
  await ackOk(again, "get-room-presence", "lobby");
  const back = viaProxy(ctx, proxy, attacker, { forged: "192.0.2.77", token: tokenFor(uniq("m")) });
  const o = await outcome(back);
  assert.equal(o.ok, false, "the attacker is banned, whatever it forges next");
  assertConnectError(o.err, "BANNED", "the attacker's next handshake", { retryAfterMs: 300000, tolerance: 5000 });

  // IPv6 clients, named by the inner proxy: three addresses of one /64 are one client
  const v6 = (suffix) => ({ "X-Forwarded-For": `2001:db8:1:2::${suffix}` });
  for (let i = 1; i <= 3; i++) {
    const s = makeSocket(ctx, proxy, { ip: inner, token: badToken(uniq("v6")), extraHeaders: v6(i.toString(16)) });
    const r = await outcome(s);
    s.close();
    assert.equal(r.err && r.err.data.code, i === 3 ? "BANNED" : "UNAUTHORIZED", `IPv6 bad token ${i} from 2001:db8:1:2::${i}`);
  }
  const rotated = makeSocket(ctx, proxy, { ip: inner, token: tokenFor(uniq("v6")), extraHeaders: v6("beef") });
  assertConnectError((await outcome(rotated)).err, "BANNED", "another address of the banned /64", { retryAfterMs: 300000, tolerance: 5000 });
  await connectUser(ctx, proxy, uniq("v6"), inner, { extraHeaders: { "X-Forwarded-For": "2001:db8:1:3::1" } });

  const bans = await server.admin("/admin/bans", { headers: { Authorization: `Bearer ${adminToken}` } });
  assert.deepStrictEqual(bans.json.map((b) => b.address).sort(), ["127.0.11.21", "2001:db8:1:2::/64"], `the bans: ${bans.text}`);
});

hostileTest("failed-authentication counters are forgotten after --auth-fail-window and bounded by --auth-fail-tracked", async (ctx) => {
  const server = await ctx.start([
    "--trusted-proxies", "127.0.11.40", "--auth-fail-limit", "10", "--auth-fail-window", "3s", "--auth-fail-tracked", "3",
  ]);
  const tracked = () => server.metric("edgeio_auth_failures_tracked");
  const fail = async (ip, forwarded) => {
    const s = makeSocket(ctx, server, { ip, token: badToken(uniq("m")), extraHeaders: forwarded ? { "X-Forwarded-For": forwarded } : undefined });
    const o = await outcome(s);
    s.close();
    assert.equal(o.err && o.err.data.code, "UNAUTHORIZED", `a failure from ${forwarded || ip}`);
  };
  await fail("127.0.11.41");
  await fail("127.0.11.42");
  assert.equal(await tracked(), 2, "two clients with failures counting");
  // an IPv6 client rotating through its /64 is one counter
  for (let i = 1; i <= 5; i++) await fail("127.0.11.40", `2001:db8:9:9::${i}`);
  assert.equal(await tracked(), 3, "five addresses of one /64: one counter");
  // past the bound the map does not grow
  for (let i = 43; i <= 46; i++) await fail(`127.0.11.${i}`);
  assert.equal(await tracked(), 3, "--auth-fail-tracked bounds the counters");
  // and the window over, they are forgotten
  await until(async () => (await tracked()) === 0, 6000, "the counters to be forgotten after --auth-fail-window (3s)");
});

hostileTest("secrets stay off the admin listener: /debug/pprof/cmdline hides --jwt-secret and --admin-token; --jwt-secret-file works", async (ctx) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "edgeio-secret-"));
  ctx.track({ close: () => rmSync(dir, { recursive: true, force: true }) });
  const secretFile = path.join(dir, "jwt-secret");
  writeFileSync(secretFile, SECRET + "\n", { mode: 0o600 });
  const adminToken = "admin-" + uniq("secret");
  // hostile servers get --jwt-secret SECRET on their command line: the file takes over
  const server = await ctx.start(["--jwt-secret=", "--jwt-secret-file", secretFile, "--admin-token", adminToken]);
  const s = await connectUser(ctx, server, uniq("user"), "127.0.11.50");
  await ackOk(s, "get-room-presence", "lobby");
  const bearer = { Authorization: `Bearer ${adminToken}` };
  const cmdline = await server.admin("/debug/pprof/cmdline", { headers: bearer });
  assert.equal(cmdline.status, 200);
  const args = cmdline.text.split("\0");
  assert.ok(args.includes("--jwt-secret-file") && args.includes(secretFile), `the flags are shown: ${args.join(" ")}`);
  assert.ok(args.includes("[redacted]"), `the secrets' places are marked: ${args.join(" ")}`);
  for (const p of ["/debug/pprof/cmdline", "/debug/pprof/", "/debug/pprof/goroutine?debug=2", "/metrics", "/dashboard/data"]) {
    const r = await server.admin(p, { headers: bearer });
    assert.equal(r.status, 200, `${p}: ${r.status}`);
    assert.ok(!r.text.includes(SECRET), `${p} shows the JWT secret`);
    assert.ok(!r.text.includes(adminToken), `${p} shows the admin token`);
  }
});
