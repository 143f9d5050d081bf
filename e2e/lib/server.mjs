// Starts the real server binary (`bin/edgeio --app echo`) on a free 127.0.0.1 port for a test
// file, and stops it again. EDGEIO_BIN overrides the binary (a path relative to e2e/ or
// absolute); every other setting is a command-line flag.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const E2E_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** The binary under test: $EDGEIO_BIN or ../bin/edgeio, resolved against e2e/. */
export function serverBinary() {
  return path.resolve(E2E_DIR, process.env.EDGEIO_BIN || "../bin/edgeio");
}

/** The flags every test server gets; extra args come after them, and later flags win. */
export function baseArgs(port) {
  return [
    "--app", "echo",
    "--addr", `127.0.0.1:${port}`,
    "--admin-addr", "127.0.0.1:0",
    "--ping-interval", "300ms",
    "--ping-timeout", "200ms",
    "--connect-timeout", "1s",
    "--cors-origins", "*",
    // abuse protection off: every test client comes from 127.0.0.1 (the hostile-client
    // suite turns each protection on where it tests it)
    "--max-conns-per-ip", "0",
    "--rate-handshakes", "0",
    "--rate-events", "0",
    "--rate-messages", "0",
    "--rate-edits", "0",
    "--rate-receipts", "0",
    "--rate-presence", "0",
    "--rate-joins", "0",
    "--storage-quota", "0",
    "--auth-fail-limit", "0",
    // under stop()'s 3 s before SIGKILL: a clean exit writes the coverage data
    "--drain-timeout", "2s",
  ];
}

/** A port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    const done = (ok) => { sock.destroy(); resolve(ok); };
    sock.setTimeout(500, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const running = new Map(); // child process -> the signal that ends it when we must exit now

// Never leave a server behind, whatever way the test process ends: normally, or killed by
// the test runner (a file-level timeout) or by Ctrl-C.
function killAll() {
  for (const [proc, sig] of running) {
    try { proc.kill(sig); } catch { /* already gone */ }
  }
}

/**
 * Registers another child process to be ended if the test process has to exit early. A child
 * that owns servers of its own should get a signal it handles (SIGTERM) so it can stop them.
 */
export function ownChild(proc, signal = "SIGKILL") {
  running.set(proc, signal);
  proc.once("exit", () => running.delete(proc));
  return proc;
}
process.once("exit", killAll);
for (const [sig, num] of [["SIGTERM", 15], ["SIGINT", 2], ["SIGHUP", 1]]) {
  process.once(sig, () => {
    killAll();
    process.exit(128 + num);
  });
}

const LOG_LIMIT = 256 * 1024;

/**
 * Starts the server. Resolves once the port accepts TCP connections.
 * @param {string[]} args extra flags (they override the defaults)
 * @param {{startTimeoutMs?: number, env?: object, label?: string, port?: number}} opts
 * @returns {Promise<{url: string, port: number, proc: import('node:child_process').ChildProcess,
 *   stop: () => Promise<void>, alive: () => boolean, logs: () => string, guard: Function}>}
 */
export async function startServer(args = [], opts = {}) {
  const bin = serverBinary();
  if (!existsSync(bin)) {
    throw new Error(`server binary not found: ${bin} (build it with 'make build' or set EDGEIO_BIN)`);
  }
  const port = opts.port ?? await freePort(); // opts.port: the port of a server that stopped
  const argv = [...baseArgs(port), ...args];
  const cwd = mkdtempSync(path.join(os.tmpdir(), "edgeio-e2e-"));
  const proc = spawn(bin, argv, {
    cwd,
    env: { ...process.env, ...(opts.env || {}) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.set(proc, "SIGKILL");

  let log = "";
  const append = (chunk) => {
    log += chunk.toString();
    if (log.length > LOG_LIMIT) log = log.slice(-LOG_LIMIT);
  };
  proc.stdout.on("data", append);
  proc.stderr.on("data", append);

  let exitInfo = null;
  const exited = new Promise((resolve) => {
    proc.once("exit", (code, signal) => {
      exitInfo = { code, signal };
      running.delete(proc);
      resolve(exitInfo);
    });
    proc.once("error", (err) => {
      // spawn failures (ENOENT, EACCES) emit no 'exit'
      append(`\n[spawn error] ${err.message}\n`);
      if (proc.pid === undefined) {
        exitInfo = { error: err.message };
        running.delete(proc);
        resolve(exitInfo);
      }
    });
  });

  const label = opts.label || `edgeio ${argv.join(" ")}`;
  const logs = () => log;
  const alive = () => exitInfo === null && proc.exitCode === null && proc.signalCode === null;

  let stopping = null;
  const stop = () => {
    if (stopping) return stopping;
    stopping = (async () => {
      if (alive()) {
        proc.kill("SIGTERM");
        const killer = setTimeout(() => { if (alive()) proc.kill("SIGKILL"); }, 3000);
        await exited;
        clearTimeout(killer);
      }
      rmSync(cwd, { recursive: true, force: true });
    })();
    return stopping;
  };

  /** Wraps a test body: on failure the error carries the server's output and liveness. */
  const guard = (fn) => async (...a) => {
    try {
      return await fn(...a);
    } catch (err) {
      const state = alive() ? "still running" : `EXITED (${JSON.stringify(exitInfo)})`;
      const tail = log.length > 8000 ? "…" + log.slice(-8000) : log;
      const note = `\n--- server ${state}: ${label}\n--- server output (tail) ---\n${tail}--- end of server output ---`;
      if (err && typeof err === "object") {
        try { err.message = `${err.message}${note}`; } catch { /* read-only message */ }
      }
      process.stderr.write(note + "\n");
      throw err;
    }
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 10000);
  for (;;) {
    if (!alive()) {
      await stop();
      throw new Error(`server exited during start-up (${JSON.stringify(exitInfo)}): ${label}\n${log}`);
    }
    if (await canConnect(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`server did not accept connections on 127.0.0.1:${port} within 10 s: ${label}\n${log}`);
    }
    await sleep(50);
  }

  return { url: `http://127.0.0.1:${port}`, port, proc, stop, alive, logs, guard, args: argv };
}
