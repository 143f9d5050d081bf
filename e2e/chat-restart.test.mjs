// Durability: every acknowledged send-message, edit, delete and read mark survives a SIGKILL of
// the server. A new server on the same --data-dir serves them from get-history in order with
// the same ids, a clientMsgId retry still finds its message, and new ids sort after old ones.
// With --store memory nothing outlives the process.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { rmSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { serverBinary } from "./lib/server.mjs";
import { withScope, closeOrphans } from "./lib/scope.mjs";
import {
  startChat, makeDataDir, chatConnect, uniq, ack, ackOk, join, send, history, allIds, sleep, record,
  assertMessage, assertTombstone, defaultName, QUIET_MS,
} from "./lib/chat.mjs";

const dataDir = makeDataDir();
const servers = [];
after(async () => {
  closeOrphans();
  for (const s of servers) await s.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function killHard(server) {
  const gone = new Promise((resolve) => server.proc.once("exit", resolve));
  server.proc.kill("SIGKILL");
  await gone;
  await server.stop(); // removes its working directory; the data directory stays
}

test("acknowledged messages survive SIGKILL: same ids, same order, same content", { timeout: 60000 }, () => withScope(async () => {
  const first = await startChat([], { dataDir });
  servers.push(first);
  const room = uniq("durable");
  const quiet = uniq("quiet");
  const alice = uniq("alice");
  const bob = uniq("bob");
  const [a, b] = await Promise.all([chatConnect(first, alice), chatConnect(first, bob)]);
  for (const s of [a, b]) await join(s, room);
  await join(a, quiet);

  // Some settled state: an edited message, a deleted one, a read mark, a clientMsgId.
  const edited = await send(a, quiet, "before edit");
  const editAck = await ackOk(a, "edit-message", { messageId: edited.id, content: "after edit" });
  const doomed = await send(a, quiet, "to be deleted");
  await ackOk(a, "delete-message", doomed.id);
  const keyed = await send(b, room, "keyed", { clientMsgId: "restart-cid" });

  // Then a stream of sends from both users, pipelined, until the kill: every acked message
  // must be back after the restart; unacked ones may or may not be.
  const acked = [keyed];
  let stop = false;
  const pump = async (s, who) => {
    let n = 0;
    while (!stop) {
      const burst = [];
      for (let i = 0; i < 5; i++) {
        const content = `${who} #${n++}`;
        burst.push(new Promise((resolve) => {
          s.timeout(3000).emit("send-message", { roomId: room, content, clientMsgId: `${who}-${content}` }, (err, r) => {
            if (!err && r && r.ok) acked.push(r.message);
            resolve();
          });
        }));
      }
      await Promise.all(burst);
    }
  };
  const pumps = [pump(a, "a"), pump(b, "b")];
  const deadline = Date.now() + 20000;
  while (acked.length < 60 && Date.now() < deadline) await sleep(5);
  assert.ok(acked.length >= 60, `only ${acked.length} messages acknowledged in 20 s`);
  await ackOk(a, "mark-as-read", { roomId: room, messageIds: [acked[10].id] });
  // Kill while a burst of sends is still in flight (no new burst starts after the kill).
  stop = true;
  await killHard(first);
  // No ack can come after the kill; give the clients a moment to read what had arrived.
  await Promise.race([Promise.all(pumps), sleep(1000)]);
  const ackedNow = [...acked];

  const second = await startChat([], { dataDir });
  servers.push(second);
  const a2 = await chatConnect(second, alice);
  const b2 = await chatConnect(second, bob);
  const ids = await allIds(a2, room);
  const stored = new Set(ids);
  const missing = ackedNow.filter((m) => !stored.has(m.id));
  assert.deepStrictEqual(missing.map((m) => m.content), [], `acknowledged messages lost by the restart (${missing.length} of ${ackedNow.length})`);
  const order = ackedNow.map((m) => m.id).sort();
  assert.deepStrictEqual(ids.filter((id) => order.includes(id)), order, "acknowledged messages in creation order");
  // Each acknowledged message is back exactly as acknowledged.
  const byId = new Map();
  let before;
  for (;;) {
    const page = await history(b2, { roomId: room, limit: 100, ...(before ? { before } : {}) });
    for (const m of page.messages) byId.set(m.id, m);
    if (!page.hasMore) break;
    before = page.messages[0].id;
  }
  for (const m of ackedNow) assert.deepStrictEqual(byId.get(m.id), m, `message ${m.id} after the restart`);
  assert.equal(new Set(ids).size, ids.length, "no duplicates");

  // The settled state.
  const q = await history(a2, { roomId: quiet });
  assert.equal(q.messages.length, 2);
  assertMessage(q.messages[0], { ...editAck.message }, "edited message");
  assert.equal(q.messages[0].content, "after edit");
  assertTombstone(q.messages[1], { id: doomed.id, roomId: quiet }, "deleted message");
  const j = await ack(a2, "join-room", room);
  assert.equal(j.lastReadId, acked[10].id, "the read mark survived");

  // A clientMsgId retry after the restart returns the stored message and sends nothing.
  await join(b2, room);
  const heard = record(b2, "new-message");
  const retry = await ack(b2, "send-message", { roomId: room, content: "keyed", clientMsgId: "restart-cid" });
  assert.deepStrictEqual(retry, { ok: true, message: keyed });
  // New messages sort after everything from before the restart.
  const fresh = await send(b2, room, "after the restart");
  assert.ok(fresh.id > ids[ids.length - 1], `new id ${fresh.id} sorts after the last old id ${ids[ids.length - 1]}`);
  assertMessage(fresh, { roomId: room, userId: bob, username: defaultName(bob), content: "after the restart" });
  await sleep(QUIET_MS);
  assert.deepStrictEqual(heard.map(([m]) => m.id), [fresh.id], "only the new message was broadcast");
}));

test("--store memory: messages live as long as the process, nothing is written to --data-dir", { timeout: 30000 }, () => withScope(async () => {
  const memDir = makeDataDir();
  try {
    const first = await startChat(["--store", "memory"], { dataDir: memDir });
    servers.push(first);
    const room = uniq("ephemeral");
    const alice = uniq("alice");
    const a = await chatConnect(first, alice);
    await join(a, room);
    const sent = [await send(a, room, "one"), await send(a, room, "two")];
    assert.deepStrictEqual((await history(a, { roomId: room })).messages.map((m) => m.id), sent.map((m) => m.id), "history while it runs");
    await killHard(first);
    assert.ok(!existsSync(path.join(memDir, "edgeio.db")), "no store file in --data-dir");

    const second = await startChat(["--store", "memory"], { dataDir: memDir });
    servers.push(second);
    const a2 = await chatConnect(second, alice);
    await join(a2, room);
    assert.deepStrictEqual((await history(a2, { roomId: room })).messages, [], "a new process starts empty");
  } finally {
    rmSync(memDir, { recursive: true, force: true });
  }
}));

test("--store refuses what it cannot do, with a clear error", () => {
  for (const [args, want] of [
    [["--store", "sqlite"], /--store must be bolt or memory, not "sqlite"/],
    [["--store", "memory", "--redis-url", "redis://127.0.0.1:1"], /--store memory is one process's/],
  ]) {
    const out = spawnSync(serverBinary(), ["--addr", "127.0.0.1:0", "--admin-addr", "", ...args], { encoding: "utf8", timeout: 10000 });
    assert.notEqual(out.status, 0, `edgeio ${args.join(" ")} should not start`);
    assert.match(out.stderr, want, `edgeio ${args.join(" ")}`);
  }
});
