// Bad input over a raw WebSocket and raw HTTP long-polling: malformed Engine.IO and Socket.IO
// packets, unknown namespaces, unknown sessions, oversized frames and bodies. After every
// attack the server process must still run and well-behaved clients, connected before the
// attack, must still get their acks.
//
// Where Socket.IO's reference server closes the offending connection (any packet it cannot
// decode), so must edgeio: a client that breaks the protocol is not trusted further.
import { describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./lib/server.mjs";
import { serverTest, closeOrphans } from "./lib/scope.mjs";
import {
  connect, assertHealthy, hasParser, parsersUnderTest, TRANSPORTS, msgpackParser,
} from "./lib/client.mjs";
import {
  RawSocket, rawOpen, rawConnect, wireFor, nextPacket, wsUrl, http, pollUrl, pollHandshake, SEP,
} from "./lib/raw.mjs";

const MAX_PAYLOAD = 1000;

let server; // defaults (maxPayload 1,000,000)
let small; // --max-payload 1000
const sentinels = new Map(); // server -> well-behaved clients connected before any attack

async function openSentinels(srv) {
  const list = [];
  for (const parser of parsersUnderTest()) {
    for (const transport of [TRANSPORTS[0], TRANSPORTS[1]]) { // polling and websocket
      list.push(await connect(srv, { combo: { transport, parser } }));
    }
  }
  sentinels.set(srv, list);
}

before(async () => {
  [server, small] = await Promise.all([startServer(), startServer(["--max-payload", String(MAX_PAYLOAD)])]);
  await Promise.all([openSentinels(server), openSentinels(small)]);
});
after(async () => {
  closeOrphans();
  await Promise.all([server?.stop(), small?.stop()]);
});

/** Server alive, and every sentinel plus one client connected before the attack still answers. */
async function healthy(srv, fresh, what) {
  assert.ok(srv.alive(), `server process died after ${what}`);
  for (const s of sentinels.get(srv)) await assertHealthy(s, srv, what);
  await assertHealthy(fresh, srv, what);
  // And new clients are still admitted.
  const late = await connect(srv, { combo: { transport: TRANSPORTS[1], parser: parsersUnderTest()[0] } });
  await assertHealthy(late, srv, what);
}

const it = serverTest(() => server);
const itSmall = serverTest(() => small);
const json = wireFor("json");
const mp = wireFor("msgpack", msgpackParser);
const needJson = hasParser("json") ? {} : { skip: "raw JSON-parser cases need the json parser under test" };

/**
 * Connects a well-behaved client, then a raw attacker (CONNECT done in `wire` format), sends
 * the frames, and expects the server to close the attacker's connection within 2 s.
 */
async function attackWs(srv, frames, { wire = json, expectClose = true, what, connectFirst = true } = {}) {
  const good = await connect(srv, { combo: { transport: TRANSPORTS[1], parser: parsersUnderTest()[0] } });
  const { sock } = connectFirst ? await rawConnect(srv, wire) : await rawOpen(srv);
  for (const f of frames) sock.send(f);
  if (expectClose) {
    const closed = await sock.closedWithin(2000);
    assert.ok(closed, `the server kept a connection open after ${what}`);
  } else {
    await sock.closedWithin(300);
  }
  await healthy(srv, good, what);
}

describe("raw websocket, JSON parser", () => {
  const cases = [
    ["an unknown Socket.IO packet type (4garbage)", ["4garbage"]],
    ["an event with truncated JSON (42[)", ["42["]],
    ["an event whose payload is an object (42{...})", ['42{"not":"an array"}']],
    ["an event with an empty array (42[])", ["42[]"]],
    ["an event whose name is an object (42[{}])", ['42[{}]']],
    ["an ack id followed by garbage (42123abc)", ["42123abc"]],
    ["a binary event with 11 attachments (4511-[...])",
      ['4511-["message",' + Array.from({ length: 11 }, (_, i) => `{"_placeholder":true,"num":${i}}`).join(",") + "]"]],
    ["a binary event without an attachment count (45-[...])", ['45-["message",{"_placeholder":true,"num":0}]']],
    ["a binary event with 0 attachments (450-[...])", ['450-["message"]']],
    ["a binary event whose placeholder points past its attachments (452-[...] num 7)",
      ['452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":7}]', Buffer.from([1]), Buffer.from([2])]],
    ["a text packet where an attachment is due (451-[...] then 42[...])",
      ['451-["message",{"_placeholder":true,"num":0}]', '42["message","x"]']],
    ["a binary frame that no packet announced", [Buffer.from([1, 2, 3])]],
    ["an event on a namespace it never connected to (42/custom,[...])", ['42/custom,["message","x"]']],
    ["an unknown Engine.IO packet type (9hello)", ["9hello"]],
    ["an empty text frame", [""]],
  ];
  for (const [what, frames] of cases) {
    it(`closes the connection on ${what}`, () => attackWs(server, frames, { what }), needJson);
  }

  it("survives a 100,000-level nested array (closing the connection is allowed)", async () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    await attackWs(server, [`42["message",${deep}]`], { expectClose: false, what: "deep nesting" });
  }, needJson);

  it("answers CONNECT to an unknown namespace with CONNECT_ERROR and keeps the connection", async () => {
    const good = await connect(server, { combo: { transport: TRANSPORTS[0], parser: parsersUnderTest()[0] } });
    const { sock } = await rawOpen(server);
    sock.send("40/nope,");
    const refused = await nextPacket(sock, json, (p) => p.nsp === "/nope", 2000, "CONNECT_ERROR for /nope");
    assert.equal(refused.type, 4, "packet type CONNECT_ERROR");
    assert.deepStrictEqual(refused.data, { message: "Invalid namespace" });
    // The same connection can still join a real namespace and use it.
    sock.send("40");
    const ok = await nextPacket(sock, json, (p) => p.nsp === "/" && p.type === 0, 2000, "CONNECT to /");
    assert.equal(typeof ok.data.sid, "string");
    sock.send('421["message-with-ack","after refusal"]');
    const ack = await nextPacket(sock, json, (p) => p.type === 3, 2000, "ACK 1");
    assert.deepStrictEqual(ack, { type: 3, nsp: "/", id: 1, data: ["after refusal"] });
    assert.ok(sock.isOpen);
    await healthy(server, good, "an unknown namespace");
  }, needJson);

  itSmall(`closes a connection that sends a frame over --max-payload ${MAX_PAYLOAD}`, async () => {
    const good = await connect(small, { combo: { transport: TRANSPORTS[1], parser: parsersUnderTest()[0] } });
    const { sock } = await rawConnect(small, json);
    // Just under the limit is fine.
    const fits = "y".repeat(MAX_PAYLOAD - 60);
    sock.send(`427["message-with-ack","${fits}"]`);
    const ack = await nextPacket(sock, json, (p) => p.type === 3 && p.id === 7, 2000, "ACK for a frame under the limit");
    assert.deepStrictEqual(ack.data, [fits]);
    sock.send(`42["message","${"x".repeat(2000)}"]`);
    const closed = await sock.closedWithin(2000);
    assert.ok(closed, "a 2000-byte frame over maxPayload 1000 did not close the connection");
    await healthy(small, good, "an oversized frame");
  }, needJson);
});

describe("raw websocket, msgpack parser", () => {
  const cases = [
    ["a binary frame that is not msgpack (0xc1)", [Buffer.from([0xc1, 0xc1, 0xc1])], false],
    ["a msgpack packet with type 9", [mp.encode({ type: 9, nsp: "/", data: ["x"] })], false],
    ["a msgpack map without a namespace", [Buffer.from([0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x00])], false],
    ["a msgpack event whose data is a string", [mp.encode({ type: 2, nsp: "/", data: "not an array" })], true],
    ["a msgpack value that is not a map (42)", [Buffer.from([0x2a])], true],
  ];
  for (const [what, frames, afterConnect] of cases) {
    const label = `closes the connection on ${what}${afterConnect ? " after CONNECT" : " as the first packet"}`;
    const needMp = afterConnect && !hasParser("msgpack") ? { skip: "needs the msgpack parser under test" } : {};
    it(label, () => attackWs(server, frames, { wire: mp, what, connectFirst: afterConnect }), needMp);
  }

  itSmall(`closes a msgpack connection that sends a frame over --max-payload ${MAX_PAYLOAD}`, async () => {
    const good = await connect(small, { combo: { transport: TRANSPORTS[0], parser: parsersUnderTest()[0] } });
    const { sock } = await rawConnect(small, mp);
    sock.send(mp.encode({ type: 2, nsp: "/", data: ["message", Buffer.alloc(2000, 7)] }));
    const closed = await sock.closedWithin(2000);
    assert.ok(closed, "a 2000-byte msgpack frame over maxPayload 1000 did not close the connection");
    await healthy(small, good, "an oversized msgpack frame");
  }, hasParser("msgpack") ? {} : { skip: "needs the msgpack parser under test" });
});

describe("raw websocket, engine.io", () => {
  it("refuses a WebSocket upgrade for an unknown sid", async () => {
    const good = await connect(server, { combo: { transport: TRANSPORTS[1], parser: parsersUnderTest()[0] } });
    const sock = new RawSocket(wsUrl(server, { query: "sid=does-not-exist" }));
    const outcome = await sock.opened.then(
      () => sock.next(1000, () => true).then((f) => `opened and sent ${JSON.stringify(f.data)}`, () => "opened"),
      (err) => err,
    );
    if (typeof outcome === "string") {
      // Accepting the socket is tolerable only if the server closes it straight away.
      const closed = await sock.closedWithin(2000);
      assert.ok(closed, `WebSocket with an unknown sid was ${outcome} and kept open`);
    } else {
      assert.ok(outcome instanceof Error);
    }
    await healthy(server, good, "a websocket with an unknown sid");
  });
});

// ---- HTTP long-polling ------------------------------------------------------------------

/** A 400 with a JSON body {code: number, message: string}, as Engine.IO answers errors. */
function assertEngineError(res, what) {
  assert.equal(res.status, 400, `${what}: HTTP ${res.status} ${res.text}`);
  assert.ok(res.json && typeof res.json === "object", `${what}: body is not JSON: ${JSON.stringify(res.text)}`);
  assert.equal(typeof res.json.code, "number", `${what}: body.code: ${res.text}`);
  assert.equal(typeof res.json.message, "string", `${what}: body.message: ${res.text}`);
  assert.match(res.headers.get("content-type") || "", /application\/json/, `${what}: content-type`);
}

async function pollGood(srv) {
  return connect(srv, { combo: { transport: TRANSPORTS[0], parser: parsersUnderTest()[0] } });
}

const TEXT = { "content-type": "text/plain;charset=UTF-8" };

describe("raw long-polling", () => {
  it("POST with a garbage body and no sid → 400 with a JSON error", async () => {
    const good = await pollGood(server);
    const res = await http(pollUrl(server), { method: "POST", headers: TEXT, body: "\u0000garbage\uffff" });
    assertEngineError(res, "POST without sid");
    await healthy(server, good, "a POST without sid");
  });

  it("POST with an unknown sid → 400 with a JSON error", async () => {
    const good = await pollGood(server);
    const res = await http(pollUrl(server, { sid: "no-such-session" }), { method: "POST", headers: TEXT, body: "4garbage" });
    assertEngineError(res, "POST with an unknown sid");
    await healthy(server, good, "a POST with an unknown sid");
  });

  it("GET with an unknown sid → 400 with a JSON error", async () => {
    const good = await pollGood(server);
    assertEngineError(await http(pollUrl(server, { sid: "no-such-session" })), "GET with an unknown sid");
    await healthy(server, good, "a GET with an unknown sid");
  });

  it("an unknown transport → 400 with a JSON error", async () => {
    const good = await pollGood(server);
    const res = await http(`http://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=carrier-pigeon`);
    assertEngineError(res, "transport=carrier-pigeon");
    await healthy(server, good, "an unknown transport");
  });

  it("EIO=3 without --allow-eio3 → 400 with a JSON error", async () => {
    const good = await pollGood(server);
    assertEngineError(await http(pollUrl(server, { eio: 3 })), "EIO=3");
    await healthy(server, good, "an EIO=3 handshake");
  });

  it("POST with a garbage body to a live session: refused and the session is closed", async () => {
    const good = await pollGood(server);
    const { sid } = await pollHandshake(server);
    const res = await http(pollUrl(server, { sid }), { method: "POST", headers: TEXT, body: `9${SEP}\u0000\u0001garbage` });
    if (res.status === 400) {
      assertEngineError(res, "garbage POST to a live session");
    } else {
      // Socket.IO's reference server answers "ok" and then closes the session.
      assert.equal(res.status, 200, `garbage POST to a live session: HTTP ${res.status} ${res.text}`);
    }
    // The session must be gone (400 unknown sid) or be closing (a close packet "1").
    const next = await http(pollUrl(server, { sid }), {}, 3000);
    const closedSession = next.status === 400 || (next.status === 200 && next.text.split(SEP).includes("1"));
    assert.ok(closedSession, `session still usable after garbage: HTTP ${next.status} ${JSON.stringify(next.text)}`);
    await healthy(server, good, "a garbage POST to a live session");
  });

  it("POST with a malformed Socket.IO packet inside a valid payload closes the session", async () => {
    const good = await pollGood(server);
    const { sid } = await pollHandshake(server);
    const post = (body) => http(pollUrl(server, { sid }), { method: "POST", headers: TEXT, body });
    assert.equal((await post("40")).status, 200);
    const connected = await http(pollUrl(server, { sid }));
    assert.match(connected.text, /(^|\x1e)40\{"sid":"[^"]+"\}/, `CONNECT reply: ${connected.text}`);
    const res = await post("42[");
    assert.ok(res.status === 200 || res.status === 400, `HTTP ${res.status} ${res.text}`);
    const next = await http(pollUrl(server, { sid }), {}, 3000);
    const closedSession = next.status === 400 || (next.status === 200 && next.text.split(SEP).includes("1"));
    assert.ok(closedSession, `session still usable after 42[: HTTP ${next.status} ${JSON.stringify(next.text)}`);
    await healthy(server, good, "a malformed packet over polling");
  }, needJson);

  itSmall(`a polling body over --max-payload ${MAX_PAYLOAD} → 413`, async () => {
    const good = await pollGood(small);
    const { sid } = await pollHandshake(small);
    const res = await http(pollUrl(small, { sid }), {
      method: "POST", headers: TEXT, body: `42["message","${"z".repeat(2000)}"]`,
    });
    assert.equal(res.status, 413, `HTTP ${res.status} ${res.text}`);
    await healthy(small, good, "an oversized polling body");
  });

  it("two overlapping GETs on one session both complete, the server survives", async () => {
    const good = await pollGood(server);
    const { sid } = await pollHandshake(server);
    const results = await Promise.allSettled([
      http(pollUrl(server, { sid }), {}, 3000),
      http(pollUrl(server, { sid }), {}, 3000),
    ]);
    for (const r of results) {
      assert.equal(r.status, "fulfilled", `a GET hung or failed: ${r.reason}`);
      assert.ok([200, 400].includes(r.value.status), `HTTP ${r.value.status}`);
    }
    await healthy(server, good, "overlapping GETs");
  });
});
