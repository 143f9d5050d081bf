// Hostile clients: decoder amplification (docs/security.md, "The decode budget"). A frame
// of containers near --max-payload (msgpack 0x80, an empty map, a byte each; JSON {},
// three) decodes into 38 to 64 times its size in memory; sockets sending them back to back
// held hundreds of megabytes. Against a server with production defaults: the attack keeps
// the server's RSS growth and honest clients' ack p95 within the hostile suite's bounds
// (lib/attack.mjs), the attacker is refused with PAYLOAD_TOO_LARGE and cut off, its user's
// honest socket goes on, a stock client learns why its packet was refused, and legitimate
// large packets still pass.
// Source addresses of this file: 127.0.9.x.
import assert from "node:assert/strict";
import { Worker, isMainThread, parentPort, workerData } from "node:worker_threads";
import msgpackParser from "socket.io-msgpack-parser";
import { productionRoom, underAttack } from "./lib/attack.mjs";
import {
  hostileTest, RawWs, connectUser, join, ack, ackOk, assertAckError, tokenFor, uniq, sleep, after, waitForMatch,
} from "./lib/hostile.mjs";

const MAX_PAYLOAD = 1_000_000; // --max-payload's default
const MSGPACK = { opts: { parser: msgpackParser } }; // connectUser's options
const ATTACK_MS = 6000;

// ---- the attacker's frames --------------------------------------------------------------

/**
 * A msgpack packet as socket.io-msgpack-parser writes it, {type: EVENT, data:
 * ["send-message", [{}, {}, ...]], nsp: "/", id}, whose list is an array32 of 0x80 bytes
 * (each an empty map) filling the frame to just under --max-payload.
 */
function msgpackMapsFrame(id) {
  const str = (s) => [0xa0 | s.length, ...Buffer.from(s)];
  const head = Buffer.from([0x84, ...str("type"), 0x02, ...str("data"), 0x92, ...str("send-message"), 0xdd, 0, 0, 0, 0]);
  const tail = Buffer.from([...str("nsp"), ...str("/"), ...str("id"), 0xce, 0, 0, 0, 0]);
  tail.writeUInt32BE(id, tail.length - 4);
  const n = MAX_PAYLOAD - 100 - head.length - tail.length;
  head.writeUInt32BE(n, head.length - 4);
  return Buffer.concat([head, Buffer.alloc(n, 0x80), tail]);
}

/** The JSON parser's `42<id>["send-message",[{},{},...]]`, just under --max-payload. */
function jsonMapsFrame(id) {
  const n = Math.floor((MAX_PAYLOAD - 100) / 3);
  return Buffer.from(`42${id}["send-message",[${"{},".repeat(n - 1)}{}]]`);
}

/** What the server answered one of the attacker's connections: error codes, or "ok". */
function answersOf(parser, data, isBinary) {
  if (parser === "msgpack") {
    if (!isBinary) return [];
    let p;
    const dec = new msgpackParser.Decoder();
    dec.on("decoded", (x) => { p = x; });
    try { dec.add(data); } catch { return ["undecodable answer"]; }
    if (p.type === 3) return [p.data[0]?.ok === true ? "ok" : p.data[0]?.error?.code];
    if (p.type === 2 && p.data[0] === "error") return [p.data[1]?.code];
    return [];
  }
  const text = data.toString();
  let m = /^43\d+(\[.*)$/s.exec(text);
  if (m) {
    const r = JSON.parse(m[1])[0];
    return [r?.ok === true ? "ok" : r?.error?.code];
  }
  m = /^42(\[.*)$/s.exec(text);
  if (m) {
    const [event, payload] = JSON.parse(m[1]);
    if (event === "error") return [payload?.code];
  }
  return [];
}

/**
 * One attacking connection after another from `ip` until `until` (ms since the epoch): each
 * opens a WebSocket, connects to "/" with `token` speaking `parser` ("msgpack" or "json"),
 * then sends `frame` back to back for as long as the server takes them. Resolves with what
 * it saw: {connections, frames, answers (codes from acks and error events, "ok" for a
 * success), closes (close codes), refusedUpgrades}.
 */
async function attackFrom(ctx, server, ip, { token, parser, frame, until }) {
  const seen = { connections: 0, frames: 0, answers: [], closes: [], refusedUpgrades: 0 };
  while (Date.now() < until) {
    const w = new RawWs(ctx, server, { ip });
    try {
      await w.opened;
    } catch {
      seen.refusedUpgrades += 1; // the address's handshake or connection limit
      await sleep(200);
      continue;
    }
    w.ws.on("message", (data, isBinary) => seen.answers.push(...answersOf(parser, data, isBinary)));
    try {
      await w.next((f) => typeof f === "string" && f.startsWith("0"), 3000, "open packet");
      if (parser === "msgpack") {
        w.send(new msgpackParser.Encoder().encode({ type: 0, nsp: "/", data: { token } })[0]);
        await w.next((f) => Buffer.isBuffer(f), 3000, "CONNECT reply");
      } else {
        w.send(`40${JSON.stringify({ token })}`);
        await w.next((f) => typeof f === "string" && f.startsWith("40"), 3000, "CONNECT reply");
      }
    } catch {
      w.close();
      continue;
    }
    seen.connections += 1;
    while (w.isOpen && Date.now() < until) {
      if (w.ws.bufferedAmount < frame.length) {
        w.ws.send(frame, { binary: parser === "msgpack" });
        seen.frames += 1;
      }
      await sleep(w.ws.bufferedAmount < frame.length ? 0 : 5);
    }
    const closed = await w.closedWithin(Math.max(0, until - Date.now()));
    if (closed) seen.closes.push(closed.code);
    w.close();
  }
  return seen;
}

/** `perIP` attacking connections from each of `ips` at once (attackFrom), their sums. */
async function attackAll(ctx, server, ips, perIP, opts) {
  const all = await Promise.all(ips.flatMap((ip) => Array.from({ length: perIP }, () => attackFrom(ctx, server, ip, opts))));
  const sum = { connections: 0, frames: 0, answers: [], closes: [], refusedUpgrades: 0 };
  for (const s of all) {
    sum.connections += s.connections;
    sum.frames += s.frames;
    sum.answers.push(...s.answers);
    sum.closes.push(...s.closes);
    sum.refusedUpgrades += s.refusedUpgrades;
  }
  return sum;
}

/**
 * The attack on a thread of its own, so that writing its frames does not hold up the
 * honest clients' event loop (that alone put their ack p95 at 600 ms): `perIP` connections
 * from each of `ips` (attackAll) for `ms`, speaking `parser` as the user of `token`.
 * Resolves with attackAll's sums, reported as a test diagnostic.
 */
function attack(ctx, server, { ips, perIP, token, parser, ms }) {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL(import.meta.url), { workerData: { port: server.port, ips, perIP, token, parser, until: Date.now() + ms } });
    ctx.track({ close: () => w.terminate() });
    w.once("error", reject);
    w.once("exit", (code) => reject(new Error(`the attacker's thread exited (${code}) without reporting`)));
    w.once("message", (sum) => {
      ctx.t.diagnostic(`attacker: ${sum.connections} connections, ${sum.frames} frames sent, answers ${JSON.stringify(tally(sum.answers))}, ` +
        `closes ${JSON.stringify(tally(sum.closes))}, ${sum.refusedUpgrades} upgrades refused`);
      resolve(sum);
      w.terminate();
    });
  });
}

if (!isMainThread) {
  // the attacker's thread (attack)
  const { port, ips, perIP, token, parser, until } = workerData;
  const frame = parser === "msgpack" ? msgpackMapsFrame(7) : jsonMapsFrame(7);
  const sum = await attackAll({ track: () => {} }, { port }, ips, perIP, { token, parser, frame, until });
  parentPort.postMessage(sum);
}

/** Counts of each distinct value. */
const tally = (xs) => Object.fromEntries([...new Set(xs)].map((x) => [x, xs.filter((y) => y === x).length]));

// ---- the attacks ------------------------------------------------------------------------

for (const { parser, frame, ips } of isMainThread ? [
  { parser: "msgpack", frame: msgpackMapsFrame(7), ips: ["127.0.9.10", "127.0.9.11", "127.0.9.12", "127.0.9.13"] },
  { parser: "json", frame: jsonMapsFrame(7), ips: ["127.0.9.20", "127.0.9.21", "127.0.9.22", "127.0.9.23"] },
] : []) {
  hostileTest(`decoder amplification, ${parser}: 20 sockets from 4 addresses send frames of empty maps near --max-payload back to back for ${ATTACK_MS / 1000} s; RSS and honest p95 kept, the attacker refused with PAYLOAD_TOO_LARGE and cut off, its user's other socket unaffected`, async (ctx) => {
    assert.ok(frame.length < MAX_PAYLOAD && frame.length > MAX_PAYLOAD - 200, `the frame is just under --max-payload (${frame.length})`);
    const { server, room } = await productionRoom(ctx, ["127.0.9.2", "127.0.9.3", "127.0.9.4"], [], { client: MSGPACK });
    const user = uniq("mallory");
    // the attacker's user has an honest socket too: it is probed and checked with the room
    const own = await connectUser(ctx, server, user, "127.0.9.5", MSGPACK);
    await join(own, room.roomId);
    room.members.push(own);
    const before = await room.snapshot();

    const figures = await underAttack(ctx, server, room,
      () => attack(ctx, server, { ips, perIP: 5, token: tokenFor(user), parser, ms: ATTACK_MS }),
      { what: `${parser} frames of empty maps` });
    const seen = figures.attack;

    assert.ok(seen.connections > 0 && seen.frames > 0, "the attacker got in and sent frames");
    // Refused with a code or cut off: its connections close after their first frame (most
    // with a reset, as the server stops reading a flood, so that the answer is often lost
    // on the attacker's side; the stock client's test below reads it), and whatever the
    // attacker was answered says PAYLOAD_TOO_LARGE: no frame of the attack was handled.
    assert.deepStrictEqual(seen.answers.filter((a) => a !== "PAYLOAD_TOO_LARGE"), [],
      "every answer the attacker got is PAYLOAD_TOO_LARGE");
    assert.ok(seen.closes.length >= seen.connections - ips.length * 5,
      `each attacking connection is cut off after its refused frame (${seen.closes.length} closed of ${seen.connections})`);
    const counted = await server.metric("edgeio_refusals_total", { reason: "decode_budget" });
    assert.ok(counted >= seen.closes.length, `refusals counted in /metrics (${counted} for ${seen.closes.length} connections cut off)`);
    assert.ok(own.connected, "the attacker's user's honest socket is still connected");
    const stored = await room.snapshot();
    assert.deepStrictEqual(stored.slice(0, before.length), before, "nothing stored before the attack changed");
    assert.deepStrictEqual(stored.slice(before.length).filter((m) => !String(m.content).startsWith("honest ")), [],
      "the attack stored nothing (what came after it is the honest check's messages)");
  }, { timeout: 60000 });
}

// ---- what a client sees -----------------------------------------------------------------

/** n empty objects: one byte each in msgpack, three in JSON; 64 and 38 bytes of heap. */
const emptyObjects = (n) => Array.from({ length: n }, () => ({}));
/** n objects of one small field: four bytes each in msgpack, 352 bytes of heap. */
const smallObjects = (n) => Array.from({ length: n }, () => ({ k: 1 }));

hostileTest("a stock client's packet over the decode budget: its ack says PAYLOAD_TOO_LARGE and names the budget (an error event where the ack id cannot be read cheaply), then that connection closes; the user's other socket and the stored messages are untouched", async (ctx) => {
  const { server, room } = await productionRoom(ctx, ["127.0.9.30", "127.0.9.31"]);
  const user = uniq("overbudget");
  const sibling = await connectUser(ctx, server, user, "127.0.9.32", MSGPACK);
  await join(sibling, room.roomId);
  const before = await room.snapshot();
  let refused = 0;
  for (const c of [
    { what: "JSON over WebSocket", ip: "127.0.9.33", opts: {}, meta: emptyObjects(300_000), ack: true },
    { what: "JSON over polling", ip: "127.0.9.34", opts: { transports: ["polling"] }, meta: emptyObjects(300_000), ack: true },
    // msgpack clients write the ack id after the data: it is read when the data holds at
    // most 4,096 values to pass over...
    { what: "msgpack, 3,000 values", ip: "127.0.9.35", opts: MSGPACK, meta: smallObjects(1_000), ack: true },
    // ...and otherwise the socket gets an error event
    { what: "msgpack, 300,000 values", ip: "127.0.9.36", opts: MSGPACK, meta: emptyObjects(300_000), ack: false },
  ]) {
    const s = await connectUser(ctx, server, user, c.ip, c.opts);
    await join(s, room.roomId);
    const gone = new Promise((resolve) => s.once("disconnect", (reason, details) => resolve({ reason, details })));
    const payload = { roomId: room.roomId, content: "too much", meta: c.meta };
    let error;
    if (c.ack) {
      const r = await ack(s, "send-message", payload);
      assertAckError(r, "PAYLOAD_TOO_LARGE", c.what);
      error = r.error;
    } else {
      const e = new Promise((resolve) => s.once("error", resolve));
      s.emit("send-message", payload, (...a) => assert.fail(`${c.what}: no ack was expected, got ${JSON.stringify(a)}`));
      error = await Promise.race([e, after(5000, { message: "no error event within 5 s" })]);
      assert.equal(error.code, "PAYLOAD_TOO_LARGE", `${c.what}: error event ${JSON.stringify(error)}`);
    }
    assert.match(error.message, /decode budget/, `${c.what}: the message names the budget: ${error.message}`);
    refused += 1;
    const { reason, details } = await Promise.race([gone, after(5000, { reason: "still connected after 5 s" })]);
    assert.equal(reason, "transport close", `${c.what}: the connection is closed`);
    if (!c.opts.transports) { // WebSocket
      assert.equal(details.context.code, 1009, `${c.what}: WebSocket close code ${details.context.code}`);
    }
    ctx.t.diagnostic(`${c.what}: ${c.ack ? "ack" : "error event"} ${JSON.stringify(error)}, then ${reason}`);
  }
  assert.equal(await server.metric("edgeio_refusals_total", { reason: "decode_budget" }), refused, "each refusal is counted");
  assert.ok(sibling.connected, "the user's other socket is still connected");
  await ackOk(sibling, "get-room-presence", room.roomId);
  assert.deepStrictEqual(await room.snapshot(), before, "nothing stored changed");
  await room.check("packets over the decode budget");
}, { timeout: 30000 });

// ---- what passes ------------------------------------------------------------------------

hostileTest("legitimate packets pass the decode budget with both parsers: mark-as-read with 500 ids, a 10,000-character message, 10 inline attachments of 95 KB, nested objects", async (ctx) => {
  const { server, room } = await productionRoom(ctx, ["127.0.9.40"]);
  const [reader] = room.members;
  for (const [name, opts, ip] of [["json", {}, "127.0.9.41"], ["msgpack", MSGPACK, "127.0.9.42"]]) {
    const s = await connectUser(ctx, server, uniq(name), ip, opts);
    await join(s, room.roomId);

    const content = "é".repeat(5000) + "x".repeat(5000);
    const got = waitForMatch(reader, "new-message", (m) => m && m.content === content, 5000, `${name}: 10,000 characters`);
    const sent = await ackOk(s, "send-message", { roomId: room.roomId, content });
    await got;

    // the newest id read must be a stored message's; 499 more ids that sort before it
    const id = sent.message.id;
    const ids = [id, ...Array.from({ length: 499 }, (_, i) => `${id.slice(0, -1)}!${i}`)];
    await ackOk(s, "mark-as-read", { roomId: room.roomId, messageIds: ids });

    const files = Array.from({ length: 10 }, (_, i) => ({ name: `photo-${i}.jpg`, type: "image/jpeg", data: Buffer.alloc(95_000, i) }));
    const withFiles = waitForMatch(reader, "new-message", (m) => m && m.content === `${name} files`, 5000, `${name}: attachments`);
    await ackOk(s, "send-message", { roomId: room.roomId, content: `${name} files`, attachments: files });
    const [delivered] = await withFiles;
    assert.equal(delivered.attachments.length, 10, `${name}: 10 attachments delivered`);
    assert.ok(Buffer.from(delivered.attachments[9].data).equals(files[9].data), `${name}: the bytes arrive intact`);

    const meta = {
      thread: { parent: { id: sent.message.id, depth: 3 }, participants: ["u1", "u2", "u3"] },
      mentions: Array.from({ length: 50 }, (_, i) => ({ userId: `u${i}`, at: i * 7, range: [i, i + 3] })),
      client: { app: "web", version: "1.2.3", features: { typing: true, receipts: true, reactions: ["👍", "🎉"] } },
    };
    await ackOk(s, "send-message", { roomId: room.roomId, content: `${name} nested`, meta });
  }
  assert.equal(await server.metric("edgeio_refusals_total", { reason: "decode_budget" }), 0, "nothing was refused");
}, { timeout: 30000 });
