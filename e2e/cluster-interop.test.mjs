// Same wire as Node Socket.IO's Redis adapter: a Node backend publishing with the stock
// @socket.io/redis-emitter reaches edgeio's clients in the named rooms on every node, and only
// them; a Node Socket.IO 4.8 server with @socket.io/redis-adapter and edgeio nodes on the same
// Redis deliver each other's room broadcasts (interop/node-server.mjs, interop/emit.mjs).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { combo, normalize, connect } from "./lib/client.mjs";
import { closeOrphans } from "./lib/scope.mjs";
import { chatConnect, ackOk, defaultName, sleep } from "./lib/chat.mjs";
import { E2E_DIR, ownChild } from "./lib/server.mjs";
import { startRedis, startNodes, waitForMesh, recordAll, step, withLogs, numsub } from "./lib/redis.mjs";


let redis;
let nodes = [];
let A, B, C;
let nodeServer; // the Node Socket.IO server: { url, proc, logs, alive, stop }
const S = {};
let all = [];

const ctest = (name, fn, opts = {}) => test(name, { timeout: 20000, ...opts }, withLogs(() => [...nodes, redis, nodeServer, emitter], fn));

/**
 * interop/emit.mjs, started once and fed one batch of operations a line; emit(ops) resolves
 * when Redis has taken every PUBLISH of the batch.
 */
let emitter;
function startEmitter() {
  const proc = ownChild(spawn(process.execPath, [path.join(E2E_DIR, "interop", "emit.mjs"), redis.url], {
    cwd: E2E_DIR, stdio: ["pipe", "pipe", "pipe"],
  }));
  let log = "";
  let exited = false;
  const waiting = [];
  proc.stderr.on("data", (d) => { log += d; });
  let out = "";
  proc.stdout.on("data", (d) => {
    out += d;
    log += d;
    let i;
    while ((i = out.indexOf("\n")) >= 0) {
      const line = out.slice(0, i);
      out = out.slice(i + 1);
      if (line.startsWith("done")) waiting.shift()?.resolve();
    }
  });
  const gone = new Promise((r) => proc.once("exit", (code) => {
    exited = true;
    for (const w of waiting.splice(0)) w.reject(new Error(`emit.mjs exited (${code}):\n${log}`));
    r();
  }));
  return {
    label: "emit.mjs (redis-emitter)", logs: () => log, alive: () => !exited,
    emit: (ops) => new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`emit.mjs: no answer within 10 s:\n${log}`)), 10000);
      waiting.push({ resolve: () => { clearTimeout(timer); resolve(); }, reject: (e) => { clearTimeout(timer); reject(e); } });
      proc.stdin.write(JSON.stringify(ops) + "\n");
    }),
    stop: async () => { proc.stdin.end(); const t = setTimeout(() => proc.kill("SIGKILL"), 2000); await gone; clearTimeout(t); },
  };
}
const emit = (ops) => emitter.emit(ops);

async function startNodeServer(redisUrl) {
  const proc = ownChild(spawn(process.execPath, [path.join(E2E_DIR, "interop", "node-server.mjs"), redisUrl], {
    cwd: E2E_DIR, stdio: ["ignore", "pipe", "pipe"],
  }));
  let log = "";
  proc.stderr.on("data", (d) => { log += d; });
  let exited = false;
  const gone = new Promise((r) => proc.once("exit", () => { exited = true; r(); }));
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node-server.mjs did not start within 10 s:\n${log}`)), 10000);
    let out = "";
    proc.stdout.on("data", (d) => {
      out += d;
      log += d;
      const m = out.match(/\{"listening":(\d+)\}/);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.once("exit", (code) => { clearTimeout(timer); reject(new Error(`node-server.mjs exited (${code}):\n${log}`)); });
  });
  return {
    url: `http://127.0.0.1:${port}`, proc, label: "node-server.mjs (Socket.IO 4.8 + redis-adapter)",
    logs: () => log, alive: () => !exited,
    stop: async () => {
      if (!exited) {
        proc.kill("SIGTERM");
        const t = setTimeout(() => proc.kill("SIGKILL"), 2000);
        await gone;
        clearTimeout(t);
      }
    },
  };
}

before(async () => {
  redis = await startRedis();
  nodes = await startNodes(redis, 3, { args: ["--typing-timeout", "3s"] }); // no auto-stop inside a step
  [A, B, C] = nodes;
  nodeServer = await startNodeServer(redis.url);
  emitter = startEmitter();
  await waitForMesh(nodes);
  // the Node adapter's PSUBSCRIBE socket.io#/#* is in place
  for (let i = 0; Number((await redis.cli("pubsub", "numpat")).trim()) < 1; i++) {
    if (i > 200) throw new Error("the Node adapter did not PSUBSCRIBE");
    await sleep(20);
  }
  const plan = [
    ["x1", A, "alice", combo("websocket", "json"), ["room-x"]],
    ["x2", B, "bob", combo("polling", "msgpack"), ["room-x"]],
    ["x3", C, "carol", combo("websocket", "msgpack"), ["room-x", "room-z"]],
    ["x4", C, "alice", combo("polling", "json"), []], // alice's second socket, in no room
    ["o1", B, "dave", combo("websocket", "json"), ["room-z"]],
    ["o2", A, "erin", combo("polling", "msgpack"), []],
  ];
  for (const [name, node, user, cb, rooms] of plan) {
    S[name] = recordAll(await chatConnect(node, user, { combo: cb }), `${name}(${user}@${node.nodeId.slice(0, 6)},${cb.label})`);
    for (const r of rooms) await ackOk(S[name], "join-room", r);
  }
  all = Object.values(S);
  await sleep(200);
}, { timeout: 30000 });

after(async () => {
  closeOrphans();
  await Promise.all([...nodes.map((n) => n.stop()), nodeServer && nodeServer.stop(), emitter && emitter.stop()]);
  if (redis) await redis.stop();
});

ctest("redis-emitter: to(room) reaches the room's sockets on every node once, and no one else", async () => {
  const { x1, x2, x3 } = S;
  const data = { text: "hello room-x", n: 1, nested: { ok: true, list: [1, "two", null] } };
  const { payloads } = await step("emitter.to('room-x').emit('announcement')", all,
    () => emit([{ to: "room-x", event: "announcement", data }]),
    [x1, x2, x3].map((s) => [s, "announcement", { text: "hello room-x" }]));
  for (const p of payloads) assert.deepStrictEqual(p, data);
  // the whole event, arguments and all
  for (const s of [x1, x2, x3]) assert.deepStrictEqual(s.log.map((e) => [e.event, ...e.args]), [["announcement", data]]);
});

ctest("redis-emitter: emit() without a room reaches every socket on every node once", async () => {
  const data = { text: "to everyone" };
  await step("emitter.emit('announcement-all')", all, () => emit([{ event: "announcement-all", data }]),
    all.map((s) => [s, "announcement-all", data]));
});

ctest("redis-emitter: several rooms (once per socket), except, personal rooms, binary", async () => {
  const { x1, x2, x3, x4, o1 } = S;
  await step("emitter.to(['room-x','room-z'])", all, () => emit([{ to: ["room-x", "room-z"], event: "multi", data: { k: 1 } }]),
    [x1, x2, x3, o1].map((s) => [s, "multi", { k: 1 }]));
  await step("emitter.to('room-x').except('user:bob')", all, () => emit([{ to: "room-x", except: "user:bob", event: "ex", data: { k: 2 } }]),
    [x1, x3].map((s) => [s, "ex", { k: 2 }]));
  await step("emitter.to('user:alice') reaches alice on nodes A and C", all, () => emit([{ to: "user:alice", event: "dm", data: { k: 3 } }]),
    [x1, x4].map((s) => [s, "dm", { k: 3 }]));
  const bytes = Buffer.from([0, 1, 2, 250, 255]);
  const { payloads } = await step("emitter.to('room-z').emit('bin', Buffer)", all,
    () => emit([{ to: "room-z", event: "bin", data: bytes.toString("base64"), binary: true }]),
    [x3, o1].map((s) => [s, "bin", () => true]));
  for (const p of payloads) assert.deepStrictEqual(normalize(p), normalize(bytes), "binary payload from the emitter");
});

ctest("a Node Socket.IO server with the Redis adapter and edgeio nodes exchange room broadcasts both ways", async () => {
  // y1 (alice, node A) and y2 (bob, node B) join room-y through edgeio
  const y1 = recordAll(await chatConnect(A, "alice", { combo: combo("websocket", "msgpack") }), "y1(alice@A)");
  const y2 = recordAll(await chatConnect(B, "bob", { combo: combo("polling", "json") }), "y2(bob@B)");
  await ackOk(y1, "join-room", "room-y");
  // a socket.io-client on the Node server, joined to room-y there
  const n1 = recordAll(await connect(nodeServer, { combo: combo("websocket", "json"), opts: { query: { room: "room-y" } } }), "n1(node-server)");
  const n2 = recordAll(await connect(nodeServer, { combo: combo("polling", "json"), opts: { query: { room: "room-other" } } }), "n2(node-server, not in room-y)");
  const everyone = [...all, y1, y2, n1, n2];
  // edgeio → Node: room-member-joined of bob reaches the Node server's room-y socket too
  await step("bob joins room-y on node B", everyone, () => ackOk(y2, "join-room", "room-y"), [
    [y1, "room-member-joined", { roomId: "room-y", user: { userId: "bob" } }],
    [n1, "room-member-joined", { roomId: "room-y", user: { userId: "bob", username: defaultName("bob"), status: "online" } }],
  ]);
  const subs = await numsub(redis, ["socket.io#/#room-y#"]);
  assert.equal(subs["socket.io#/#room-y#"], 2, "nodes A and B hold room-y's channel");

  // Node → edgeio: io.to("room-y").emit("from-node", ...) on the Node server
  const data = { from: "node", n: 42, list: ["a", { b: true }] };
  const { payloads } = await step("Node server: io.to('room-y').emit('from-node')", everyone,
    () => ackOk(n1, "broadcast", { room: "room-y", event: "from-node", data }),
    [y1, y2, n1].map((s) => [s, "from-node", { from: "node" }]));
  for (const p of payloads) assert.deepStrictEqual(p, data);
  // Node → edgeio, to everyone
  await step("Node server: io.emit('node-all')", everyone,
    () => ackOk(n2, "broadcast", { event: "node-all", data: { all: true } }),
    everyone.map((s) => [s, "node-all", { all: true }]));

  // edgeio → Node: send-message in room-y
  const { result, payloads: got } = await step("alice (node A) sends in room-y", everyone,
    () => ackOk(y1, "send-message", { roomId: "room-y", content: "to node and back", clientMsgId: "interop-1" }),
    [y1, y2, n1].map((s) => [s, "new-message", { roomId: "room-y", clientMsgId: "interop-1" }]));
  for (const p of got) assert.deepStrictEqual(normalize(p), normalize(result.message), "new-message equals the stored message");
  // edgeio → Node: typing (except the typist's personal room, which the Node socket is not in)
  await step("bob (node B) typing in room-y", everyone, () => ackOk(y2, "typing-start", "room-y"),
    [y1, n1].map((s) => [s, "user-typing", { roomId: "room-y", userId: "bob", isTyping: true }]));
  await step("bob (node B) stops typing", everyone, () => ackOk(y2, "typing-stop", "room-y"),
    [y1, n1].map((s) => [s, "user-typing", { roomId: "room-y", userId: "bob", isTyping: false }]));
});
