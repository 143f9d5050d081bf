// Throw-away Redis for the cluster tests (cluster-*.test.mjs, cluster-bench.mjs): a standalone
// redis-server, or a three-master Redis Cluster, on free 127.0.0.1 ports with their files in a
// temporary directory; edgeio chat nodes joined through them (startNode/startNodes, each with
// its own client and admin port); and the event bookkeeping the cluster tests share
// (recordAll/step: each expected event exactly once at each socket, nothing else anywhere).
// Every process started here is killed when the test process exits, however it exits
// (server.mjs ownChild). E2E_STEP_TIMES=1 prints how long each step's action and arrivals took.
import { spawn, execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort, ownChild } from "./server.mjs";
import { startChat, waitForMatch } from "./chat.mjs";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const LOG_LIMIT = 64 * 1024;

/** Sends one inline command to 127.0.0.1:port; resolves with the raw reply ("" on failure). */
function rawCommand(port, line, ms = 500) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = "";
    const done = (v) => { sock.destroy(); resolve(v); };
    sock.setTimeout(ms, () => done(buf));
    sock.once("error", () => done(""));
    sock.once("connect", () => sock.write(line + "\r\n"));
    sock.on("data", (d) => {
      buf += d.toString();
      if (buf.includes("\r\n")) done(buf);
    });
  });
}

/** Runs redis-cli with args; resolves with its stdout (rejects on a non-zero exit). */
export function redisCli(args, ms = 10000) {
  return new Promise((resolve, reject) => {
    const child = execFile("redis-cli", args, { timeout: ms }, (err, stdout, stderr) => {
      if (err) reject(new Error(`redis-cli ${args.join(" ")}: ${err.message}\n${stdout}${stderr}`));
      else resolve(stdout);
    });
    ownChild(child);
  });
}

/**
 * Starts redis-server on `port` (a free one by default) with its files in `dir` (a new
 * temporary directory by default, removed by stop()). `persist` turns on the append-only
 * file with an fsync per write, so that a restart on the same port and dir keeps the data.
 * Resolves once it answers PING with PONG.
 */
export async function startRedis({ port, dir, persist = false, args = [], label = "redis" } = {}) {
  port = port ?? await freePort();
  const ownDir = !dir;
  dir = dir ?? mkdtempSync(path.join(os.tmpdir(), "edgeio-redis-"));
  const argv = [
    "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--dir", dir,
    "--protected-mode", "no",
    ...(persist ? ["--appendonly", "yes", "--appendfsync", "always"] : ["--appendonly", "no"]),
    ...args,
  ];
  const proc = ownChild(spawn("redis-server", argv, { stdio: ["ignore", "pipe", "pipe"] }));
  let log = "";
  const append = (c) => { log += c.toString(); if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT); };
  proc.stdout.on("data", append);
  proc.stderr.on("data", append);
  let exitInfo = null;
  const exited = new Promise((resolve) => proc.once("exit", (code, signal) => { exitInfo = { code, signal }; resolve(exitInfo); }));
  proc.once("error", (err) => append(`[spawn error] ${err.message}\n`));
  const alive = () => exitInfo === null && proc.exitCode === null && proc.signalCode === null;

  const deadline = Date.now() + 10000;
  for (;;) {
    if (!alive()) throw new Error(`${label} exited during start-up (${JSON.stringify(exitInfo)}):\n${log}`);
    if ((await rawCommand(port, "PING")).startsWith("+PONG")) break;
    if (Date.now() > deadline) {
      proc.kill("SIGKILL");
      throw new Error(`${label} did not answer PING on 127.0.0.1:${port} within 10 s:\n${log}`);
    }
    await sleep(20);
  }

  /** SIGKILL: a crash (what is fsynced survives when persist is on). */
  const kill = async () => {
    if (alive()) proc.kill("SIGKILL");
    await exited;
  };
  const stop = async ({ keepDir = false } = {}) => {
    await kill();
    if (ownDir && !keepDir) rmSync(dir, { recursive: true, force: true });
  };
  return {
    port, dir, proc, label,
    url: `redis://127.0.0.1:${port}`,
    addr: `127.0.0.1:${port}`,
    alive, kill, stop, exited,
    logs: () => log,
    cli: (...a) => redisCli(["-p", String(port), ...a]),
  };
}

/**
 * Starts three redis-server masters with cluster mode on, joins them with
 * `redis-cli --cluster create ... --cluster-replicas 0 --cluster-yes` and waits until every
 * one reports cluster_state:ok. `seeds` is the host:port list for --redis-cluster.
 */
export async function startRedisCluster({ masters = 3 } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), "edgeio-redis-cluster-"));
  const nodes = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      // The cluster bus would be port+10000, which may be taken or past 65535: give it its own.
      const busPort = await freePort();
      nodes.push(await startRedis({
        port, dir, label: `redis-cluster-${i}`,
        args: ["--cluster-enabled", "yes", "--cluster-config-file", path.join(dir, `nodes-${port}.conf`),
          "--cluster-port", String(busPort), "--cluster-node-timeout", "5000",
          "--dbfilename", `dump-${port}.rdb`],
      }));
    }
    await redisCli(["--cluster", "create", ...nodes.map((n) => n.addr), "--cluster-replicas", "0", "--cluster-yes"], 20000);
    const deadline = Date.now() + 15000;
    for (;;) {
      const infos = await Promise.all(nodes.map((n) => n.cli("cluster", "info").catch(() => "")));
      if (infos.every((s) => s.includes("cluster_state:ok"))) break;
      if (Date.now() > deadline) throw new Error(`Redis Cluster not ok within 15 s:\n${infos.join("\n")}`);
      await sleep(50);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, dir, seeds: nodes.map((n) => n.addr).join(","), stop };
}

// ---- edgeio nodes ----

/**
 * Starts one edgeio chat node (`--app chat`, short timings from chat.mjs) joined to the others
 * through `redis` ({ url } of startRedis, or { seeds } of startRedisCluster), with its own
 * client and admin ports. `node.admin(path)` fetches from its admin listener.
 */
export async function startNode(redis, { nodeId, args = [], label, env } = {}) {
  const adminPort = await freePort();
  const redisArgs = redis.seeds ? ["--redis-cluster", redis.seeds] : ["--redis-url", redis.url];
  const argv = [
    "--admin-addr", `127.0.0.1:${adminPort}`, ...redisArgs, ...(nodeId ? ["--node-id", nodeId] : []),
    // the timings the cluster tests count on (chat.mjs has the same today; these pin them)
    "--presence-grace", "300ms", "--typing-timeout", "500ms", "--receipt-window", "50ms",
    ...args,
  ];
  const node = await startChat(argv, { env, label: label || `edgeio node ${nodeId || ""} ${argv.join(" ")}` });
  node.nodeId = nodeId;
  node.adminPort = adminPort;
  node.adminUrl = `http://127.0.0.1:${adminPort}`;
  node.admin = (p) => fetch(node.adminUrl + p, { signal: AbortSignal.timeout(3000) });
  node.metrics = async () => parseMetrics(await (await node.admin("/metrics")).text());
  node.readyz = async () => {
    try { return (await node.admin("/readyz")).status; } catch { return 0; }
  };
  return node;
}

/** Starts `n` nodes (ids node-a, node-b, ...) on the same Redis. */
export async function startNodes(redis, n, opts = {}) {
  const nodes = [];
  try {
    for (let i = 0; i < n; i++) {
      nodes.push(await startNode(redis, { ...opts, nodeId: `node-${String.fromCharCode(97 + i)}-${process.pid}` }));
    }
  } catch (err) {
    await Promise.all(nodes.map((s) => s.stop()));
    throw err;
  }
  return nodes;
}

/** Prometheus text format → { name: value } (labels kept in the name). */
export function parseMetrics(text) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out[line.slice(0, i)] = Number(line.slice(i + 1));
  }
  return out;
}

/** Waits until every node sees the n-1 others (edgeio_cluster_nodes) and Redis is up. */
export async function waitForMesh(nodes, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ms2 = await Promise.all(nodes.map((n) => n.metrics().catch(() => ({}))));
    if (ms2.every((m) => m.edgeio_redis_up === 1 && m.edgeio_cluster_nodes === nodes.length - 1)) return;
    if (Date.now() > deadline) {
      throw new Error(`nodes did not see each other within ${ms} ms: ${JSON.stringify(ms2.map((m) => [m.edgeio_redis_up, m.edgeio_cluster_nodes]))}`);
    }
    await sleep(50);
  }
}

/** The number of subscribers of each channel (PUBSUB NUMSUB / SHARDNUMSUB). */
export async function numsub(redis, channels, { sharded = false } = {}) {
  const out = await redisCli(["-p", String(redis.port ?? redis.nodes[0].port), ...(redis.nodes ? ["-c"] : []),
    "pubsub", sharded ? "shardnumsub" : "numsub", ...channels]);
  const lines = out.trim().split("\n");
  const res = {};
  for (let i = 0; i + 1 < lines.length; i += 2) res[lines[i]] = Number(lines[i + 1]);
  return res;
}

/** The Redis adapter's channel of one room of the main namespace. */
export const roomChannel = (room) => `socket.io#/#${room}#`;

// ---- event bookkeeping shared by the cluster tests ----

/** Records every event a socket receives (socket.log: [{ event, args, at }]); `name` labels it. */
export function recordAll(socket, name) {
  socket.label = name;
  socket.log = [];
  // unread-counts comes once after each connect whenever the user is in a room (a second
  // socket of a user): catchup.test.mjs checks it, the cluster scenarios leave it out
  socket.onAny((event, ...args) => { if (event !== "unread-counts") socket.log.push({ event, args, at: Date.now() }); });
  return socket;
}

/**
 * Whether `actual` matches `pattern`: a function is a predicate, a plain object must have
 * each of its keys matching (other keys are free), an array must match element by element,
 * anything else must be equal.
 */
export function matches(actual, pattern) {
  if (typeof pattern === "function") return !!pattern(actual);
  if (Array.isArray(pattern)) {
    return Array.isArray(actual) && actual.length === pattern.length && pattern.every((p, i) => matches(actual[i], p));
  }
  if (pattern && typeof pattern === "object") {
    return !!actual && typeof actual === "object" && Object.keys(pattern).every((k) => matches(actual[k], pattern[k]));
  }
  return Object.is(actual, pattern);
}

const show = (v) => JSON.stringify(v, (k, x) => (x && x.type === "Buffer" ? "<bin>" : x));

/**
 * One step of a scenario over `sockets` (all recorded with recordAll): clears their logs,
 * runs `action`, waits until every expectation has arrived (`within` ms), stays `quiet` ms
 * more, then asserts that each socket got each of its expectations exactly once and nothing
 * else at all. An expectation is [socket, event, pattern of the first argument]. Resolves with
 * the matched payloads, in the order of `expected`.
 */
export async function step(what, sockets, action, expected, { within = 4000, quiet = 300, ignore = () => false } = {}) {
  for (const s of sockets) s.log.length = 0;
  const t0 = Date.now();
  const result = await action();
  const t1 = Date.now();
  const found = (e) => e[0].log.filter((x) => x.event === e[1] && matches(x.args[0], e[2]));
  const deadline = Date.now() + within;
  while (!expected.every((e) => found(e).length > 0)) {
    if (Date.now() > deadline) {
      const missing = expected.filter((e) => found(e).length === 0).map((e) => `${e[0].label} ${e[1]} ${show(e[2])}`);
      const logs = sockets.map((s) => `  ${s.label}: ${show(s.log.map((x) => [x.event, ...x.args]))}`);
      throw new Error(`${what}: missing after ${within} ms:\n  ${missing.join("\n  ")}\nreceived:\n${logs.join("\n")}`);
    }
    await sleep(10);
  }
  if (process.env.E2E_STEP_TIMES) console.error(`[step] ${what}: action ${t1 - t0} ms, arrivals ${Date.now() - t1} ms`);
  await sleep(quiet);
  const problems = [];
  const payloads = [];
  for (const s of sockets) {
    const mine = expected.filter((e) => e[0] === s);
    const used = new Set();
    for (const x of s.log) {
      if (ignore(x.event, x.args[0], s)) continue;
      const i = mine.findIndex((e, j) => !used.has(j) && e[1] === x.event && matches(x.args[0], e[2]));
      if (i >= 0) { used.add(i); continue; }
      const again = mine.some((e) => e[1] === x.event && matches(x.args[0], e[2]));
      problems.push(`${s.label} got ${again ? "a second" : "an unexpected"} ${x.event} ${show(x.args)}`);
    }
    mine.forEach((e, j) => { if (!used.has(j)) problems.push(`${s.label} missed a ${e[1]} ${show(e[2])}`); });
  }
  if (problems.length) throw new Error(`${what}:\n  ${[...new Set(problems)].join("\n  ")}`);
  for (const e of expected) payloads.push(found(e)[0].args[0]);
  return { result, payloads };
}

/** On failure, appends the tails of the given processes' output to the error. */
export function withLogs(procs, fn) {
  return async (...a) => {
    try {
      return await fn(...a);
    } catch (err) {
      const notes = procs().filter(Boolean).map((p) => {
        const log = p.logs();
        const state = p.alive() ? "running" : "EXITED";
        return `--- ${p.nodeId || p.label || "process"} (${state}) output tail ---\n${log.length > 3000 ? "…" + log.slice(-3000) : log}`;
      });
      if (err && typeof err === "object") {
        try { err.message = `${err.message}\n${notes.join("\n")}`; } catch { /* read-only */ }
      }
      throw err;
    }
  };
}

/**
 * Where each channel is subscribed in a Redis Cluster: for every channel, the port of the
 * master owning its slot, and the subscriber count on each master for sharded (SSUBSCRIBE)
 * and classic (SUBSCRIBE) pub/sub.
 */
export async function shardSubscriptions(cluster, channels) {
  const masters = [];
  for (const n of cluster.nodes) {
    const me = (await n.cli("cluster", "nodes")).split("\n").find((l) => l.includes("myself"));
    const ranges = me.split(" ").slice(8).filter((x) => /^\d+(-\d+)?$/.test(x))
      .map((x) => x.split("-").map(Number)).map(([a, b]) => [a, b ?? a]);
    const counts = async (cmd) => {
      const lines = (await n.cli("pubsub", cmd, ...channels)).trim().split("\n");
      const out = {};
      for (let i = 0; i + 1 < lines.length; i += 2) out[lines[i]] = Number(lines[i + 1]);
      return out;
    };
    masters.push({ port: n.port, ranges, sharded: await counts("shardnumsub"), classic: await counts("numsub") });
  }
  const out = {};
  for (const ch of channels) {
    const slot = Number((await cluster.nodes[0].cli("cluster", "keyslot", ch)).trim());
    const owner = masters.find((m) => m.ranges.some(([a, b]) => slot >= a && slot <= b));
    out[ch] = {
      slot, owner: owner && owner.port,
      sharded: Object.fromEntries(masters.map((m) => [m.port, m.sharded[ch]])),
      classic: Object.fromEntries(masters.map((m) => [m.port, m.classic[ch]])),
    };
  }
  return out;
}

/** Resolves with the arguments of the next `event` on socket whose payload satisfies `pred`. */
export { waitForMatch as waitForEvent };
