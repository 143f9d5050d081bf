// Connection state recovery with stock socket.io-client 4.x (docs/reliability.md): a client
// whose connection is cut for 5 s reconnects by itself with socket.recovered true, the same
// socket id, its rooms, and everything the room got meanwhile (messages, an edit, a
// deletion) exactly once and in order, then live traffic; after --recovery-window it starts
// afresh instead.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { closeOrphans, withScope } from "./lib/scope.mjs";
import { TRANSPORTS, PARSERS, record } from "./lib/client.mjs";
import { startChat, chatConnect, uniq, join, send, ackOk, sleep, waitFor, until, QUIET_MS } from "./lib/chat.mjs";

const servers = [];
after(async () => { closeOrphans(); for (const s of servers) await s.stop(); });

const AWAY_MS = 5000;
const combos = ["websocket", "polling"].map((name) => ({
  label: `${name}/json`, transport: TRANSPORTS.find((t) => t.name === name), parser: PARSERS.json,
}));

/** Cuts the client's connection the way a network would: the client does not say goodbye. */
function cut(socket) {
  const transport = socket.io.engine.transport;
  if (transport.name === "websocket") transport.ws._socket.destroy();
  else socket.io.engine.close(); // polling: the transport ends, the socket is not disconnected
}

const ids = (seen) => seen.map(([m]) => m.id);

/** A test with a chat server of its own; failures carry its output. */
function chatTest(name, args, fn, timeout = 40000) {
  test(name, { timeout }, () => withScope(async () => {
    const server = await startChat(args);
    servers.push(server);
    await server.guard(() => fn(server))();
  }));
}

describe("connection state recovery", { concurrency: true }, () => {
  for (const combo of combos) {
    chatTest(`${combo.label}: cut for ${AWAY_MS / 1000} s, back with socket.recovered, the same id, its room, what it missed once and in order, then live`, [], async (server) => {
      const room = uniq("recover");
      const alice = await chatConnect(server, uniq("alice"), {
        combo, opts: { reconnection: true, reconnectionDelay: AWAY_MS, reconnectionDelayMax: AWAY_MS, randomizationFactor: 0 },
      });
      const bob = await chatConnect(server, uniq("bob"));
      await join(alice, room);
      await join(bob, room);
      const heard = record(alice, "new-message");
      const edits = record(alice, "message-edited");
      const deletions = record(alice, "message-deleted");
      const before = await send(bob, room, "before the cut");
      await until(() => heard.length === 1, 5000, "the first message");
      assert.equal(typeof heard[0][1], "string", "a room broadcast carries its offset last");
      const firstId = alice.id;
      assert.equal(alice.recovered, false, "a first connection is not recovered");

      const gone = waitFor(alice, "disconnect", 5000, "the cut");
      cut(alice);
      await gone;
      const missed = [];
      for (let i = 0; i < 5; i++) missed.push(await send(bob, room, `while away ${i}`));
      await ackOk(bob, "edit-message", { messageId: missed[1].id, content: "edited while away" });
      await ackOk(bob, "delete-message", missed[2].id);

      await waitFor(alice, "connect", AWAY_MS + 5000, "the reconnect");
      assert.equal(alice.recovered, true, "socket.recovered");
      assert.equal(alice.id, firstId, "the same socket id");
      await until(() => heard.length === 6 && deletions.length === 1, 5000, "the replay");
      assert.deepStrictEqual(ids(heard), [before.id, ...missed.map((m) => m.id)], "every message once, in order");
      assert.deepStrictEqual(edits.map(([e]) => [e.messageId, e.content]), [[missed[1].id, "edited while away"]], "the edit made meanwhile");
      assert.deepStrictEqual(deletions.map(([id]) => id), [missed[2].id], "the deletion made meanwhile");

      // its room is back without a join-room, and live traffic follows the replay
      const live = await send(bob, room, "after the reconnect");
      await until(() => heard.length === 7, 5000, "a live message");
      await sleep(QUIET_MS);
      assert.deepStrictEqual(ids(heard), [before.id, ...missed.map((m) => m.id), live.id], "then live, nothing twice");
      alice.close();
    });
  }

  chatTest("after --recovery-window the client starts afresh: a new id, no rooms, nothing replayed", ["--recovery-window", "1s"], async (server) => {
    const room = uniq("expired");
    const alice = await chatConnect(server, uniq("alice"), {
      opts: { reconnection: true, reconnectionDelay: 2500, reconnectionDelayMax: 2500, randomizationFactor: 0 },
    });
    const bob = await chatConnect(server, uniq("bob"));
    await join(alice, room);
    await join(bob, room);
    const heard = record(alice, "new-message");
    const firstId = alice.id;
    const gone = waitFor(alice, "disconnect", 5000, "the cut");
    cut(alice);
    await gone;
    await send(bob, room, "while away");
    await waitFor(alice, "connect", 8000, "the reconnect");
    assert.equal(alice.recovered, false, "socket.recovered after the window");
    assert.notEqual(alice.id, firstId, "a new socket id");
    await send(bob, room, "after");
    await sleep(QUIET_MS);
    assert.deepStrictEqual(heard, [], "not in the room until it joins again, nothing replayed");
    alice.close();
  }, 30000);
});
