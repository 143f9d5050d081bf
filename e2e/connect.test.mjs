// Connecting: the auth payload, static, dynamic, invalid and private namespaces, and several
// namespaces multiplexed over one connection, over every transport setting and parser.
import { describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./lib/server.mjs";
import { serverTest, closeOrphans } from "./lib/scope.mjs";
import {
  matrix, connect, connectError, emitAck, whenConnected, makeClient, Manager, waitFor,
  assertSamePayload, sleep,
} from "./lib/client.mjs";

let server;
before(async () => { server = await startServer(); });
after(async () => { closeOrphans(); await server?.stop(); });

const it = serverTest(() => server);

for (const combo of matrix()) {
  describe(combo.label, () => {
    it("connects and gets the auth payload back in an 'auth' event", async () => {
      const auth = { token: "abc", user: { id: 7, tags: ["x", "y"] }, flag: true, n: null };
      const socket = makeClient(server, { combo, auth });
      await whenConnected(socket, combo);
      assert.ok(socket.id, "socket has an id");
      const args = await socket.authEvent;
      assert.deepStrictEqual(args, [auth]);
    });

    it("emits 'auth' with {} when the handshake had no auth payload", async () => {
      const socket = makeClient(server, { combo });
      await whenConnected(socket, combo);
      const args = await socket.authEvent;
      assert.deepStrictEqual(args, [{}]);
    });

    it("serves the static namespace /custom", async () => {
      const socket = makeClient(server, { combo, nsp: "/custom", auth: { where: "custom" } });
      await whenConnected(socket, combo);
      assert.deepStrictEqual(await socket.authEvent, [{ where: "custom" }]);
      assert.deepStrictEqual(await emitAck(socket, "message-with-ack", "in custom", 1), ["in custom", 1]);
    });

    it("serves a dynamic namespace /dynamic-42", async () => {
      const socket = makeClient(server, { combo, nsp: "/dynamic-42", auth: { d: 42 } });
      await whenConnected(socket, combo);
      assert.deepStrictEqual(await socket.authEvent, [{ d: 42 }]);
      assert.deepStrictEqual(await emitAck(socket, "message-with-ack", "dyn"), ["dyn"]);
    });

    it("refuses an unknown namespace with 'Invalid namespace'", async () => {
      for (const nsp of ["/nope", "/dynamic-", "/dynamic-4x", "/customx"]) {
        const err = await connectError(server, { combo, nsp });
        assert.equal(err.message, "Invalid namespace", `connect_error message for ${nsp}`);
      }
    });

    it("refuses /private without a token: 'unauthorized', data.code UNAUTHORIZED", async () => {
      const err = await connectError(server, { combo, nsp: "/private" });
      assert.equal(err.message, "unauthorized");
      assert.deepStrictEqual(err.data, { code: "UNAUTHORIZED" });
    });

    it("refuses /private with a wrong token", async () => {
      const err = await connectError(server, { combo, nsp: "/private", auth: { token: "wrong" } });
      assert.equal(err.message, "unauthorized");
      assert.deepStrictEqual(err.data, { code: "UNAUTHORIZED" });
    });

    it("admits /private with token 'secret'", async () => {
      const auth = { token: "secret", extra: [1, 2] };
      const socket = makeClient(server, { combo, nsp: "/private", auth });
      await whenConnected(socket, combo);
      assert.deepStrictEqual(await socket.authEvent, [auth]);
      assert.deepStrictEqual(await emitAck(socket, "message-with-ack", "private"), ["private"]);
    });

    it("multiplexes /, /custom and a refused /private over one connection", async () => {
      const manager = new Manager(server.url, {
        reconnection: false, timeout: 5000, ...combo.transport.opts, ...combo.parser.opts,
      });
      const main = makeClient(server, { manager, nsp: "/", auth: { ns: "main" } });
      const custom = makeClient(server, { manager, nsp: "/custom", auth: { ns: "custom" } });
      await whenConnected(main, combo);
      await whenConnected(custom, combo);
      const refused = makeClient(server, { manager, nsp: "/private" });
      refused.once("connect", () => assert.fail("/private admitted without token"));
      const [err] = await waitFor(refused, "connect_error", 5000, "/private without token");
      assert.equal(err.message, "unauthorized");
      assert.deepStrictEqual(await main.authEvent, [{ ns: "main" }]);
      assert.deepStrictEqual(await custom.authEvent, [{ ns: "custom" }]);
      const [a, b] = await Promise.all([
        emitAck(main, "message-with-ack", "to-main"),
        emitAck(custom, "message-with-ack", "to-custom"),
      ]);
      assert.deepStrictEqual(a, ["to-main"]);
      assert.deepStrictEqual(b, ["to-custom"]);
      // A refused namespace must not take the others down.
      await sleep(100);
      assert.ok(main.connected && custom.connected);
      // Leaving one namespace keeps the other on the same connection.
      custom.disconnect();
      assertSamePayload(await emitAck(main, "message-with-ack", Buffer.from([1, 2])), [Buffer.from([1, 2])]);
      manager.engine && manager.engine.close();
    });
  });
}
