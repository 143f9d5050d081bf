// Big rooms (docs/events.md, "Big rooms"): from --big-room members on, joins and leaves,
// presence, receipts and typing reach a room's members coalesced once a --big-room-tick, so
// that a join storm costs packets in proportion to the members, not to their square. Stock
// socket.io-client, one room of 200 with a threshold of 50.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startChat, chatConnect, join, ackOk, send, sleep, uniq } from "./lib/chat.mjs";
import { metricValue } from "./lib/hostile.mjs";
import { request } from "./lib/hostile.mjs";

const N = 200;
const THRESHOLD = 50;
const TICK_MS = 200;

describe("a room of 200 with --big-room 50", { concurrency: false }, () => {
  let server;
  const sockets = [];
  const room = uniq("live");
  const packetsOut = async () => {
    const m = /admin listening on (\S+)/.exec(server.logs());
    const r = await request(`http://${m[1]}/metrics`);
    return metricValue(r.text, "edgeio_packets_out_total");
  };

  before(async () => {
    server = await startChat(["--big-room", String(THRESHOLD), "--big-room-tick", `${TICK_MS}ms`]);
  });
  after(async () => {
    for (const s of sockets) s.close();
    await server?.stop();
  });

  test("a join storm of 200 costs packets in proportion to the members: room-members-changed once a tick, not room-member-joined to everyone for each", async (t) => {
    for (let i = 0; i < N; i++) sockets.push(await chatConnect(server, `fan-${i}`));
    const joinedEvents = sockets.map(() => 0);
    const counts = sockets.map(() => ({ joined: 0, memberCount: 0 }));
    sockets.forEach((s, i) => {
      s.on("room-member-joined", () => { joinedEvents[i]++; });
      s.on("room-members-changed", (ev) => {
        assert.equal(ev.roomId, room);
        assert.ok(ev.joined.length <= 20 && ev.left.length <= 20, "short lists");
        counts[i].joined += ev.joinedCount;
        counts[i].memberCount = Math.max(counts[i].memberCount, ev.memberCount);
      });
    });
    const before = await packetsOut();
    await Promise.all(sockets.map((s) => join(s, room)));
    await sleep(3 * TICK_MS);
    const spent = (await packetsOut()) - before;
    t.diagnostic(`join storm of ${N}: ${spent} packets out (one room-member-joined to everyone for each join would be ${N * (N - 1) / 2})`);
    // below the threshold joins are announced one by one (at most 50²/2); above it, one
    // event a member a tick; plus the 200 acks
    assert.ok(spent < (THRESHOLD * THRESHOLD) / 2 + 15 * N, `${spent} packets for a join storm of ${N}`);
    assert.ok(joinedEvents[0] < THRESHOLD, `the first member got ${joinedEvents[0]} room-member-joined`);
    assert.equal(counts[0].memberCount, N, "the first member learns the room's size");
    assert.ok(counts[0].joined >= N - THRESHOLD, `the first member counted ${counts[0].joined} joins in room-members-changed`);
  });

  test("presence, receipts and typing arrive coalesced; the readers' own sockets still get messages-read", async () => {
    const [watcher, ...rest] = sockets;
    const changers = rest.slice(0, 20);
    const presence = [];
    const reads = [];
    const typing = [];
    let single = 0;
    watcher.on("room-presence-changed", (ev) => presence.push(ev));
    watcher.on("room-reads", (ev) => reads.push(ev));
    watcher.on("room-typing", (ev) => typing.push(ev));
    for (const e of ["presence-update", "messages-read", "user-typing"]) watcher.on(e, () => { single++; });

    await Promise.all(changers.map((s) => ackOk(s, "update-presence", "away")));
    const msg = await send(rest[30], room, "hello big room");
    const reader = changers[0];
    const readersOwn = await chatConnect(server, reader.user.id);
    const own = new Promise((resolve) => readersOwn.on("messages-read", resolve));
    await Promise.all(changers.map((s) => ackOk(s, "mark-as-read", { roomId: room, messageIds: [msg.id] })));
    changers.slice(0, 3).forEach((s) => s.emit("typing-start", room));
    await sleep(3 * TICK_MS);

    assert.equal(single, 0, "no per-member presence-update, messages-read or user-typing to the watcher");
    const statuses = presence.reduce((n, ev) => n + ev.count, 0);
    assert.equal(statuses, 20, "twenty status changes counted");
    assert.ok(presence.length <= 4, `${presence.length} room-presence-changed for 20 changes`);
    assert.ok(presence.flatMap((ev) => ev.users).every((u) => u.status === "away"));
    assert.equal(reads.reduce((n, ev) => n + ev.count, 0), 20, "twenty receipts counted");
    assert.ok(reads.flatMap((ev) => ev.readers).every((r) => r.lastReadId === msg.id));
    // (typing ends by itself after the test server's --typing-timeout of 500 ms: a later
    // room-typing says so)
    assert.ok(typing.some((ev) => ev.count === 3 && ev.users.length === 3), `room-typing ${JSON.stringify(typing)}`);
    const ownRead = await own;
    assert.deepEqual(ownRead.messageIds, [msg.id], "the reader's other device hears of its own read");
    readersOwn.close();
  });

  test("get-room-presence pages a big room: every member once, with memberCount", async () => {
    const seen = new Set();
    let afterId;
    for (;;) {
      const r = await ackOk(sockets[0], "get-room-presence", { roomId: room, limit: 60, ...(afterId ? { after: afterId } : {}) });
      assert.equal(r.memberCount, N);
      assert.ok(r.users.length <= 60);
      for (const u of r.users) { assert.ok(!seen.has(u.userId), `${u.userId} twice`); seen.add(u.userId); }
      if (!r.hasMore) break;
      afterId = r.users.at(-1).userId;
    }
    assert.equal(seen.size, N);
  });
});
