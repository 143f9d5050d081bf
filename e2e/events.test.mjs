// Events and acknowledgements both ways, binary attachments both ways, over every transport
// setting and parser.
import { describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startServer } from "./lib/server.mjs";
import { serverTest, closeOrphans } from "./lib/scope.mjs";
import {
  matrix, connect, emitAck, emitAckWithin, waitFor, record, assertSamePayload, sleep,
} from "./lib/client.mjs";

let server;
before(async () => { server = await startServer(); });
after(async () => { closeOrphans(); await server?.stop(); });

const it = serverTest(() => server);

const PLAIN = ["hello", 42, -1.5, true, null, { a: [1, "x", null, false], b: { c: "d" } }, [1, [2, [3]]], ""];
const UNICODE = "héllo wörld ✓ 日本語 😀 \u2028 \n\t \"quoted\" \\ back";

for (const combo of matrix()) {
  describe(combo.label, () => {
    it("message → message-back with the same arguments", async () => {
      const socket = await connect(server, { combo });
      const back = waitFor(socket, "message-back", 3000);
      socket.emit("message", ...PLAIN);
      assert.deepStrictEqual(await back, PLAIN);
    });

    it("message-with-ack acks with the same arguments", async () => {
      const socket = await connect(server, { combo });
      assert.deepStrictEqual(await emitAck(socket, "message-with-ack", ...PLAIN), PLAIN);
      assert.deepStrictEqual(await emitAck(socket, "message-with-ack", UNICODE), [UNICODE]);
      assert.deepStrictEqual(await emitAck(socket, "message-with-ack", { only: "object" }), [{ only: "object" }]);
    });

    it("message-with-ack with no arguments acks with none", async () => {
      const socket = await connect(server, { combo });
      assert.deepStrictEqual(await emitAck(socket, "message-with-ack"), []);
    });

    it("keeps order and matches acks under a burst of 100 events", async () => {
      const socket = await connect(server, { combo });
      const backs = record(socket, "message-back");
      const acks = await Promise.all(
        Array.from({ length: 100 }, (_, i) => emitAck(socket, "message-with-ack", i, `n${i}`)),
      );
      acks.forEach((a, i) => assert.deepStrictEqual(a, [i, `n${i}`], `ack ${i}`));
      for (let i = 0; i < 100; i++) socket.emit("message", i);
      const deadline = Date.now() + 5000;
      while (backs.length < 100 && Date.now() < deadline) await sleep(20);
      assert.deepStrictEqual(backs.map((a) => a[0]), Array.from({ length: 100 }, (_, i) => i));
    });

    it("carries a 200 kB text argument", async () => {
      const socket = await connect(server, { combo });
      const big = "x".repeat(100_000) + UNICODE.repeat(1000);
      const [echo] = await emitAck(socket, "message-with-ack", big);
      assert.equal(echo.length, big.length);
      assert.ok(echo === big, "big string comes back unchanged");
    });

    it("server-ack: the server emits to the client with an ack and relays the answer", async () => {
      const socket = await connect(server, { combo });
      let seen = null;
      socket.on("ping-me", (...args) => {
        const ack = args.pop();
        assert.equal(typeof ack, "function", "server's event carries an ack callback");
        seen = args;
        ack("pong", { got: args });
      });
      const resp = await emitAck(socket, "server-ack", "ping-me", 1, "two", { three: [3] });
      assert.deepStrictEqual(seen, [1, "two", { three: [3] }]);
      assert.deepStrictEqual(resp, ["pong", { got: [1, "two", { three: [3] }] }]);
    });

    if (combo.transport.name === "websocket") {
      it("server-ack: acks {error:'timeout'} when the client never answers (2 s)", async () => {
        const socket = await connect(server, { combo });
        let called = 0;
        socket.on("ignored", () => { called++; }); // takes the ack and drops it
        const started = Date.now();
        const resp = await emitAckWithin(6000, socket, "server-ack", "ignored", "x");
        const took = Date.now() - started;
        assert.equal(called, 1);
        assert.deepStrictEqual(resp, [{ error: "timeout" }]);
        assert.ok(took >= 1800 && took < 4500, `timeout ack after ${took} ms, expected about 2000`);
      });
    }

    it("binary: Buffers in arguments and nested objects come back as equal binary (ack)", async () => {
      const socket = await connect(server, { combo });
      const args = [
        Buffer.from([0, 1, 2, 3, 254, 255]),
        { nested: { deep: [Buffer.from("deep bytes"), "text", 5] }, plain: 1, empty: Buffer.alloc(0) },
        "a string",
        [Buffer.from([9]), { x: Buffer.from([10, 11]) }],
      ];
      const resp = await emitAck(socket, "message-with-ack", ...args);
      assertSamePayload(resp, args);
      assert.ok(Buffer.isBuffer(resp[0]) || resp[0] instanceof ArrayBuffer, "top-level binary is binary");
    });

    it("binary: message → message-back keeps binary", async () => {
      const socket = await connect(server, { combo });
      const payload = { file: Buffer.from(randomBytes(1024)), meta: { name: "f.bin" } };
      const back = waitFor(socket, "message-back", 3000);
      socket.emit("message", payload, Buffer.from("second"));
      assertSamePayload(await back, [payload, Buffer.from("second")]);
    });

    it("binary: a 256 kB attachment round-trips", async () => {
      const socket = await connect(server, { combo });
      const blob = randomBytes(256 * 1024);
      const resp = await emitAck(socket, "message-with-ack", { blob });
      assert.ok(Buffer.from(resp[0].blob).equals(blob), "256 kB blob unchanged");
    });

    it("binary: server → client event with binary, client acks with binary", async () => {
      const socket = await connect(server, { combo });
      let received;
      socket.on("bin-ping", (buf, obj, ack) => {
        received = [buf, obj];
        ack({ echo: buf, extra: Buffer.from("zz") }, Buffer.from([7, 7]));
      });
      const sent = [Buffer.from([1, 2, 3]), { inner: Buffer.from("inner") }];
      const resp = await emitAck(socket, "server-ack", "bin-ping", ...sent);
      assertSamePayload(received, sent);
      assertSamePayload(resp, [{ echo: Buffer.from([1, 2, 3]), extra: Buffer.from("zz") }, Buffer.from([7, 7])]);
    });
  });
}
