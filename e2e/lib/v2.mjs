// socket.io-client 2.x (Engine.IO v3, Socket.IO protocol v4) for the chat suites: its
// transport x parser matrix, connecting with the token in the query (v2 has no CONNECT
// payload), and refusals, which v2 reports as an `error` event with the message.
// Acks, waits and payload checks are those of chat.mjs and client.mjs: they work on v2
// sockets unchanged.
import ioV2 from "socket.io-client-v2";
import msgpackV2 from "socket.io-msgpack-parser-v2";
import { track } from "./scope.mjs";
import { tokenFor, defaultName } from "./chat.mjs";

export const V2_TRANSPORTS = [
  { name: "polling", opts: { transports: ["polling"] }, final: "polling" },
  { name: "websocket", opts: { transports: ["websocket"] }, final: "websocket" },
  { name: "upgrade", opts: {}, final: "websocket", upgrade: true },
];

/** A v2 server speaks one parser to all v2 clients (--eio3-parser). */
export const V2_PARSERS = {
  json: { name: "json", opts: {}, serverArgs: [] },
  msgpack: { name: "msgpack", opts: { parser: msgpackV2 }, serverArgs: ["--eio3-parser", "msgpack"] },
};

/** The v2 combos of one parser: its three transport settings. */
export const v2Matrix = (parser) =>
  V2_TRANSPORTS.map((transport) => ({ label: `v2/${transport.name}/${parser.name}`, transport, parser, v2: true }));

function makeV2(server, token, combo, opts = {}) {
  const socket = ioV2(server.url, {
    forceNew: true,
    reconnection: false,
    timeout: 5000,
    query: { token },
    ...combo.transport.opts,
    ...combo.parser.opts,
    ...opts,
  });
  track({ close: () => { try { socket.close(); } catch { /* closed */ } } });
  socket.on("disconnect", (reason) => { socket.lastDisconnect = reason; });
  return socket;
}

/**
 * Connects user `sub` with socket.io-client 2.x; for the default transports, waits for the
 * upgrade to WebSocket. Returns the socket with `user` = { id, name }.
 */
export async function v2Connect(server, sub, { combo, name, token, opts } = {}) {
  const socket = makeV2(server, token ?? tokenFor(sub, { name }), combo, opts);
  const upgraded = combo.transport.upgrade
    ? new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("v2: no upgrade to websocket within 5 s")), 5000);
        socket.io.on("open", () => socket.io.engine.once("upgrade", () => { clearTimeout(timer); resolve(); }));
      })
    : null;
  upgraded?.catch(() => {});
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("v2: no connect within 5 s")), 5000);
    const fail = (what) => (err) => { clearTimeout(timer); reject(new Error(`v2 ${what}: ${err && (err.message || err)}`)); };
    socket.once("connect", () => { clearTimeout(timer); resolve(); });
    socket.once("error", fail("error"));
    socket.once("connect_error", fail("connect_error"));
  });
  if (upgraded) await upgraded;
  const transport = socket.io.engine.transport.name;
  if (transport !== combo.transport.final) throw new Error(`v2 transport is ${transport}, want ${combo.transport.final}`);
  socket.user = { id: sub, name: name === undefined ? defaultName(sub) : name };
  return socket;
}

/** Expects the server to refuse the token; resolves with what the `error` event carried. */
export function v2Refused(server, token, combo) {
  const socket = makeV2(server, token, combo);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("v2: no refusal within 5 s")), 5000);
    socket.once("error", (err) => { clearTimeout(timer); socket.close(); resolve(err); });
    socket.once("connect", () => { clearTimeout(timer); reject(new Error("v2: connected, expected a refusal")); });
  });
}
