// Offline catch-up (docs/events.md): a user's joined rooms are remembered; each time it
// connects it gets one unread-counts event with its read watermark and unread count in each,
// and pages what it missed with get-history after the watermark. Leaving a room forgets it;
// the counts survive a restart; a user in no room gets no event.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { withScope, closeOrphans } from "./lib/scope.mjs";
import { makeClient, whenConnected } from "./lib/client.mjs";
import { startChat, makeDataDir, chatConnect, tokenFor, uniq, join, send, ackOk, history, sleep, waitFor, QUIET_MS } from "./lib/chat.mjs";

const dataDir = makeDataDir();
const servers = [];
after(async () => {
  closeOrphans();
  for (const s of servers) await s.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Connects user sub, listening for unread-counts from the very start; resolves with the
 * socket and what it got (null when nothing came within a moment). */
async function connectCounting(server, sub) {
  const socket = makeClient(server, { auth: { token: tokenFor(sub) }, opts: { autoConnect: false, transports: ["websocket"] } });
  const counts = waitFor(socket, "unread-counts", 2000).then(([c]) => c, () => null);
  socket.connect();
  await whenConnected(socket);
  return { socket, counts: await counts };
}

test("unread-counts on connect: watermark and unread count per joined room, history after the watermark, across a restart", { timeout: 60000 }, () => withScope(async () => {
  let server = await startChat([], { dataDir });
  servers.push(server);
  const alice = uniq("alice");
  const [r1, r2] = [uniq("a-room"), uniq("b-room")].sort();
  const bob = await chatConnect(server, uniq("bob"));
  await join(bob, r1);
  await join(bob, r2);

  const first = await connectCounting(server, alice);
  assert.equal(first.counts, null, "a user in no room gets no unread-counts");
  await join(first.socket, r1);
  await join(first.socket, r2);
  const read = await send(bob, r1, "read");
  await ackOk(first.socket, "mark-as-read", { roomId: r1, messageIds: [read.id] });
  await send(bob, r2, "r2 while here");
  await sleep(200); // the read mark's batch window
  first.socket.close();

  const missed = [];
  for (let i = 0; i < 4; i++) missed.push(await send(bob, r1, `missed ${i}`));
  const back = await connectCounting(server, alice);
  assert.deepStrictEqual(back.counts, { rooms: [
    { roomId: r1, lastReadId: read.id, unreadCount: 4 },
    { roomId: r2, lastReadId: null, unreadCount: 1 },
  ] }, "unread-counts after being away");
  const page = await history(back.socket, { roomId: r1, after: read.id });
  assert.deepStrictEqual(page.messages.map((m) => m.id), missed.map((m) => m.id), "what it missed, after its watermark, in order");

  // leaving forgets the room; the rest survives a restart
  await join(back.socket, r2);
  await ackOk(back.socket, "leave-room", r2);
  back.socket.close();
  bob.close();
  await server.stop();
  server = await startChat([], { dataDir });
  servers.push(server);
  const again = await connectCounting(server, alice);
  assert.deepStrictEqual(again.counts, { rooms: [{ roomId: r1, lastReadId: read.id, unreadCount: 4 }] }, "after leave-room and a restart");
  await sleep(QUIET_MS);
  again.socket.close();
}));
