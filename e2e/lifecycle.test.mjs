// Connection lifecycle: server-side disconnect, transport close and reconnection, the
// Engine.IO handshake values, heartbeats (pings answered and unanswered) and the connect
// timeout. The server runs with --ping-interval 300ms --ping-timeout 200ms --connect-timeout 1s.
import { describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "./lib/server.mjs";
import { serverTest, closeOrphans } from "./lib/scope.mjs";
import {
  matrix, connect, emitAck, waitFor, record, sleep, whenConnected,
  hasParser, msgpackParser,
} from "./lib/client.mjs";
import { rawOpen, pollHandshake, wireFor } from "./lib/raw.mjs";

let server;
before(async () => { server = await startServer(); });
after(async () => { closeOrphans(); await server?.stop(); });

const it = serverTest(() => server);

const PING_INTERVAL = 300;
const PING_TIMEOUT = 200;

// Reconnection switched on, with short delays, so that a wrong reason would show up as a
// reconnect within the observation window.
const RECONNECTING = { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100, randomizationFactor: 0 };

// Most of these tests wait on timers; they use their own sockets and run concurrently.
const CONCURRENT = { concurrency: true };

describe("socket.io clients", CONCURRENT, () => {
for (const combo of matrix()) {
  describe(combo.label, CONCURRENT, () => {
    it("disconnect-me: 'io server disconnect' and no automatic reconnection", async () => {
      const socket = await connect(server, { combo, opts: RECONNECTING });
      const connects = record(socket, "connect");
      const attempts = record(socket.io, "reconnect_attempt");
      const gone = waitFor(socket, "disconnect", 3000, "disconnect after disconnect-me");
      socket.emit("disconnect-me");
      const [reason] = await gone;
      assert.equal(reason, "io server disconnect");
      await sleep(800);
      assert.equal(socket.connected, false, "still disconnected");
      assert.equal(connects.length, 0, "no reconnection after a server disconnect");
      assert.equal(attempts.length, 0, "no reconnection attempt after a server disconnect");
    });

    it("close-transport: 'transport close', then the client reconnects by itself", async () => {
      const socket = await connect(server, { combo, opts: RECONNECTING });
      const firstId = socket.id;
      const gone = waitFor(socket, "disconnect", 3000, "disconnect after close-transport");
      socket.emit("close-transport");
      const [reason] = await gone;
      assert.equal(reason, "transport close");
      await waitFor(socket, "connect", 5000, "automatic reconnection");
      assert.ok(socket.connected);
      assert.notEqual(socket.id, firstId, "a new session after reconnecting");
      assert.deepStrictEqual(await emitAck(socket, "message-with-ack", "after reconnect"), ["after reconnect"]);
    });

    it("a connected client that answers pings stays connected through many intervals", async () => {
      const socket = await connect(server, { combo });
      const disconnects = record(socket, "disconnect");
      const pings = record(socket.io, "ping");
      await sleep(PING_INTERVAL * 5);
      assert.equal(disconnects.length, 0, `disconnected: ${JSON.stringify(disconnects)}`);
      assert.ok(pings.length >= 3, `expected at least 3 pings in ${PING_INTERVAL * 5} ms, got ${pings.length}`);
      assert.deepStrictEqual(await emitAck(socket, "message-with-ack", "alive"), ["alive"]);
    });

    it("client-side disconnect then a fresh connection works", async () => {
      const socket = await connect(server, { combo });
      socket.disconnect();
      assert.equal(socket.connected, false);
      socket.connect();
      await whenConnected(socket, combo);
      assert.deepStrictEqual(await emitAck(socket, "message-with-ack", "again"), ["again"]);
    });
  });
}
});

// ---- raw Engine.IO: handshake values and heartbeats -------------------------------------

// Raw clients speak the first parser under test.
const wire = hasParser("json") ? wireFor("json") : wireFor("msgpack", msgpackParser);
const connectPacket = () => wire.encode({ type: 0, nsp: "/" });
const isConnectOk = (item) => {
  const p = wire.decode(item);
  return p !== null && p.type === 0 && p.nsp === "/";
};

describe("raw engine.io", CONCURRENT, () => {
  it("the polling handshake announces the configured values and the websocket upgrade", async () => {
    const { handshake } = await pollHandshake(server);
    assert.equal(typeof handshake.sid, "string");
    assert.ok(handshake.sid.length > 0);
    assert.deepStrictEqual(handshake.upgrades, ["websocket"]);
    assert.equal(handshake.pingInterval, PING_INTERVAL);
    assert.equal(handshake.pingTimeout, PING_TIMEOUT);
    assert.equal(handshake.maxPayload, 1_000_000);
  });

  it("the websocket handshake announces the configured values and no upgrades", async () => {
    const { handshake } = await rawOpen(server);
    assert.deepStrictEqual(handshake.upgrades, []);
    assert.equal(handshake.pingInterval, PING_INTERVAL);
    assert.equal(handshake.pingTimeout, PING_TIMEOUT);
    assert.equal(handshake.maxPayload, 1_000_000);
  });

  it("a client that never answers pings is closed within pingInterval + pingTimeout", async () => {
    const { sock } = await rawOpen(server, { autoPong: false });
    const openedAt = sock.openedAt;
    sock.send(connectPacket());
    await sock.next(2000, isConnectOk, "the CONNECT answer");
    const closed = await sock.closedWithin(3000);
    assert.ok(closed, "the server never closed a connection that does not answer pings");
    const after = closed.at - openedAt;
    assert.ok(sock.pings.length >= 1, "the server pinged before giving up");
    assert.ok(after < 2000, `closed after ${after} ms; expected about ${PING_INTERVAL + PING_TIMEOUT} ms`);
    assert.ok(after >= PING_INTERVAL + PING_TIMEOUT - 100, `closed after ${after} ms, too early for a ping timeout`);
  });

  it("a raw client that answers pings stays open and is pinged every pingInterval", async () => {
    const { sock } = await rawOpen(server, { autoPong: true });
    sock.send(connectPacket());
    await sock.next(2000, isConnectOk, "the CONNECT answer");
    const closed = await sock.closedWithin(PING_INTERVAL * 5);
    assert.equal(closed, null, `closed: ${JSON.stringify(closed)}`);
    assert.ok(sock.pings.length >= 3 && sock.pings.length <= 7,
      `${sock.pings.length} pings in ${PING_INTERVAL * 5} ms with pingInterval ${PING_INTERVAL} ms`);
  });

  it("an Engine.IO connection that never sends CONNECT is closed after --connect-timeout 1s", async () => {
    const { sock } = await rawOpen(server, { autoPong: true });
    const closed = await sock.closedWithin(3500);
    assert.ok(closed, "still open 3.5 s after the handshake without a Socket.IO CONNECT");
    const after = closed.at - sock.openedAt;
    assert.ok(after >= 800 && after < 3000, `closed after ${after} ms, expected about 1000`);
  });
});
