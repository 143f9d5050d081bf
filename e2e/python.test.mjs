// Runs the python-socketio suites (python/test_echo.py, python/test_chat.py) with Debian's
// /usr/bin/python3, which sees the python3-socketio, python3-websocket and python3-requests
// packages installed by scripts/install-deps.sh. Each Python suite starts its own server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { E2E_DIR, serverBinary, ownChild } from "./lib/server.mjs";
import { hasParser } from "./lib/client.mjs";

const PYTHON = "/usr/bin/python3";

function skipReason() {
  if (!hasParser("json")) return "python-socketio speaks the JSON parser, which E2E_PARSERS excludes";
  if (!existsSync(PYTHON)) return `${PYTHON} not found (run scripts/install-deps.sh)`;
  const probe = spawnSync(PYTHON, ["-c", "import socketio, websocket, requests"], { encoding: "utf8", timeout: 10000 });
  if (probe.status !== 0) {
    return `${PYTHON} cannot import socketio, websocket, requests (run scripts/install-deps.sh): ${probe.stderr.trim().split("\n").pop()}`;
  }
  return false;
}

const skip = skipReason();
if (skip) console.log(`# python tests skipped: ${skip}`);

for (const name of ["test_echo.py", "test_chat.py"]) {
const SCRIPT = path.join(E2E_DIR, "python", name);
test(`python-socketio client suite (python/${name})`, { timeout: 120000, skip }, async () => {
  assert.ok(existsSync(serverBinary()), `server binary not found: ${serverBinary()}`);
  const child = spawn(PYTHON, [SCRIPT], {
    cwd: path.dirname(SCRIPT),
    env: { ...process.env, EDGEIO_BIN: serverBinary(), PYTHONUNBUFFERED: "1" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  ownChild(child, "SIGTERM"); // the Python suite stops its server on SIGTERM
  let out = "";
  child.stdout.on("data", (d) => { out += d; });
  child.stderr.on("data", (d) => { out += d; });
  const killer = setTimeout(() => child.kill("SIGKILL"), 110000);
  const [code, signal] = await new Promise((resolve) => child.once("exit", (c, s) => resolve([c, s])));
  clearTimeout(killer);
  if (code !== 0) process.stderr.write(out);
  assert.equal(code, 0, `python suite failed (exit ${code}${signal ? `, signal ${signal}` : ""}):\n${out}`);
});
}
