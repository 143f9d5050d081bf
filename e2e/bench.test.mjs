// `make bench` from a clone of this repository: scripts/bench.sh runs the bundled harness
// against edgeio, the bare relay and the Node peer in bench/node-peer (its npm packages
// installed on first use), then compares them. A small run: every target delivers every
// message without errors, and the comparison names the ratios.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { E2E_DIR, serverBinary, ownChild } from "./lib/server.mjs";

test("make bench's script runs edgeio, the relay and the in-repo Node peer with the same harness and compares them", { timeout: 180_000 }, async (t) => {
  const root = path.resolve(E2E_DIR, "..");
  const proc = spawn("bash", [path.join(root, "scripts/bench.sh")], {
    env: {
      ...process.env, BIN: serverBinary(), TARGETS: "edgeio relay node",
      CONNS: "40", ROOM_SIZE: "10", RATES: "20", DURATION: "2s",
    },
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
  for (const target of ["edgeio", "relay", "node"]) {
    const row = out.split("\n").find((l) => l.trim().startsWith(target + " "));
    assert.ok(row, `a row for ${target} in the comparison:\n${out}\n${err.slice(-3000)}`);
    const cells = row.trim().split(/\s+/);
    // target offered/s delivered/s missing ... errors host-busy
    assert.equal(cells[3], "0.00%", `${target} delivered every message: ${row}`);
    assert.equal(cells[cells.length - 2], "0", `${target} had no errors: ${row}`);
  }
  assert.match(out, /edgeio ÷ node: cpu per delivery [0-9.]+/, "the comparison gives edgeio's CPU per delivery as a ratio of Node's");
  assert.match(out, /edgeio ÷ relay: cpu per delivery [0-9.]+/, "and of the relay's");
});
