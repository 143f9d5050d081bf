// Raw protocol clients for the tests that must misbehave: a bare WebSocket speaking Engine.IO
// by hand (package `ws`) and plain HTTP long-polling requests (fetch).
import WebSocket from "ws";

/** Engine.IO v4 polling payloads separate packets with the record separator. */
export const SEP = "\x1e";

/**
 * A WebSocket that speaks Engine.IO by hand. Incoming frames are queued as
 * {data: string|Buffer, binary: boolean, at: ms}; pings ("2") are answered with "3"
 * unless autoPong is false, and always recorded in `pings`.
 */
export class RawSocket {
  constructor(url, { autoPong = true, maxPayload } = {}) {
    this.url = url;
    this.autoPong = autoPong;
    this.queue = [];
    this.waiters = [];
    this.pings = [];
    this.openedAt = 0;
    this.ws = new WebSocket(url, { maxPayload: maxPayload ?? 100 * 1024 * 1024, perMessageDeflate: false });
    this.ws.on("error", () => { /* surfaced through `closed` / `opened` */ });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once("open", () => { this.openedAt = Date.now(); resolve(); });
      this.ws.once("unexpected-response", (_req, res) => {
        reject(Object.assign(new Error(`WebSocket handshake refused: HTTP ${res.statusCode}`), { status: res.statusCode }));
      });
      this.ws.once("error", reject);
      this.ws.once("close", () => reject(new Error("closed before open")));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.once("close", (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() }));
    });
    this.ws.on("message", (data, isBinary) => {
      const item = { data: isBinary ? Buffer.from(data) : data.toString(), binary: isBinary, at: Date.now() };
      if (!isBinary && item.data === "2") {
        this.pings.push(item.at);
        if (this.autoPong && this.ws.readyState === WebSocket.OPEN) this.ws.send("3");
        return;
      }
      const i = this.waiters.findIndex((w) => w.match(item));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        w.resolve(item);
      } else {
        this.queue.push(item);
      }
    });
  }

  /** The next frame for which match(item) holds (already queued or still to come). */
  next(ms = 2000, match = () => true, what = "a frame") {
    const i = this.queue.findIndex(match);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    return new Promise((resolve, reject) => {
      const w = {
        match,
        resolve: (item) => { clearTimeout(timer); resolve(item); },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; queued: ${JSON.stringify(this.queue.map((q) => q.binary ? `<binary ${q.data.length}>` : q.data))}`));
      }, ms);
      timer.unref();
      this.waiters.push(w);
    });
  }

  /** The next text frame that starts with `prefix`. */
  nextText(prefix, ms = 2000) {
    return this.next(ms, (it) => !it.binary && it.data.startsWith(prefix), `a text frame starting with ${JSON.stringify(prefix)}`);
  }

  send(data) {
    this.ws.send(data);
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Resolves with the close info if the server closes within `ms`, otherwise with null. */
  closedWithin(ms) {
    return Promise.race([this.closed, new Promise((r) => setTimeout(() => r(null), ms).unref())]);
  }

  close() {
    try { this.ws.terminate(); } catch { /* ignore */ }
  }
}

export function wsUrl(server, { path = "/socket.io/", query = "" } = {}) {
  return `ws://127.0.0.1:${server.port}${path}?EIO=4&transport=websocket${query ? `&${query}` : ""}`;
}

/**
 * Opens a raw WebSocket and waits for the Engine.IO open packet; returns the socket and the
 * parsed handshake ({sid, upgrades, pingInterval, pingTimeout, maxPayload}).
 */
export async function rawOpen(server, opts = {}) {
  const sock = new RawSocket(wsUrl(server, opts), opts);
  live.add(sock);
  await sock.opened;
  const open = await sock.nextText("0", 2000);
  return { sock, handshake: JSON.parse(open.data.slice(1)) };
}

/**
 * Raw WebSocket that also completes the Socket.IO CONNECT to the main namespace with the
 * JSON parser ("40" → "40{sid}").
 */
export async function rawConnectJson(server, opts = {}) {
  const { sock, handshake } = await rawOpen(server, opts);
  sock.send("40");
  const ok = await sock.nextText("40", 2000);
  const connect = JSON.parse(ok.data.slice(2));
  return { sock, handshake, sid: connect.sid };
}

const live = new Set();
export function closeAllRaw() {
  for (const s of live) s.close();
  live.clear();
}

// ---- long-polling by hand -------------------------------------------------------------

export function pollUrl(server, { path = "/socket.io/", sid, query = "", eio = 4 } = {}) {
  let u = `http://127.0.0.1:${server.port}${path}?EIO=${eio}&transport=polling`;
  if (sid) u += `&sid=${encodeURIComponent(sid)}`;
  if (query) u += `&${query}`;
  return u;
}

/** fetch with a deadline; resolves with {status, headers, text, json}. */
export async function http(url, init = {}, ms = 3000) {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(ms) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

/** Polling handshake; returns {sid, handshake}. */
export async function pollHandshake(server, opts = {}) {
  const r = await http(pollUrl(server, opts));
  if (r.status !== 200 || !r.text.startsWith("0")) {
    throw new Error(`polling handshake failed: HTTP ${r.status} ${r.text}`);
  }
  const handshake = JSON.parse(r.text.slice(1));
  return { sid: handshake.sid, handshake };
}
