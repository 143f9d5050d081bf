// Connection state recovery with stock socket.io-client 4.x (docs/reliability.md): a client
// whose connection is cut for 5 s reconnects by itself with socket.recovered true, the same
// socket id, its rooms, and everything the room got meanwhile (messages, an edit, a
// deletion) exactly once and in order, then live traffic; after --recovery-window it starts
// afresh instead. Meanwhile the room's other members, chatting, get every acknowledged
// message exactly once and keep their delivery p95 (lib/latency.mjs). Offsets go only to
// clients that ask (`recovery: true` in the CONNECT auth): the others get every room
// broadcast with exactly its documented arguments, unless the server runs with
// --recovery-offsets all.
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { closeOrphans, withScope } from "./lib/scope.mjs";
import { TRANSPORTS, PARSERS, record } from "./lib/client.mjs";
import { rmSync } from "node:fs";
import { startChat, makeDataDir, chatConnect, uniq, join, send, ackOk, sleep, waitFor, until, QUIET_MS } from "./lib/chat.mjs";
import { assertEachOnce, assertP95Kept } from "./lib/latency.mjs";

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

/**
 * Chat in the background: a message every 40 ms from `socket`, each awaited (so they are in
 * order), its send time as its content. `acked` holds the stored messages.
 */
function chatter(socket, room) {
  const st = { acked: [], stopped: false };
  st.done = (async () => {
    while (!st.stopped) {
      st.acked.push(await send(socket, room, String(Date.now())));
      await sleep(40);
    }
  })();
  st.done.catch(() => { /* seen where it is awaited */ });
  return st;
}

/** A test with a chat server of its own; failures carry its output. */
function chatTest(name, args, fn, timeout = 40000) {
  test(name, { timeout }, (t) => withScope(async () => {
    const server = await startChat(args);
    servers.push(server);
    await server.guard(() => fn(server, t))();
  }));
}

describe("connection state recovery", { concurrency: true }, () => {
  for (const combo of combos) {
    chatTest(`${combo.label}: cut for ${AWAY_MS / 1000} s, back with socket.recovered, the same id, its room, what it missed once and in order, then live; the others get everything once at the same p95`, [], async (server, t) => {
      const room = uniq("recover");
      const alice = await chatConnect(server, uniq("alice"), {
        combo, recover: true, opts: { reconnection: true, reconnectionDelay: AWAY_MS, reconnectionDelayMax: AWAY_MS, randomizationFactor: 0 },
      });
      const bob = await chatConnect(server, uniq("bob"));
      // the room's other members: carol chats, dave (polling) listens
      const carol = await chatConnect(server, uniq("carol"));
      const dave = await chatConnect(server, uniq("dave"), { combo: combos[1] });
      for (const s of [alice, bob, carol, dave]) await join(s, room);
      // each member's new-messages with their latency (carol's content is its send time)
      const others = { bob, carol, dave };
      const got = Object.fromEntries(Object.entries(others).map(([who, s]) => {
        const g = [];
        s.on("new-message", (m) => g.push({ id: m.id, sentAt: m.userId === carol.user.id ? Number(m.content) : null, latency: Date.now() - Number(m.content) }));
        return [who, g];
      }));
      const all = record(alice, "new-message");
      // alice's messages from bob (carol's are checked apart)
      const heard = () => all.filter(([m]) => m.userId === bob.user.id);
      const edits = record(alice, "message-edited");
      const deletions = record(alice, "message-deleted");
      const before = await send(bob, room, "before the cut");
      await until(() => heard().length === 1, 5000, "the first message");
      assert.equal(typeof heard()[0][1], "string", "a room broadcast carries its offset last");
      const talk = chatter(carol, room);
      await sleep(1000); // the others' baseline
      const firstId = alice.id;
      assert.equal(alice.recovered, false, "a first connection is not recovered");

      const gone = waitFor(alice, "disconnect", 5000, "the cut");
      const cutAt = Date.now();
      cut(alice);
      await gone;
      const missed = [];
      for (let i = 0; i < 5; i++) missed.push(await send(bob, room, `while away ${i}`));
      await ackOk(bob, "edit-message", { messageId: missed[1].id, content: "edited while away" });
      await ackOk(bob, "delete-message", missed[2].id);

      await waitFor(alice, "connect", AWAY_MS + 5000, "the reconnect");
      assert.equal(alice.recovered, true, "socket.recovered");
      assert.equal(alice.id, firstId, "the same socket id");
      await until(() => heard().length === 6 && deletions.length === 1, 5000, "the replay");
      const recoveredAt = Date.now();
      talk.stopped = true;
      await talk.done;
      assert.deepStrictEqual(ids(heard()), [before.id, ...missed.map((m) => m.id)], "every message once, in order");
      assert.deepStrictEqual(edits.map(([e]) => [e.messageId, e.content]), [[missed[1].id, "edited while away"]], "the edit made meanwhile");
      assert.deepStrictEqual(deletions.map(([id]) => id), [missed[2].id], "the deletion made meanwhile");

      // its room is back without a join-room, and live traffic follows the replay
      const live = await send(bob, room, "after the reconnect");
      await until(() => heard().length === 7, 5000, "a live message");
      await sleep(QUIET_MS);
      assert.deepStrictEqual(ids(heard()), [before.id, ...missed.map((m) => m.id), live.id], "then live, nothing twice");
      // carol's chat reached alice too, before, during and after the cut: once each, in order
      assert.deepStrictEqual(ids(all.filter(([m]) => m.userId === carol.user.id)), talk.acked.map((m) => m.id), "carol's messages once each, in order");

      // the others never noticed: every acknowledged message once, and carol's chat as fast
      // while alice was cut off and recovering as before
      const acked = [before, ...missed, live, ...talk.acked].map((m) => m.id);
      for (const [who, g] of Object.entries(got)) assertEachOnce(who, g.map((x) => x.id), acked);
      const chat = Object.values(got).flat().filter((x) => x.sentAt !== null);
      assertP95Kept(t, `${combo.label}: the other members`, chat.filter((x) => x.sentAt < cutAt).map((x) => x.latency),
        chat.filter((x) => x.sentAt >= cutAt && x.sentAt < recoveredAt).map((x) => x.latency), { phases: ["before the cut", "while alice was cut and recovering"] });
      alice.close();
    });
  }

  test("SIGKILL and a restart on the same port and data directory: a client cut off just before comes back recovered, with what it missed before the crash and after the restart", { timeout: 40000 }, () => withScope(async () => {
    const dataDir = makeDataDir();
    let server = await startChat([], { dataDir });
    servers.push(server);
    try {
      await server.guard(async () => {
        const room = uniq("crash");
        const alice = await chatConnect(server, uniq("alice"), { recover: true, opts: { reconnection: true, reconnectionDelay: 1500, reconnectionDelayMax: 1500, randomizationFactor: 0 } });
        const bob = await chatConnect(server, uniq("bob"));
        await join(alice, room);
        await join(bob, room);
        const heard = record(alice, "new-message");
        const firstId = alice.id;
        const before = await send(bob, room, "before the crash");
        await until(() => heard.length === 1, 5000, "the first message");
        // alice's connection fails; the room goes on; then the process dies, before she is back
        const gone = waitFor(alice, "disconnect", 5000, "the cut");
        cut(alice);
        await gone;
        const lost = [];
        for (let i = 0; i < 3; i++) lost.push(await send(bob, room, `while away, just before the crash ${i}`));
        server.proc.kill("SIGKILL");
        bob.close();
        server = await startChat([], { dataDir, port: server.port });
        servers.push(server);
        assert.match(server.logs(), /recovery journal: \d+ broadcasts and \d+ sessions from the previous process/);
        await waitFor(alice, "connect", 10000, "the reconnect");
        assert.equal(alice.recovered, true, "socket.recovered after the crash");
        assert.equal(alice.id, firstId, "the same socket id");
        const bob2 = await chatConnect(server, bob.user.id);
        await join(bob2, room);
        const after = await send(bob2, room, "after the restart");
        await until(() => heard.some(([m]) => m.id === after.id), 5000, "a live message on the new process");
        await sleep(QUIET_MS);
        // what the crashed process had sent (or not) is replayed from the journal, once each
        const got = ids(heard);
        assert.equal(new Set(got).size, got.length, "nothing twice");
        assert.deepStrictEqual(got, [before, ...lost, after].map((m) => m.id), "every message once, in order");
        alice.close();
        bob2.close();
      })();
    } finally {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }));

  chatTest("who gets offsets: stock clients that do not ask get every room broadcast with exactly its documented arguments, and start afresh after a cut; one that asks gets the offset last", [], async (server) => {
    const room = uniq("offsets");
    const plain = {
      json: await chatConnect(server, uniq("plain"), { combo: combos[0], opts: { reconnection: true, reconnectionDelay: 300, randomizationFactor: 0 } }),
      msgpack: await chatConnect(server, uniq("plain"), { combo: { transport: combos[1].transport, parser: PARSERS.msgpack } }),
    };
    const asker = await chatConnect(server, uniq("asker"), { recover: true });
    const bob = await chatConnect(server, uniq("bob"));
    for (const s of [...Object.values(plain), asker]) await join(s, room);
    await sleep(QUIET_MS); // their joins' room-member-joined to each other
    const events = ["room-member-joined", "new-message", "message-edited", "messages-read", "message-deleted", "room-member-left"];
    const got = new Map([...Object.values(plain), asker].map((s) => [s, Object.fromEntries(events.map((e) => [e, record(s, e)]))]));
    await join(bob, room);
    const m = await send(bob, room, "hello");
    await ackOk(bob, "edit-message", { messageId: m.id, content: "edited" });
    await ackOk(bob, "mark-as-read", { roomId: room, messageIds: [m.id] });
    await ackOk(bob, "delete-message", m.id);
    await ackOk(bob, "leave-room", room);
    await until(() => [...got.values()].every((g) => events.every((e) => g[e].length === 1)), 5000, "every broadcast at every client");
    await sleep(QUIET_MS);
    const mine = got.get(asker);
    for (const [name, s] of Object.entries(plain)) {
      const g = got.get(s);
      for (const e of events) {
        assert.deepStrictEqual(g[e], [[mine[e][0][0]]], `${name} client that did not ask: '${e}' with exactly its documented argument`);
        assert.equal(mine[e][0].length, 2, `the client that asked: '${e}' with its offset`);
        assert.equal(typeof mine[e][0][1], "string", `the client that asked: '${e}'s offset`);
      }
      assert.deepStrictEqual(g["new-message"], [[m]], `${name}: new-message is the message alone`);
      assert.deepStrictEqual(g["message-deleted"], [[m.id]], `${name}: message-deleted is the id alone`);
      assert.deepStrictEqual(g["room-member-left"], [[{ roomId: room, userId: bob.user.id }]], `${name}: room-member-left`);
    }
    // it has no pid to come back with: a cut is a fresh start
    const id = plain.json.id;
    const gone = waitFor(plain.json, "disconnect", 5000, "the cut");
    cut(plain.json);
    await gone;
    await waitFor(plain.json, "connect", 5000, "the reconnect");
    assert.notEqual(plain.json.recovered, true, "a client that did not ask does not recover (socket.io-client leaves recovered unset without a pid)");
    assert.notEqual(plain.json.id, id, "a new socket id");
  });

  chatTest("--recovery-offsets all: a stock client that does not ask gets offsets and recovers, as with Socket.IO's connectionStateRecovery", ["--recovery-offsets", "all"], async (server) => {
    const room = uniq("all");
    const alice = await chatConnect(server, uniq("alice"), { opts: { reconnection: true, reconnectionDelay: 1000, reconnectionDelayMax: 1000, randomizationFactor: 0 } });
    const bob = await chatConnect(server, uniq("bob"));
    await join(alice, room);
    await join(bob, room);
    const heard = record(alice, "new-message");
    const before = await send(bob, room, "before");
    await until(() => heard.length === 1, 5000, "the first message");
    assert.equal(typeof heard[0][1], "string", "its offset, unasked");
    const id = alice.id;
    const gone = waitFor(alice, "disconnect", 5000, "the cut");
    cut(alice);
    await gone;
    const missed = await send(bob, room, "while away");
    await waitFor(alice, "connect", 5000, "the reconnect");
    assert.equal(alice.recovered, true, "socket.recovered");
    assert.equal(alice.id, id, "the same socket id");
    await until(() => heard.length === 2, 5000, "the replay");
    assert.deepStrictEqual(ids(heard), [before.id, missed.id], "what it missed, once");
  });

  chatTest("after --recovery-window the client starts afresh: a new id, no rooms, nothing replayed", ["--recovery-window", "1s"], async (server) => {
    const room = uniq("expired");
    const alice = await chatConnect(server, uniq("alice"), {
      recover: true, opts: { reconnection: true, reconnectionDelay: 2500, reconnectionDelayMax: 2500, randomizationFactor: 0 },
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
