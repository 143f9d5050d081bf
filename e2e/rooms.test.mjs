// Rooms and broadcasts: join, leave, the `rooms` ack, broadcasts that reach members other than
// the sender only, namespace isolation, volatile broadcasts, and one room shared by a JSON
// client and a msgpack client.
import { describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./lib/server.mjs";
import { serverTest, closeOrphans } from "./lib/scope.mjs";
import {
  matrix, connect, emitAck, waitFor, record, assertSamePayload, sleep, TRANSPORTS,
  PARSERS, hasParser,
} from "./lib/client.mjs";

let server;
before(async () => { server = await startServer(); });
after(async () => { closeOrphans(); await server?.stop(); });

const it = serverTest(() => server);

// How long a client must stay silent to count as "did not receive".
const QUIET_MS = 300;

for (const combo of matrix()) {
  describe(combo.label, () => {
    it("broadcast to r1 reaches the other member only (not the sender, not a non-member)", async () => {
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => connect(server, { combo })));
      assert.deepStrictEqual(await emitAck(a, "join", "r1"), [true]);
      assert.deepStrictEqual(await emitAck(b, "join", "r1"), [true]);
      const gotA = record(a, "hello");
      const gotC = record(c, "hello");
      const atB = waitFor(b, "hello", 3000, "member b");
      const payload = ["hi r1", { n: 1, bin: Buffer.from([1, 2, 3]) }];
      a.emit("broadcast", "r1", "hello", ...payload);
      assertSamePayload(await atB, payload);
      await sleep(QUIET_MS);
      assert.equal(gotA.length, 0, "the sender must not receive its own broadcast");
      assert.equal(gotC.length, 0, "a non-member must not receive the broadcast");
    });

    it("rooms acks the sorted room list, own id included; leave works", async () => {
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => connect(server, { combo })));
      assert.deepStrictEqual(await emitAck(a, "rooms"), [[a.id]]);
      assert.deepStrictEqual(await emitAck(a, "join", "r1"), [true]);
      assert.deepStrictEqual(await emitAck(a, "join", "zz-last"), [true]);
      assert.deepStrictEqual(await emitAck(a, "join", "A-first"), [true]);
      assert.deepStrictEqual(await emitAck(a, "rooms"), [[a.id, "r1", "zz-last", "A-first"].sort()]);
      assert.deepStrictEqual(await emitAck(a, "join", "r1"), [true], "joining twice is fine");
      assert.deepStrictEqual(await emitAck(a, "rooms"), [[a.id, "r1", "zz-last", "A-first"].sort()]);

      assert.deepStrictEqual(await emitAck(b, "join", "r1"), [true]);
      assert.deepStrictEqual(await emitAck(b, "leave", "r1"), [true]);
      assert.deepStrictEqual(await emitAck(b, "rooms"), [[b.id]]);
      assert.deepStrictEqual(await emitAck(b, "leave", "never-joined"), [true], "leaving a room not joined is fine");
      assert.deepStrictEqual(await emitAck(c, "join", "r1"), [true]);

      const gotB = record(b, "after-leave");
      const atC = waitFor(c, "after-leave", 3000, "member c");
      a.emit("broadcast", "r1", "after-leave", 1);
      assert.deepStrictEqual(await atC, [1]);
      await sleep(QUIET_MS);
      assert.equal(gotB.length, 0, "a socket that left r1 must not receive r1 broadcasts");
    });

    it("join and leave without an ack callback work too", async () => {
      const [a, b] = await Promise.all([1, 2].map(() => connect(server, { combo })));
      b.emit("join", "no-ack");
      // The `rooms` ack is processed after the join: events of one socket are handled in order.
      assert.ok((await emitAck(b, "rooms"))[0].includes("no-ack"));
      const atB = waitFor(b, "ev", 3000);
      a.emit("broadcast", "no-ack", "ev", "x");
      assert.deepStrictEqual(await atB, ["x"]);
      b.emit("leave", "no-ack");
      assert.ok(!(await emitAck(b, "rooms"))[0].includes("no-ack"));
    });

    it("broadcast to room \"\" reaches every other socket of the namespace, and no other namespace", async () => {
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => connect(server, { combo })));
      const other = await connect(server, { combo, nsp: "/custom" });
      const gotA = record(a, "all");
      const gotOther = record(other, "all");
      const atB = waitFor(b, "all", 3000, "b");
      const atC = waitFor(c, "all", 3000, "c");
      a.emit("broadcast", "", "all", { to: "everyone" });
      assert.deepStrictEqual(await atB, [{ to: "everyone" }]);
      assert.deepStrictEqual(await atC, [{ to: "everyone" }]);
      await sleep(QUIET_MS);
      assert.equal(gotA.length, 0, "the sender is excluded");
      assert.equal(gotOther.length, 0, "sockets of /custom must not receive a broadcast on /");
    });

    it("rooms are per namespace: r1 on /custom is not r1 on /", async () => {
      const a = await connect(server, { combo, nsp: "/custom" });
      const b = await connect(server, { combo, nsp: "/custom" });
      const rootMember = await connect(server, { combo });
      await emitAck(a, "join", "r1");
      await emitAck(b, "join", "r1");
      await emitAck(rootMember, "join", "r1");
      const gotRoot = record(rootMember, "ns-ev");
      const atB = waitFor(b, "ns-ev", 3000);
      a.emit("broadcast", "r1", "ns-ev", "custom only");
      assert.deepStrictEqual(await atB, ["custom only"]);
      await sleep(QUIET_MS);
      assert.equal(gotRoot.length, 0, "r1 on / must not get a broadcast to r1 on /custom");
    });

    it("broadcast-volatile is accepted and does not disturb the connection", async () => {
      const [a, b] = await Promise.all([1, 2].map(() => connect(server, { combo })));
      await emitAck(b, "join", "vol");
      const got = record(b, "vol-ev");
      a.emit("broadcast-volatile", "vol", "vol-ev", "maybe");
      await sleep(QUIET_MS);
      // Volatile packets may be dropped when the transport is busy (a long-polling client
      // between two GETs); an idle WebSocket should get it.
      if (combo.transport.final === "websocket") {
        assert.deepStrictEqual(got, [["maybe"]], "an idle websocket member gets the volatile broadcast");
      } else {
        assert.ok(got.length <= 1);
      }
      assert.deepStrictEqual(await emitAck(a, "message-with-ack", "ok"), ["ok"]);
      assert.deepStrictEqual(await emitAck(b, "message-with-ack", "ok"), ["ok"]);
    });

    it("a member that disconnected no longer receives, the others still do", async () => {
      const [a, b, c] = await Promise.all([1, 2, 3].map(() => connect(server, { combo })));
      for (const s of [a, b, c]) await emitAck(s, "join", "r-gone");
      b.disconnect();
      await sleep(100);
      const atC = waitFor(c, "gone-ev", 3000);
      a.emit("broadcast", "r-gone", "gone-ev", 1);
      assert.deepStrictEqual(await atC, [1]);
    });
  });
}

// One room, two parsers: the server must encode a broadcast for each member's own parser.
for (const transport of TRANSPORTS) {
  const bothParsers = hasParser("json") && hasParser("msgpack");
  describe(`mixed parsers/${transport.name}`, () => {
    it("a JSON client and a msgpack client in one room both receive the same broadcast", async () => {
      const jsonCombo = { transport, parser: PARSERS.json };
      const packCombo = { transport, parser: PARSERS.msgpack };
      const [j, m, sender] = await Promise.all([
        connect(server, { combo: jsonCombo }),
        connect(server, { combo: packCombo }),
        connect(server, { combo: jsonCombo }),
      ]);
      await emitAck(j, "join", "mix");
      await emitAck(m, "join", "mix");
      const payload = [{ text: "to both", n: 3.25, list: [1, null, "z"] }, Buffer.from([0, 128, 255])];
      const atJ = waitFor(j, "mixed", 3000, "JSON member");
      const atM = waitFor(m, "mixed", 3000, "msgpack member");
      sender.emit("broadcast", "mix", "mixed", ...payload);
      assertSamePayload(await atJ, payload);
      assertSamePayload(await atM, payload);

      // And the other way round: a msgpack sender, a JSON receiver.
      const atJ2 = waitFor(j, "mixed-2", 3000, "JSON member");
      const gotM = record(m, "mixed-2");
      m.emit("broadcast", "mix", "mixed-2", { from: "msgpack", bin: Buffer.from("b") });
      assertSamePayload(await atJ2, [{ from: "msgpack", bin: Buffer.from("b") }]);
      await sleep(QUIET_MS);
      assert.equal(gotM.length, 0, "the msgpack sender is excluded");
    }, bothParsers ? {} : { skip: "needs both parsers (E2E_PARSERS narrows them)" });
  });
}
