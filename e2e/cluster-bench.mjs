// Cluster figures for the notes (not a test: `node cluster-bench.mjs`, about 30 s).
//
// (a) Message delivery latency, send-message emitted → new-message received, p50/p95/p99:
//     30 clients in 10 rooms (per room: a sender and two receivers), 500 messages at a steady
//     rate, on one node without Redis (embedded store), one node with Redis, and three nodes on
//     one Redis with every sender on node A and the receivers on nodes B and C (after 100
//     unmeasured warm-up messages each).
// (b) Redis pub/sub traffic: 100 rooms spread over 3 nodes, every room's members on one node,
//     5 messages in every room; edgeio_redis_received_total of each node against what the
//     stock Node adapter would receive (it PSUBSCRIBEs to everything: every node receives
//     every published message). Also with every room spanning two nodes.
//
// Options (environment): BENCH_MESSAGES (500), BENCH_RATE (messages per second, 200).
import { performance } from "node:perf_hooks";
import { closeOrphans } from "./lib/scope.mjs";
import { freePort } from "./lib/server.mjs";
import { startChat, chatConnect, ackOk, sleep } from "./lib/chat.mjs";
import { startRedis, startNodes, waitForMesh, parseMetrics } from "./lib/redis.mjs";

const MESSAGES = Number(process.env.BENCH_MESSAGES || 500);
const RATE = Number(process.env.BENCH_RATE || 200);
const ROOMS_A = 10;
const WARMUP = 100;

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const fmt = (x) => x.toFixed(2);

function summary(samples) {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: pct(s, 50), p95: pct(s, 95), p99: pct(s, 99), max: s[s.length - 1] };
}

/** (a) one latency run: senders[i] and receivers[i] (a list) share room i. */
async function latencyRun(label, senderNodes, receiverNodes) {
  const rooms = Array.from({ length: ROOMS_A }, (_, i) => `lat-${i}`);
  const senders = [];
  const receivers = [];
  for (const [i, room] of rooms.entries()) {
    const s = await chatConnect(senderNodes[i % senderNodes.length], `sender-${i}`);
    await ackOk(s, "join-room", room);
    senders.push(s);
    for (const [k, node] of receiverNodes.entries()) {
      const r = await chatConnect(node, `recv-${i}-${k}`);
      await ackOk(r, "join-room", room);
      receivers.push(r);
    }
  }
  await sleep(300);
  // warm-up (not measured): JIT of this process, connections and scripts on the server side
  for (let k = 0; k < WARMUP; k++) {
    await ackOk(senders[k % ROOMS_A], "send-message", { roomId: rooms[k % ROOMS_A], content: `w${k}` });
  }
  await sleep(200);
  const sentAt = new Map();
  const lat = [];
  const acks = [];
  let received = 0;
  for (const r of receivers) {
    r.on("new-message", (m) => {
      const t = sentAt.get(m.clientMsgId);
      if (t !== undefined) { lat.push(performance.now() - t); received++; }
    });
  }
  const expected = MESSAGES * receiverNodes.length;
  const gap = 1000 / RATE;
  const start = performance.now();
  const pending = [];
  for (let k = 0; k < MESSAGES; k++) {
    const due = start + k * gap;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const i = k % ROOMS_A;
    const cid = `${label}-${k}`;
    const t = performance.now();
    sentAt.set(cid, t);
    pending.push(ackOk(senders[i], "send-message", { roomId: rooms[i], content: `m${k}`, clientMsgId: cid }).then(() => acks.push(performance.now() - t)));
  }
  await Promise.all(pending);
  const deadline = Date.now() + 10000;
  while (received < expected && Date.now() < deadline) await sleep(20);
  closeOrphans();
  return { label, delivered: `${received}/${expected}`, deliver: summary(lat), ack: summary(acks) };
}

async function metricsOf(node) {
  return parseMetrics(await (await node.admin("/metrics")).text());
}

/** (b) one fan-out run: room r's sender on nodes[place(r)[0]], its receiver on nodes[place(r)[1]]. */
async function fanoutRun(label, nodes, place) {
  const rooms = Array.from({ length: 100 }, (_, i) => `fan-${i}`);
  const pairs = [];
  for (const [i, room] of rooms.entries()) {
    const [sn, rn] = place(i);
    const s = await chatConnect(nodes[sn], `fs-${i}`);
    const r = await chatConnect(nodes[rn], `fr-${i}`);
    await ackOk(s, "join-room", room);
    await ackOk(r, "join-room", room);
    pairs.push([s, r, room]);
  }
  await sleep(500);
  let got = 0;
  for (const [, r] of pairs) r.on("new-message", () => { got++; });
  const before = await Promise.all(nodes.map(metricsOf));
  const PER_ROOM = 5;
  for (let k = 0; k < PER_ROOM; k++) {
    await Promise.all(pairs.map(([s, , room]) => ackOk(s, "send-message", { roomId: room, content: `x${k}` })));
  }
  const deadline = Date.now() + 10000;
  while (got < rooms.length * PER_ROOM && Date.now() < deadline) await sleep(20);
  await sleep(300);
  const afterM = await Promise.all(nodes.map(metricsOf));
  closeOrphans();
  const d = (k) => afterM.map((m, i) => m[k] - before[i][k]);
  const published = d("edgeio_redis_published_total");
  const receivedPer = d("edgeio_redis_received_total");
  const totalPublished = published.reduce((a, b) => a + b, 0);
  const stockPerNode = totalPublished; // the stock adapter: every node gets every message
  const ratio = receivedPer.reduce((a, b) => a + b, 0) / (stockPerNode * nodes.length);
  return { label, messages: rooms.length * PER_ROOM, delivered: got, published, totalPublished, receivedPer, stockPerNode, ratio };
}

const out = { when: new Date().toISOString(), messages: MESSAGES, rate: RATE };
let redis;
let all = [];
try {
  // ---- (a) latency ----
  const single = await startChat(["--admin-addr", `127.0.0.1:${await freePort()}`]);
  all.push(single);
  out.singleEmbedded = await latencyRun("single node, embedded store", [single], [single, single]);
  await single.stop();

  redis = await startRedis();
  const [solo] = await startNodes(redis, 1);
  all.push(solo);
  out.singleRedis = await latencyRun("single node, Redis store", [solo], [solo, solo]);
  await solo.stop();
  await redis.stop();

  redis = await startRedis();
  const three = await startNodes(redis, 3);
  all.push(...three);
  await waitForMesh(three);
  out.crossNode = await latencyRun("3 nodes: sender A → receivers B, C", [three[0]], [three[1], three[2]]);

  // ---- (b) fan-out traffic ----
  out.fanoutLocal = await fanoutRun("100 rooms, each on one node", three, (i) => [i % 3, i % 3]);
  out.fanoutTwo = await fanoutRun("100 rooms, each spanning two nodes", three, (i) => [i % 3, (i + 1) % 3]);
} finally {
  closeOrphans();
  await Promise.all(all.map((n) => n.stop()));
  if (redis) await redis.stop();
}

console.log(`\n(a) delivery latency, send-message emitted → new-message received (${MESSAGES} messages at ${RATE}/s, 10 rooms, 30 clients), ms`);
console.log("config".padEnd(40), "delivered".padEnd(10), "p50".padStart(7), "p95".padStart(7), "p99".padStart(7), "max".padStart(7), " | ack p50  ack p99");
for (const r of [out.singleEmbedded, out.singleRedis, out.crossNode]) {
  const x = r.deliver;
  console.log(r.label.padEnd(40), r.delivered.padEnd(10), fmt(x.p50).padStart(7), fmt(x.p95).padStart(7), fmt(x.p99).padStart(7), fmt(x.max).padStart(7),
    " |", fmt(r.ack.p50).padStart(7), fmt(r.ack.p99).padStart(8));
}
console.log("\n(b) Redis messages received per node (message phase only)");
for (const r of [out.fanoutLocal, out.fanoutTwo]) {
  console.log(`${r.label}: ${r.messages} messages sent, ${r.delivered} delivered; published by node ${r.published.join(" / ")} (total ${r.totalPublished})`);
  console.log(`  edgeio received per node: ${r.receivedPer.join(" / ")}; stock adapter would receive ${r.stockPerNode} per node; ratio ${r.ratio.toFixed(4)}`);
}
console.log("\n" + JSON.stringify(out));
