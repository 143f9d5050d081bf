// The bare Engine.IO echo at /engine.io/: every message, text or binary, comes back as it
// came. Driven by the stock engine.io-client over each transport setting, and by hand.
import { describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { Socket as EngineSocket } from "engine.io-client";
import { startServer } from "./lib/server.mjs";
import { serverTest, closeOrphans, track } from "./lib/scope.mjs";
import { TRANSPORTS, waitFor, sleep } from "./lib/client.mjs";
import { rawOpen, http, pollUrl, pollHandshake, SEP } from "./lib/raw.mjs";

let server;
before(async () => { server = await startServer(); });
after(async () => { closeOrphans(); await server?.stop(); });

const it = serverTest(() => server);

async function open(transport) {
  const sock = new EngineSocket(server.url, { path: "/engine.io/", ...transport.opts });
  track({ close: () => sock.close() });
  const upgraded = transport.upgrade ? waitFor(sock, "upgrade", 5000, "upgrade to websocket") : null;
  if (upgraded) upgraded.catch(() => {});
  await Promise.race([
    waitFor(sock, "open", 5000, "engine.io open"),
    waitFor(sock, "error", 5000).then(([e]) => { throw new Error(`engine.io error: ${e && e.message}`); }),
  ]);
  if (upgraded) await upgraded;
  assert.equal(sock.transport.name, transport.final);
  return sock;
}

function collect(sock) {
  const got = [];
  sock.on("message", (m) => got.push(m));
  return got;
}

async function until(cond, ms, what) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(10);
  }
}

for (const transport of TRANSPORTS) {
  describe(`engine.io-client/${transport.name}`, () => {
    it("echoes text and binary messages in order", async () => {
      const sock = await open(transport);
      const got = collect(sock);
      const sent = ["hello", "ünïcødé ✓ 😀", Buffer.from([0, 1, 2, 255]), "x".repeat(50_000), randomBytes(64 * 1024)];
      for (const m of sent) sock.send(m);
      await until(() => got.length >= sent.length, 5000, `${got.length}/${sent.length} echoes`);
      assert.equal(got.length, sent.length);
      sent.forEach((m, i) => {
        if (typeof m === "string") {
          assert.equal(typeof got[i], "string", `message ${i} type`);
          assert.ok(got[i] === m, `message ${i} text differs`);
        } else {
          assert.ok(!(typeof got[i] === "string"), `message ${i} must come back as binary`);
          assert.ok(Buffer.from(got[i]).equals(m), `message ${i} bytes differ`);
        }
      });
    });

    it("stays open across several ping intervals", async () => {
      const sock = await open(transport);
      const closes = [];
      sock.on("close", (reason) => closes.push(reason));
      await sleep(1200);
      assert.deepStrictEqual(closes, []);
      const got = collect(sock);
      sock.send("still here");
      await until(() => got.length === 1, 3000, "echo after idling");
      assert.equal(got[0], "still here");
    });
  });
}

describe("engine.io by hand", () => {
  it("websocket: text frame 4… and binary frames echo back unchanged", async () => {
    const { sock, handshake } = await rawOpen(server, { path: "/engine.io/" });
    assert.equal(typeof handshake.sid, "string");
    sock.send("4plain text");
    const text = await sock.nextText("4", 2000);
    assert.equal(text.data, "4plain text");
    sock.send(Buffer.from([9, 8, 7]));
    const bin = await sock.next(2000, (f) => f.binary, "binary echo");
    assert.ok(bin.data.equals(Buffer.from([9, 8, 7])));
  });

  it("polling: a payload of text and base64 binary packets echoes back", async () => {
    const { sid } = await pollHandshake(server, { path: "/engine.io/" });
    const url = pollUrl(server, { path: "/engine.io/", sid });
    const body = ["4one", "4two", "b" + Buffer.from([1, 2, 3]).toString("base64")].join(SEP);
    const post = await http(url, { method: "POST", headers: { "content-type": "text/plain;charset=UTF-8" }, body });
    assert.equal(post.status, 200, `POST: HTTP ${post.status} ${post.text}`);
    const echoed = [];
    const deadline = Date.now() + 3000;
    while (echoed.length < 3 && Date.now() < deadline) {
      const res = await http(url, {}, 3000);
      assert.equal(res.status, 200, `GET: HTTP ${res.status} ${res.text}`);
      echoed.push(...res.text.split(SEP).filter((p) => p !== "2")); // drop pings
      if (res.text.split(SEP).includes("2")) {
        await http(url, { method: "POST", headers: { "content-type": "text/plain;charset=UTF-8" }, body: "3" });
      }
    }
    assert.deepStrictEqual(echoed, ["4one", "4two", "bAQID"]);
  });
});
