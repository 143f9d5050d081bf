// `make bench` from a clone of this repository: scripts/bench.sh runs the bundled harness
// against edgeio, the bare relay and the Node peer in bench/node-peer (its npm packages
// installed on first use) in its four scenarios (chat, one big room, idle memory, and a
// cluster of two nodes on one redis-server that the script starts), then compares them. A
// small run: every target delivers every message without errors, and each comparison names
// its ratios.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { E2E_DIR, serverBinary, ownChild } from "./lib/server.mjs";

test("make bench's script runs its four scenarios against edgeio, the relay and the in-repo Node peer with the same harness and compares them", { timeout: 240_000 }, async (t) => {
  const root = path.resolve(E2E_DIR, "..");
  const proc = spawn("bash", [path.join(root, "scripts/bench.sh")], {
    env: { ...process.env, BIN: serverBinary(), CONNS: "40", ROOM_SIZE: "10", RATES: "20", BIG_RATE: "2", CLUSTER_RATE: "20", DURATION: "2s" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  ownChild(proc, "SIGTERM");
  let out = "";
  let err = "";
  proc.stdout.on("data", (c) => { out += c; });
  proc.stderr.on("data", (c) => { err += c; });
  const code = await new Promise((resolve) => proc.on("exit", resolve));
  t.diagnostic(out);
  assert.equal(code, 0, `scripts/bench.sh exited ${code}:\n${err.slice(-3000)}`);
  const sections = Object.fromEntries(out.split(/^== /m).slice(1).map((s) => [s.slice(0, s.indexOf(" ==")), s]));
  const rows = (section, target) => {
    const row = (sections[section] || "").split("\n").find((l) => l.trim().startsWith(target + " "));
    assert.ok(row, `a ${section} row for ${target}:\n${out}\n${err.slice(-3000)}`);
    return row.trim().split(/\s+/);
  };
  for (const section of ["chat", "big-room"]) {
    for (const target of ["edgeio", "relay", "node"]) {
      const cells = rows(section, target); // target offered/s delivered/s missing ... errors host-busy
      assert.equal(cells[3], "0.00%", `${section}: ${target} delivered every message: ${cells.join(" ")}`);
      assert.equal(cells[cells.length - 2], "0", `${section}: ${target} had no errors: ${cells.join(" ")}`);
    }
    assert.match(sections[section], /edgeio ÷ node: cpu per delivery [0-9.]+/, `${section}: edgeio's CPU per delivery as a ratio of Node's`);
    // (a run this small may leave the relay's CPU below the clock's tick: "-")
    assert.match(sections[section], /edgeio ÷ relay: cpu per delivery ([0-9.]+|-), delivery p95 [0-9.]+/, `${section}: and against the relay's`);
  }
  for (const target of ["edgeio", "edgeio-norecovery", "node"]) {
    const cells = rows("idle", target);
    assert.match(cells[cells.length - 3], /^[0-9.]+$/, `idle: ${target}'s memory per connection: ${cells.join(" ")}`);
  }
  assert.match(sections.idle, /idle, edgeio ÷ edgeio-norecovery: rss per connection [0-9.]+/, "what recovery costs an idle connection");

  // two nodes of each on one Redis: every room half on each node, Redis's CPU counted in
  for (const target of ["edgeio", "node"]) {
    const cells = rows("cluster", target); // ... cpu µs/delivery, rss KB/conn, redis µs/msg, redis µs/conn, errors, host busy
    assert.equal(cells[3], "0.00%", `cluster: ${target} delivered every message across its two nodes: ${cells.join(" ")}`);
    assert.equal(cells[cells.length - 2], "0", `cluster: ${target} had no errors: ${cells.join(" ")}`);
    assert.match(cells[cells.length - 4], /^[0-9.]+$/, `cluster: ${target}'s Redis CPU per message: ${cells.join(" ")}`);
  }
  assert.match(sections.cluster, /edgeio ÷ node: cpu per delivery [0-9.]+, delivery p95 [0-9.]+, redis cpu per message [0-9.]+/,
    "cluster: edgeio's CPU per delivery (with Redis's) and Redis's CPU per message as ratios of Node's");
  assert.match(sections.cluster, /redis at [0-9]+ deliveries\/s, edgeio: per message .*publish/, "cluster: what a message costs in Redis commands");

  // the big room over two nodes, and idle memory per connection over two nodes
  for (const target of ["edgeio", "node"]) {
    const cells = rows("cluster-big-room", target);
    assert.equal(cells[3], "0.00%", `cluster-big-room: ${target} delivered every message across its two nodes: ${cells.join(" ")}`);
    assert.equal(cells[cells.length - 2], "0", `cluster-big-room: ${target} had no errors: ${cells.join(" ")}`);
    assert.ok(rows("cluster-idle", target).some((c) => /^[0-9]+\.[0-9]$/.test(c)), `cluster-idle: ${target}'s memory per connection`);
  }
  assert.match(sections["cluster-idle"], /idle, edgeio ÷ node: rss per connection [0-9.]+/, "cluster-idle: edgeio's memory per connection as a ratio of Node's");
});
