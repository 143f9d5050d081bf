// Chat app authentication (docs/events.md "Connecting"): a JWT in the CONNECT auth
// payload, an Authorization: Bearer header or a token query parameter, on every transport and
// both parsers; refusals with connect_error "unauthorized" and data.code UNAUTHORIZED or
// TOKEN_EXPIRED; the rooms claim, --room-policy closed, personal rooms, display names.
import { describe, before, after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { serverBinary } from "./lib/server.mjs";
import { serverTest, closeOrphans, withScope } from "./lib/scope.mjs";
import {
  startChat, chatConnect, chatRefused, chatMatrix, tokenFor, signJwt, uniq, join, send, ack,
  expectAckError, assertKeys, SECRET, JSON_WS, defaultName,
} from "./lib/chat.mjs";
import { TRANSPORTS, PARSERS, hasParser } from "./lib/client.mjs";

let server;
before(async () => { server = await startChat(); });
after(async () => { closeOrphans(); await server?.stop(); });

const it = serverTest(() => server);

/** Connects, joins a room and sends: the stored message names the token's user. */
async function assertIdentity(socket, sub, name) {
  const room = uniq("auth-room");
  const j = await join(socket, room);
  assert.equal(j.roomId, room);
  const m = await send(socket, room, "who am I");
  assert.equal(m.userId, sub, "message.userId is the token's sub");
  assert.equal(m.username, name, "message.username is the token's name");
}

for (const combo of chatMatrix()) {
  describe(`token ways/${combo.label}`, () => {
    for (const via of ["auth", "header", "query"]) {
      it(`token in ${via === "auth" ? "the CONNECT auth payload" : via === "header" ? "Authorization: Bearer" : "the token query parameter"} connects`, async () => {
        const sub = uniq("u");
        const s = await chatConnect(server, sub, { combo, via });
        assert.ok(s.connected);
        await assertIdentity(s, sub, defaultName(sub));
      });
    }
  });
}

describe("refusals", () => {
  // At most nine failed authentications per server: ten from one IP would ban it (docs/security.md).
  let refusing;
  before(async () => { refusing = await startChat(); });
  after(async () => { await refusing?.stop(); });

  const assertRefused = (err, code) => {
    assert.equal(err.message, "unauthorized", "connect_error message");
    assert.deepStrictEqual(err.data, { code }, "connect_error data");
  };
  const ws = TRANSPORTS.find((t) => t.name === "websocket");
  const polling = TRANSPORTS.find((t) => t.name === "polling");
  const packPolling = { label: "polling/msgpack", transport: polling, parser: PARSERS.msgpack };
  const needsPack = hasParser("msgpack") ? {} : { skip: "needs the msgpack parser" };

  test("no token at all: UNAUTHORIZED (JSON over WebSocket, msgpack over polling)", async () => withScope(async () => {
    assertRefused(await chatRefused(refusing, { combo: JSON_WS }), "UNAUTHORIZED");
    if (!needsPack.skip) assertRefused(await chatRefused(refusing, { combo: packPolling }), "UNAUTHORIZED");
  }));

  test("garbage, wrong secret, bad signature, alg none, algorithm confusion, no sub: UNAUTHORIZED", async () => withScope(async () => {
    const now = Math.floor(Date.now() / 1000);
    const good = tokenFor("mallory");
    const [h, p] = good.split(".");
    const cases = [
      ["garbage in auth", { token: "not-a-jwt" }],
      ["wrong secret in header", { token: tokenFor("mallory", { secret: "another-secret" }), via: "header", combo: { transport: polling, parser: JSON_WS.parser } }],
      ["tampered payload in query", { token: `${h}.${Buffer.from(JSON.stringify({ sub: "admin", exp: now + 600 })).toString("base64url")}.${good.split(".")[2]}`, via: "query" }],
      ["alg none", { token: `${Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url")}.${p}.` }],
      ["RS256 header signed with the secret (algorithm confusion)", { token: signJwt({ sub: "mallory", exp: now + 600 }, { header: { alg: "RS256", typ: "JWT" } }) }],
      ["no sub claim", { token: signJwt({ name: "Nobody", exp: now + 600 }) }],
      ["nbf an hour ahead", { token: tokenFor("mallory", { extra: { nbf: now + 3600 } }) }],
    ];
    for (const [what, o] of cases) {
      const err = await chatRefused(refusing, { combo: JSON_WS, ...o });
      assert.equal(err.message, "unauthorized", `${what}: message`);
      assert.deepStrictEqual(err.data, { code: "UNAUTHORIZED" }, `${what}: data`);
    }
  }));
});

describe("expired tokens", () => {
  let refusing;
  before(async () => { refusing = await startChat(); });
  after(async () => { await refusing?.stop(); });

  test("an expired token is TOKEN_EXPIRED in the auth payload, the header and the query", async () => withScope(async () => {
    const expired = tokenFor("late", { exp: Math.floor(Date.now() / 1000) - 3600 });
    const combos = [JSON_WS];
    if (hasParser("msgpack")) combos.push({ transport: TRANSPORTS.find((t) => t.name === "polling"), parser: PARSERS.msgpack });
    for (const combo of combos) {
      for (const via of ["auth", "header", "query"]) {
        const err = await chatRefused(refusing, { combo, token: expired, via });
        assert.equal(err.message, "unauthorized", `${via}: message`);
        assert.deepStrictEqual(err.data, { code: "TOKEN_EXPIRED" }, `${via}: data`);
      }
    }
  }));
});

describe("rooms claim", () => {
  it("exact names and prefixes are allowed, anything else FORBIDDEN (join, history, presence)", async () => {
    const tag = uniq("t");
    const sub = uniq("limited");
    const s = await chatConnect(server, sub, { rooms: [`team-${tag}`, `proj-${tag}-*`] });
    const ok1 = await join(s, `team-${tag}`);
    assertKeys(ok1, ["ok", "roomId", "lastReadId", "unreadCount"], "join-room ack");
    await join(s, `proj-${tag}-alpha`);
    await join(s, `proj-${tag}-`);
    for (const room of [`team-${tag}-2`, `proj-${tag}`, `other-${tag}`, "general"]) {
      await expectAckError(s, "FORBIDDEN", "join-room", room);
      await expectAckError(s, "FORBIDDEN", "get-history", { roomId: room });
      await expectAckError(s, "FORBIDDEN", "get-room-presence", room);
    }
    // A refused join did not put the socket in the room.
    await expectAckError(s, "NOT_IN_ROOM", "send-message", { roomId: `other-${tag}`, content: "x" });
  });

  it("rooms [\"*\"] allows every room; rooms [] allows none but the user's own", async () => {
    const all = await chatConnect(server, uniq("all"), { rooms: ["*"] });
    await join(all, uniq("any"));
    await join(all, "general");
    const sub = uniq("none");
    const none = await chatConnect(server, sub, { rooms: [] });
    await expectAckError(none, "FORBIDDEN", "join-room", uniq("any"));
    await expectAckError(none, "FORBIDDEN", "join-room", "general");
    const own = await join(none, `user:${sub}`);
    assert.equal(own.roomId, `user:${sub}`);
  });

  it("another user's personal room is FORBIDDEN, even with rooms [\"*\"]", async () => {
    const bob = uniq("bob");
    for (const rooms of [undefined, ["*"], ["user:*"]]) {
      const s = await chatConnect(server, uniq("eve"), { rooms });
      await expectAckError(s, "FORBIDDEN", "join-room", `user:${bob}`);
      await expectAckError(s, "FORBIDDEN", "get-history", { roomId: `user:${bob}` });
      await expectAckError(s, "FORBIDDEN", "get-room-presence", `user:${bob}`);
    }
  });

  it("a token from `edgeio token --rooms 'a,b*'` works as minted", async () => {
    const tag = uniq("cli").replace(/-/g, "");
    const out = spawnSync(serverBinary(), [
      "token", "--jwt-secret", SECRET, "--sub", `cli${tag}`, "--name", "Cli User", "--rooms", `a${tag},b${tag}*`, "--ttl", "1h",
    ], { encoding: "utf8", timeout: 10000 });
    assert.equal(out.status, 0, `edgeio token failed: ${out.stderr}`);
    const token = out.stdout.trim();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const s = await chatConnect(server, `cli${tag}`, { token, name: "Cli User" });
    await join(s, `a${tag}`);
    await join(s, `b${tag}-x`);
    await expectAckError(s, "FORBIDDEN", "join-room", `c${tag}`);
    const m = await send(s, `a${tag}`, "from the cli token");
    assert.equal(m.username, "Cli User");
  });
});

describe("display names", () => {
  it("the name claim is cleaned; without one (or empty once cleaned) the sub stands in", async () => {
    const cases = [
      [uniq("html"), "<b>Bo</b> & <i>co</i>", "Bo &amp; co"],
      [uniq("noname"), null, null],
      [uniq("empty"), "<img src=x>", null],
      [uniq("uni"), "  Zoë 😀  ", "Zoë 😀"],
    ];
    for (const [sub, name, want] of cases) {
      const s = await chatConnect(server, sub, { name });
      await assertIdentity(s, sub, want ?? sub);
    }
  });
});

describe("--room-policy closed", () => {
  let closed;
  before(async () => { closed = await startChat(["--room-policy", "closed"]); });
  after(async () => { await closed?.stop(); });

  test("without a rooms claim only the user's own room; a claim still opens its rooms", async () => withScope(async () => {
    const sub = uniq("closed");
    const s = await chatConnect(closed, sub);
    await expectAckError(s, "FORBIDDEN", "join-room", "general");
    await expectAckError(s, "FORBIDDEN", "get-history", { roomId: "general" });
    await join(s, `user:${sub}`);
    const r = await chatConnect(closed, uniq("claimed"), { rooms: ["general"] });
    await join(r, "general");
    const resp = await ack(r, "get-history", { roomId: "general" });
    assert.equal(resp.ok, true);
  }));
});
