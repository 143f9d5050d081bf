// Hostile clients that tie up resources without sending much: a WebSocket peer that stops
// reading and a long-polling client that stops polling while their room is busy
// (--max-buffered), and a TCP client that sends half a
// request line and stalls (the 10 s read timeout). The two tests run side by side: the
// half-open one mostly waits.
// Source addresses of this file: 127.0.6.x.
import assert from "node:assert/strict";
import net from "node:net";
import { describe } from "node:test";
import {
  hostileTest, honestRoom, TcpWs, storedHistory, tokenFor, uniq, after, sleep, pollOpen, pollUrl, request,
} from "./lib/hostile.mjs";
import { assertEachOnce, assertP95Kept } from "./lib/latency.mjs";

const MB = 1024 * 1024;

describe("slow and half-open clients", { concurrency: true }, () => {
  hostileTest("a WebSocket client that stops reading and a poller that stops polling are cut off ('slow consumer'); the room keeps getting everything once, at the same p95; RSS stays bounded", async (ctx) => {
    const server = await ctx.start([
      "--max-buffered", "1000000",
      "--max-content-length", "60000",
      // the stalled client must be cut off for not reading, not for missing pongs
      "--ping-interval", "30s", "--ping-timeout", "30s",
    ]);
    const room = await honestRoom(ctx, server, ["127.0.6.2", "127.0.6.3", "127.0.6.4"]);
    const slow = new TcpWs(ctx, server, { ip: "127.0.6.10" });
    await slow.joinAs(tokenFor(uniq("stalled")), room.roomId);
    const before = await room.snapshot();
    const rssBefore = server.rssKB();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => { try { rssPeak = Math.max(rssPeak, server.rssKB()); } catch { /* exited */ } }, 50);
    ctx.track({ close: () => clearInterval(sampler) });

    // every honest member records each bulk message it gets: its id and its latency
    const sentAt = new Map(); // clientMsgId → send time
    const phaseOf = new Map(); // clientMsgId → "baseline" | "stalled"
    const received = room.members.map(() => []);
    room.members.forEach((m, i) => m.on("new-message", (p) => {
      if (p && sentAt.has(p.clientMsgId)) received[i].push({ id: p.id, phase: phaseOf.get(p.clientMsgId), latency: Date.now() - sentAt.get(p.clientMsgId) });
    }));
    const body = "b".repeat(50 * 1000); // 50 KB a message
    const senders = room.members.slice(0, 2);
    const storedIds = [];
    const failed = [];
    let sent = 0;
    /**
     * Paced chat: a 50 KB message every GAP_MS from two honest users in turn, at most 8
     * waiting for their ack, until done() says so. Paced rather than as fast as the server
     * goes, so that a latency measures the delivery and not the test's own queue.
     */
    const GAP_MS = 10;
    async function chat(phase, done) {
      const pending = new Set();
      while (!done()) {
        if (pending.size < 8) {
          const id = `bulk-${sent}-${uniq("c")}`;
          sentAt.set(id, Date.now());
          phaseOf.set(id, phase);
          const p = senders[sent % 2].timeout(5000).emitWithAck("send-message", { roomId: room.roomId, content: `${sent} ${body}`, clientMsgId: id })
            .then((r) => { if (r && r.ok === true) storedIds.push(r.message.id); else failed.push(r); },
              (err) => failed.push(String(err)))
            .finally(() => pending.delete(p));
          pending.add(p);
          sent++;
        }
        await sleep(GAP_MS);
      }
      await Promise.all(pending);
    }

    // baseline: the same chat while the future staller still reads (about a second)
    const closesBaseline = await server.metric("edgeio_session_closes_total", { reason: "slow consumer" });
    const t0 = Date.now();
    await chat("baseline", () => Date.now() - t0 >= 1000);
    const baselineSent = sent;
    assert.equal(await server.metric("edgeio_session_closes_total", { reason: "slow consumer" }), closesBaseline,
      "a client that reads is not cut off as a slow consumer");

    // and a long-polling client that joins, then never polls again
    const pollIp = "127.0.6.12";
    const { sid } = await pollOpen(server, pollIp);
    const post = (body) => request(pollUrl(server, { sid }), { ip: pollIp, method: "POST", body, headers: { "Content-Type": "text/plain" } });
    assert.equal((await post(`40${JSON.stringify({ token: tokenFor(uniq("poller")) })}`)).status, 200);
    assert.equal((await post(`421${JSON.stringify(["join-room", room.roomId])}`)).status, 200);
    let polled = "";
    for (let i = 0; i < 5 && !polled.includes("431["); i++) polled += (await request(pollUrl(server, { sid }), { ip: pollIp })).text;
    assert.match(polled, /431\[\{[^\x1e]*"ok":true/, "the poller joined the room");

    // the WebSocket client stops reading; the chat goes on, at the same pace, until both
    // non-readers are cut off (or 600 messages, 30 MB)
    slow.pause();
    const closesBefore = await server.metric("edgeio_session_closes_total", { reason: "slow consumer" });
    let cutOff = false;
    const watcher = (async () => {
      while (!cutOff && sent < 600) {
        cutOff = (await server.metric("edgeio_session_closes_total", { reason: "slow consumer" })) >= closesBefore + 2;
        await sleep(50);
      }
    })();
    const t1 = Date.now();
    await chat("stalled", () => cutOff || sent >= 600);
    await watcher;
    const sendMs = Date.now() - t1;
    assert.deepStrictEqual(failed.map((r) => JSON.stringify(r).slice(0, 200)), [], "every honest 50 KB send is acknowledged ok");
    assert.ok(cutOff, `the non-readers were not both cut off (session closes 'slow consumer': ${await server.metric("edgeio_session_closes_total", { reason: "slow consumer" }) - closesBefore}) after ${sent - baselineSent} messages of 50 KB (${((sent - baselineSent) * 50 / 1000).toFixed(1)} MB) in ${sendMs} ms`);
    assert.ok(server.alive(), "server alive");

    // its connection really ends: once it reads again it finds the close
    slow.resume();
    const ended = await Promise.race([slow.ended, after(5000, null)]);
    assert.ok(ended, "the stalled client's TCP connection was closed by the server");
    // the poller's session is closed: what waited for it is dropped, and its next poll
    // carries only the notice (a client that reads learns why), the one after the close
    // packet; then it is gone
    const last = await request(pollUrl(server, { sid }), { ip: pollIp });
    assert.equal(last.status, 200, `the next poll of the cut-off session: HTTP ${last.status}`);
    const notice = last.text.split("\x1e");
    assert.equal(notice.length, 1, `the next poll carries the notice alone, not the backlog (${notice.length} packets, ${last.text.length} bytes)`);
    assert.deepStrictEqual(JSON.parse(notice[0].slice(2)), ["error", { code: "SLOW_CONSUMER", message: "slow consumer: disconnected, reconnect and fetch history" }], "the notice");
    const closing = await request(pollUrl(server, { sid }), { ip: pollIp });
    assert.equal(closing.text, "1", `then the close packet: ${JSON.stringify(closing.text.slice(0, 80))}`);
    const gone = await request(pollUrl(server, { sid }), { ip: pollIp });
    assert.equal(gone.status, 400, `a poll after the close: HTTP ${gone.status} ${gone.text.slice(0, 100)}`);
    assert.equal(gone.json && gone.json.code, 1, "Session ID unknown");

    // every honest member got every acknowledged message exactly once, each within the
    // latency budget, and the staller did not slow them: their p95 while it was there (until
    // it was cut off) against the baseline's
    const deadline = Date.now() + 5000;
    while (received.some((r) => r.length < storedIds.length) && Date.now() < deadline) await sleep(20);
    await sleep(100); // a late second copy would show
    received.forEach((r, i) => {
      assertEachOnce(`honest member ${i}`, r.map((g) => g.id), storedIds);
      const worst = Math.max(...r.map((g) => g.latency));
      assert.ok(worst < 1000, `honest member ${i}: worst latency ${worst} ms during the attack`);
    });
    const all = received.flat();
    assertP95Kept(ctx.t, "honest members", all.filter((g) => g.phase === "baseline").map((g) => g.latency),
      all.filter((g) => g.phase === "stalled").map((g) => g.latency), { phases: ["before the stall", "while stalled"] });
    clearInterval(sampler);
    const rssAfter = server.rssKB();
    const growth = (Math.max(rssPeak, rssAfter) - rssBefore) / 1024;
    assert.ok(growth < 200, `server RSS grew by ${growth.toFixed(0)} MB (before ${(rssBefore / 1024).toFixed(0)} MB, peak ${(rssPeak / 1024).toFixed(0)} MB)`);
    ctx.t.diagnostic(`cut off after ${sent - baselineSent} messages (${((sent - baselineSent) * 50 / 1000).toFixed(1)} MB) in ${sendMs} ms; RSS ${(rssBefore / 1024).toFixed(0)} → peak ${(rssPeak / 1024).toFixed(0)} MB`);

    // stored: exactly the honest messages were added (pages of 10 messages, 500 KB: under
    // --max-buffered, see the history test in hostile-sizes.test.mjs)
    const stored = await storedHistory(room.members[2], room.roomId, { limit: 10 });
    assert.deepStrictEqual(stored.slice(0, before.length), before, "earlier history unchanged");
    assert.deepStrictEqual(stored.slice(before.length).map((m) => m.id).sort(), storedIds.sort(), "exactly the honest messages were stored");
    await room.check("a stalled reader");
  }, { timeout: 40000 });

  hostileTest("half-open: a TCP client that sends half a request line is closed within the read timeout (10 s)", async (ctx) => {
    const server = await ctx.start([]);
    const room = await honestRoom(ctx, server, ["127.0.6.5", "127.0.6.6"]);
    const sock = net.connect({ host: "127.0.0.1", port: server.port, localAddress: "127.0.6.11" });
    ctx.track({ close: () => sock.destroy() });
    sock.on("error", () => { /* a reset counts as closed */ });
    let answer = "";
    sock.on("data", (c) => { answer += c; });
    const closed = new Promise((resolve) => sock.once("close", () => resolve(Date.now())));
    await new Promise((resolve) => sock.once("connect", resolve));
    const t0 = Date.now();
    sock.write("GET /socket.io/?EIO=4&transport=pol");
    // meanwhile the server serves everyone else
    await sleep(1000);
    assert.equal(sock.destroyed, false, "still open after 1 s (a timeout, not a refusal of the bytes)");
    await room.check("a half-open request (while it hangs)", { n: 1 });
    const at = await Promise.race([closed, after(12000 - (Date.now() - t0), null)]);
    assert.ok(at, `the half-open connection is still open after 12 s`);
    const waited = at - t0;
    assert.ok(waited <= 12000, `closed after ${waited} ms`);
    assert.ok(!/^HTTP\/1\.1 [23]/.test(answer), `no success answer to half a request line: ${JSON.stringify(answer.slice(0, 80))}`);
    ctx.t.diagnostic(`half-open connection closed after ${waited} ms`);
    await room.check("a half-open request");
  }, { timeout: 20000 });
});
