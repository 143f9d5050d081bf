// The TypeScript SDK (hub/sdk, @edgeio/client) in Node against the real binary, with both
// parsers: typed calls resolve to the acks of docs/events.md and handlers get payloads
// without the recovery offset; server refusals reject with their codes; a server that does
// not answer makes TIMEOUT; sends made while the server is down (drained, or killed) are
// delivered once each after it is back; a send whose ack was lost is sent again and not
// duplicated; getToken is asked again for every connect, and what it gives is what is used.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { EdgeioClient, EdgeioError, backoffDelay } from "../hub/sdk/dist/index.js";
import { track, withScope } from "./lib/scope.mjs";
import { startChat, makeDataDir, tokenFor, uniq, sleep, WAIT_MS, QUIET_MS, waitFor } from "./lib/chat.mjs";
import { parsersUnderTest } from "./lib/client.mjs";

const servers = [];
after(async () => {
  for (const s of servers) await s.stop();
});

async function chat(args = [], opts = {}) {
  const s = await startChat(args, opts);
  servers.push(s);
  return s;
}

/** An SDK client of user sub, connected; quick reconnects for the tests. */
async function client(server, sub, options = {}) {
  const c = track(new EdgeioClient({
    url: server.url,
    getToken: () => tokenFor(sub),
    timeoutMs: WAIT_MS,
    reconnect: { initialDelayMs: 100, maxDelayMs: 400 },
    ...options,
  }));
  if (options.autoConnect !== false) await connected(c);
  return c;
}

function connected(c) {
  return c.connected ? Promise.resolve() : waitFor(c, "connect", WAIT_MS, "the SDK's connect");
}

/** Records the calls of a handler of c's event: each entry is the arguments of one call. */
function record(c, event) {
  const calls = [];
  c.on(event, (...args) => calls.push(args));
  return calls;
}

async function until(pred, what, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function rejects(promise, code, what) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof EdgeioError, `${what}: an EdgeioError, got ${err}`);
    assert.equal(err.code, code, `${what}: ${err.message}`);
    return true;
  });
}

/** Every message of a room (history pages, oldest first). */
async function everything(c, roomId) {
  const out = [];
  let before;
  for (;;) {
    const page = await c.getHistory({ roomId, limit: 100, before });
    out.unshift(...page.messages);
    if (!page.hasMore) return out;
    before = page.messages[0].id;
  }
}

const countOf = (list, key) => list.filter((x) => x === key).length;

function stopped(pid) {
  const state = (task) => readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8").split(") ")[1]?.[0];
  return readdirSync(`/proc/${pid}/task`).every((t) => state(t) === "T");
}

for (const parser of parsersUnderTest()) {
  test(`${parser.name}: typed calls resolve, handlers get payloads, refusals reject with the server's codes`, { timeout: 30000 }, () => withScope(async () => {
    const server = await chat();
    const room = uniq("sdk");
    const [ana, ben] = [uniq("ana"), uniq("ben")];
    const a = await client(server, ana, { parser: parser.name });
    const b = await client(server, ben, { parser: parser.name });

    const joined = await a.joinRoom(room);
    assert.deepStrictEqual(joined, { ok: true, roomId: room, lastReadId: null, unreadCount: 0 });
    const memberJoined = waitFor(a, "room-member-joined", WAIT_MS);
    await b.joinRoom(room);
    const [j, ...extra] = await memberJoined;
    assert.equal(extra.length, 0, "the handler gets the payload alone");
    assert.equal(j.user.userId, ben);
    assert.deepStrictEqual(a.joinedRooms, [room]);

    const onB = record(b, "new-message");
    const raw = [];
    b.socket.on("new-message", (...args) => raw.push(args));
    const m = await a.sendMessage({ roomId: room, content: "hello" });
    assert.equal(m.content, "hello");
    assert.equal(m.userId, ana);
    assert.match(m.clientMsgId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "the SDK gave it a clientMsgId");
    await until(() => onB.length === 1, "ben's new-message");
    assert.equal(onB[0].length, 1, "one argument: the payload");
    assert.deepStrictEqual(onB[0][0], m);
    assert.equal(raw[0].length, 2, "on the wire, the recovery offset follows");
    assert.equal(typeof raw[0][1], "string");

    const edited = waitFor(b, "message-edited", WAIT_MS);
    const e = await a.editMessage(m.id, "hello again");
    assert.equal(e.content, "hello again");
    assert.ok(e.editedAt);
    assert.deepStrictEqual((await edited)[0], { messageId: m.id, roomId: room, content: "hello again", editedAt: e.editedAt });

    const read = waitFor(a, "messages-read", WAIT_MS);
    assert.deepStrictEqual(await b.markAsRead(room, [m.id]), { ok: true, roomId: room, lastReadId: m.id });
    const [r] = await read;
    assert.deepStrictEqual([r.roomId, r.userId, r.messageIds], [room, ben, [m.id]]);

    const typing = record(a, "user-typing");
    assert.deepStrictEqual(await b.startTyping(room), { ok: true });
    await until(() => typing.length === 1, "typing start");
    assert.deepStrictEqual(await b.stopTyping(room), { ok: true });
    await until(() => typing.length === 2, "typing stop");
    assert.deepStrictEqual(typing.map(([t]) => [t.userId, t.isTyping]), [[ben, true], [ben, false]]);

    const presence = waitFor(a, "presence-update", WAIT_MS);
    assert.deepStrictEqual(await b.updatePresence("away"), { ok: true, status: "away" });
    assert.deepStrictEqual((await presence)[0], { userId: ben, status: "away" });
    const who = await a.getRoomPresence(room);
    assert.deepStrictEqual(who.users.map((u) => [u.userId, u.status]).sort(), [[ana, "online"], [ben, "away"]].sort());

    const h = await b.getHistory({ roomId: room });
    assert.deepStrictEqual([h.ok, h.roomId, h.hasMore, h.messages.map((x) => x.content)], [true, room, false, ["hello again"]]);

    // refusals
    const other = uniq("other");
    await rejects(a.sendMessage({ roomId: other, content: "x" }), "NOT_IN_ROOM", "send to a room not joined");
    const bens = await b.sendMessage({ roomId: room, content: "ben's" });
    await rejects(a.editMessage(bens.id, "mine now"), "FORBIDDEN", "editing another's message");
    await rejects(a.deleteMessage(bens.id), "FORBIDDEN", "deleting another's message");
    await rejects(a.joinRoom("not a room id!"), "INVALID_PAYLOAD", "a bad room id");
    await rejects(a.getHistory({ roomId: room, limit: 1000 }), "INVALID_PAYLOAD", "limit 1000");
    await rejects(a.leaveRoom(other), "NOT_IN_ROOM", "leaving a room not joined");
    const err = await a.sendMessage({ roomId: other, content: "x", clientMsgId: "mine-1" }).catch((x) => x);
    assert.deepStrictEqual([err.event, err.clientMsgId], ["send-message", "mine-1"], "the error says which send");

    const deleted = waitFor(b, "message-deleted", WAIT_MS);
    assert.equal(await a.deleteMessage(m.id), m.id);
    assert.deepStrictEqual(await deleted, [m.id], "the id alone, no offset");
    await rejects(a.deleteMessage(m.id), "NOT_FOUND", "deleting it again");

    const left = waitFor(b, "room-member-left", WAIT_MS);
    assert.deepStrictEqual(await a.leaveRoom(room), { ok: true, roomId: room });
    assert.deepStrictEqual((await left)[0], { roomId: room, userId: ana });
    assert.deepStrictEqual(a.joinedRooms, []);
    a.close();
    await rejects(a.getHistory({ roomId: room }), "DISCONNECTED", "a call after close()");
  }));
}

test("a server that does not answer: TIMEOUT; the send retried with its clientMsgId is one message", { timeout: 30000 }, () => withScope(async () => {
  const server = await chat();
  const room = uniq("sdk");
  const a = await client(server, uniq("ana"));
  const b = await client(server, uniq("ben"));
  await a.joinRoom(room);
  await b.joinRoom(room);
  const onB = record(b, "new-message");

  let retry;
  server.proc.kill("SIGSTOP"); // connected, but nobody answers
  try {
    // the stop takes effect once one of its threads runs (on a busy machine, later): wait
    // until every thread is stopped (state T in /proc)
    await until(() => stopped(server.proc.pid), "the server stopped");
    await rejects(a.getHistory({ roomId: room }, { timeoutMs: 300 }), "TIMEOUT", "history from a stopped server");
    const err = await a.sendMessage({ roomId: room, content: "late" }, { timeoutMs: 300 }).catch((x) => x);
    assert.equal(err.code, "TIMEOUT");
    assert.ok(err.clientMsgId, "a timed-out send says its clientMsgId");
    assert.equal(a.queueSize, 0, "a timed-out send leaves the queue");
    retry = err.clientMsgId;
  } finally {
    server.proc.kill("SIGCONT");
  }
  const m = await a.sendMessage({ roomId: room, content: "late", clientMsgId: retry });
  assert.equal(m.clientMsgId, retry);
  await until(() => onB.length >= 1, "ben's new-message");
  await sleep(QUIET_MS);
  assert.deepStrictEqual(onB.map(([x]) => x.id), [m.id], "ben got it once");
  assert.equal(countOf((await everything(a, room)).map((x) => x.clientMsgId), retry), 1, "stored once");
}));

test("offline queue: sends while the server is down (drained; killed and back without recovery) arrive once each after it is back", { timeout: 60000 }, () => withScope(async () => {
  const dataDir = makeDataDir();
  try {
    let server = await chat([], { dataDir });
    const port = server.port;
    const room = uniq("sdk");
    const a = await client(server, uniq("ana"), { queueLimit: 3 });
    const b = await client(server, uniq("ben"));
    await a.joinRoom(room);
    await b.joinRoom(room);
    const onB = record(b, "new-message");
    const aConnects = record(a, "connect");
    const queued = record(a, "queue");

    // 1. a graceful stop (SIGTERM drains, recovery state saved) and a restart on the same data
    const down = waitFor(a, "disconnect", WAIT_MS);
    await server.stop();
    await down;
    assert.equal(a.connected, false);
    const sends = ["one", "two", "three"].map((content) => a.sendMessage({ roomId: room, content }));
    assert.equal(a.queueSize, 3);
    assert.deepStrictEqual(queued.map(([n]) => n).slice(-3), [1, 2, 3], "queue events count up");
    await rejects(a.sendMessage({ roomId: room, content: "four" }), "QUEUE_FULL", "a fourth send over queueLimit 3");
    await rejects(a.joinRoom(uniq("x"), { timeoutMs: 300 }), "DISCONNECTED", "a call that found no connection in time");
    await rejects(a.startTyping(room), "DISCONNECTED", "typing while offline");
    await sleep(300); // a few reconnect attempts fail meanwhile
    server = await chat([], { dataDir, port });
    const sent = await Promise.all(sends);
    assert.deepStrictEqual(sent.map((m) => m.content), ["one", "two", "three"]);
    assert.ok(sent[0].id < sent[1].id && sent[1].id < sent[2].id, "stored in the order sent");
    assert.equal(a.queueSize, 0);
    await until(() => onB.length >= 3, "ben's three messages");

    // 2. killed, and back without recovery (--recovery-window 0: as for a client back too
    // late, or on another node): the SDK joins its rooms again before it sends what waited
    server.proc.kill("SIGKILL");
    await once(server.proc, "exit");
    await until(() => !a.connected && !b.connected, "both clients see the server gone");
    const more = ["five", "six"].map((content) => a.sendMessage({ roomId: room, content }));
    await sleep(300);
    server = await chat(["--recovery-window", "0"], { dataDir, port });
    const sent2 = await Promise.all(more);
    assert.equal(aConnects.at(-1)[0].recovered, false, "a fresh session");
    assert.deepStrictEqual(a.joinedRooms, [room]);

    const all = await everything(a, room);
    const ids = all.map((x) => x.clientMsgId);
    for (const m of [...sent, ...sent2]) assert.equal(countOf(ids, m.clientMsgId), 1, `"${m.content}" stored once`);
    assert.deepStrictEqual(all.map((x) => x.content), ["one", "two", "three", "five", "six"]);
    await sleep(QUIET_MS);
    const seen = onB.map(([x]) => x.clientMsgId);
    for (const m of sent) assert.equal(countOf(seen, m.clientMsgId), 1, `ben got "${m.content}" once`);
    for (const m of sent2) assert.ok(countOf(seen, m.clientMsgId) <= 1, `ben got "${m.content}" at most once live`);
    await server.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}));

test("a send whose ack was lost goes again on reconnect with its clientMsgId: one message", { timeout: 30000 }, () => withScope(async () => {
  const server = await chat();
  const room = uniq("sdk");
  const a = await client(server, uniq("ana"), { autoConnect: false });
  // the network loses the next ack: drop it before socket.io-client sees it
  let dropAck = false;
  const onpacket = a.socket.onpacket;
  a.socket.onpacket = function (packet) {
    if (dropAck && packet.type === 3) {
      dropAck = false;
      return;
    }
    return onpacket.call(this, packet);
  };
  a.connect();
  await connected(a);
  const b = await client(server, uniq("ben"));
  await a.joinRoom(room);
  await b.joinRoom(room);
  const onB = record(b, "new-message");

  dropAck = true;
  let settled = false;
  const p = a.sendMessage({ roomId: room, content: "once" }).finally(() => { settled = true; });
  await until(() => onB.length === 1, "ben's new-message");
  await sleep(QUIET_MS);
  assert.equal(settled, false, "no ack: the send is still waiting");
  assert.equal(a.queueSize, 1);
  a.socket.io.engine.close(); // the connection goes; the SDK sends it again on the next
  const m = await p;
  assert.equal(m.id, onB[0][0].id, "the answer is the message ben saw");
  await sleep(QUIET_MS);
  assert.equal(onB.length, 1, "ben got it once");
  assert.equal((await everything(a, room)).length, 1, "stored once");
}));

test("getToken: asked before every connect; a refused or failed token is replaced by the next", { timeout: 30000 }, () => withScope(async () => {
  const server = await chat();
  const sub = uniq("dana");
  const expired = () => tokenFor(sub, { exp: Math.floor(Date.now() / 1000) - 3600 });
  // what getToken does on each call, in turn
  const plan = [
    () => { throw new Error("token service down"); },
    expired,
    () => tokenFor(sub),
    expired, // after the connection is cut: this one must be what the server sees
    () => tokenFor(sub),
  ];
  let calls = 0;
  const errors = [];
  const c = await client(server, sub, {
    autoConnect: false,
    getToken: async () => plan[Math.min(calls++, plan.length - 1)](),
  });
  c.on("connect_error", (e) => errors.push(e.code));
  c.connect();
  await connected(c);
  assert.equal(calls, 3, "a failed getToken and an expired token were replaced");
  assert.deepStrictEqual(errors, ["UNAUTHORIZED", "TOKEN_EXPIRED"]);
  await c.joinRoom(uniq("r"));

  const back = waitFor(c, "connect", WAIT_MS);
  c.socket.io.engine.close();
  await back;
  assert.equal(calls, 5, "asked again on reconnect");
  assert.deepStrictEqual(errors, ["UNAUTHORIZED", "TOKEN_EXPIRED", "TOKEN_EXPIRED"], "the refreshed (expired) token was the one sent");
  assert.equal((await c.getHistory({ roomId: uniq("r") })).ok, true, "connected and answering");
}));

test("a full address: RATE_LIMITED, and the SDK connects by itself once a place is free, not before its retryAfterMs", { timeout: 30000 }, () => withScope(async () => {
  const server = await chat(["--max-conns-per-ip", "1"]);
  const first = await client(server, uniq("erin"));
  const second = await client(server, uniq("erin"), { autoConnect: false });
  const errors = record(second, "connect_error");
  second.connect();
  await until(() => errors.length === 1, "the refusal");
  const [err] = errors[0];
  assert.equal(err.code, "RATE_LIMITED", err.message);
  assert.equal(err.retryAfterMs, 5000, "the server's hint");
  const refusedAt = Date.now();
  first.close();
  await waitFor(second, "connect", 10000, "the SDK's own retry");
  assert.ok(Date.now() - refusedAt >= 4500, `retried after the server's retryAfterMs (${Date.now() - refusedAt} ms)`);
  assert.equal(errors.length, 1, "one refusal, then the retry that connects");
}));

test("backoff: doubling from the first delay up to the largest, moved by up to the jitter", () => {
  const o = { initialDelayMs: 100, maxDelayMs: 1000, jitter: 0.5 };
  const mid = () => 0.5; // no move
  assert.deepStrictEqual([0, 1, 2, 3, 4, 10, 60].map((n) => backoffDelay(n, o, mid)), [100, 200, 400, 800, 1000, 1000, 1000]);
  assert.equal(backoffDelay(2, o, () => 0), 200, "down by half at most");
  assert.equal(backoffDelay(2, o, () => 0.999999), 600, "up by half at most");
  assert.equal(backoffDelay(5, o, () => 0.999999), 1000, "never past the largest");
  const seen = new Set(Array.from({ length: 50 }, () => backoffDelay(3, o)));
  assert.ok(seen.size > 10, "Math.random spreads the clients out");
});
