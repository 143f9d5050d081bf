// Raw protocol clients for the tests that must misbehave: a bare WebSocket speaking Engine.IO
// by hand (package `ws`) and plain HTTP long-polling requests (fetch).
import WebSocket from "ws";
import { track } from "./scope.mjs";

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
    track(this);
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
  await sock.opened;
  const open = await sock.nextText("0", 2000);
  return { sock, handshake: JSON.parse(open.data.slice(1)) };
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

// ---- Socket.IO packets by hand, in either parser ---------------------------------------

/**
 * Encodes and decodes Socket.IO packets for a raw WebSocket: the JSON parser's text frames
 * ("4" + type + [nsp ","] + [id] + JSON) or the msgpack parser's binary frames. Binary
 * attachments are not needed by the raw tests and not supported here.
 */
export function wireFor(parserName, msgpackParser) {
  if (parserName === "json") {
    return {
      name: "json",
      encode({ type, nsp = "/", data, id }) {
        let s = "4" + type;
        if (nsp !== "/") s += nsp + ",";
        if (id !== undefined) s += id;
        if (data !== undefined) s += JSON.stringify(data);
        return s;
      },
      decode(item) {
        if (item.binary || !item.data.startsWith("4")) return null;
        const m = /^4(\d)(?:\d+-)?(\/[^,]*,)?(\d+)?(.*)$/s.exec(item.data);
        if (!m) return null;
        return {
          type: Number(m[1]),
          nsp: m[2] ? m[2].slice(0, -1) : "/",
          id: m[3] !== undefined ? Number(m[3]) : undefined,
          data: m[4] ? JSON.parse(m[4]) : undefined,
        };
      },
    };
  }
  return {
    name: "msgpack",
    encode(packet) {
      const p = { type: packet.type, nsp: packet.nsp || "/" };
      if (packet.data !== undefined) p.data = packet.data;
      if (packet.id !== undefined) p.id = packet.id;
      return new msgpackParser.Encoder().encode(p)[0];
    },
    decode(item) {
      if (!item.binary) return null;
      let out = null;
      const d = new msgpackParser.Decoder();
      d.on("decoded", (p) => { out = p; });
      try { d.add(item.data); } catch { return null; }
      return out;
    },
  };
}

/** Waits for the next Socket.IO packet on `sock` that satisfies match(packet). */
export function nextPacket(sock, wire, match = () => true, ms = 2000, what = "a Socket.IO packet") {
  return sock.next(ms, (item) => {
    const p = wire.decode(item);
    return p !== null && match(p);
  }, what).then((item) => wire.decode(item));
}

/** Raw WebSocket with a completed Socket.IO CONNECT to `nsp` in the given wire format. */
export async function rawConnect(server, wire, { nsp = "/", auth, ...opts } = {}) {
  const { sock, handshake } = await rawOpen(server, opts);
  sock.send(wire.encode({ type: 0, nsp, data: auth }));
  const p = await nextPacket(sock, wire, (q) => q.nsp === nsp && (q.type === 0 || q.type === 4), 2000, "CONNECT reply");
  if (p.type !== 0) throw new Error(`CONNECT to ${nsp} refused: ${JSON.stringify(p.data)}`);
  return { sock, handshake, sid: p.data && p.data.sid };
}
