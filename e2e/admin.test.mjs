// The admin listener: what /metrics reports while clients use the chat (connections by
// transport, sockets, rooms, packets and bytes, broadcast fan-out and latency, shard queue
// wait, store latency, refusals, Go runtime), the pprof endpoints, the health probes, and
// --admin-token in front of everything but the probes.
// Source addresses of this file: 127.0.7.x.
import assert from "node:assert/strict";
import {
  hostileTest, connectUser, join, ackOk, ack, request, until, uniq, metricValue,
} from "./lib/hostile.mjs";

/** Every sample of the metrics page, as a function of name and labels. */
async function snapshot(server) {
  const text = await server.metricsText();
  return (name, labels) => metricValue(text, name, labels);
}

hostileTest("/metrics follows the clients: sessions by transport, sockets, rooms, traffic, broadcasts, store calls", async (ctx) => {
  const server = await ctx.start([]);
  const room = uniq("metrics-room");
  const alice = await connectUser(ctx, server, uniq("alice"), "127.0.7.1");
  const bob = await connectUser(ctx, server, uniq("bob"), "127.0.7.2");
  const carol = await connectUser(ctx, server, uniq("carol"), "127.0.7.3", { transports: ["polling"] });
  for (const s of [alice, bob, carol]) await join(s, room);

  let m = await snapshot(server);
  assert.equal(m("edgeio_sessions_websocket"), 2, "two sessions on WebSocket");
  assert.equal(m("edgeio_sessions_polling"), 1, "one on long-polling");
  assert.equal(m("edgeio_sockets"), 3, "three Socket.IO sockets");
  assert.ok(m("edgeio_rooms") >= 1, `the room is counted: ${m("edgeio_rooms")}`);
  assert.ok(m("go_goroutines") > 0 && m("go_memstats_heap_alloc_bytes") > 0, "Go runtime metrics");
  assert.ok(m("process_resident_memory_bytes") > 1e6, "process RSS");
  for (const op of ["append", "get", "edit", "delete", "history", "mark_read", "read_state"]) {
    assert.equal(m("edgeio_store_failures_total", { op }), 0, `no store failures (${op}) yet`);
  }

  const before = m;
  const sent = [];
  for (let i = 0; i < 3; i++) sent.push((await ackOk(alice, "send-message", { roomId: room, content: `hello ${i}` })).message);
  await ackOk(alice, "edit-message", { messageId: sent[0].id, content: "edited" });
  await ackOk(bob, "get-history", { roomId: room });
  const refused = await ack(bob, "edit-message", { messageId: sent[1].id, content: "not mine" });
  assert.equal(refused.ok, false, "bob may not edit alice's message");
  // each new-message reached three sockets; wait until the last one reached carol's poll
  await until(async () => (await snapshot(server))("edgeio_broadcasts_total") - before("edgeio_broadcasts_total") >= 4, 5000, "the broadcasts counted");

  m = await snapshot(server);
  const delta = (name, labels) => m(name, labels) - before(name, labels);
  assert.ok(delta("edgeio_broadcast_fanout_sum") >= 4 * 3, `fan-out of 4 broadcasts to 3 sockets: ${delta("edgeio_broadcast_fanout_sum")}`);
  assert.ok(delta("edgeio_broadcast_seconds_count") >= 4, "broadcast latency observed");
  assert.ok(delta("edgeio_shard_queue_seconds_count") >= 4, "shard queue wait observed");
  assert.ok(delta("edgeio_messages_in_total") >= 6 && delta("edgeio_bytes_in_total") > 100, "packets and bytes in");
  assert.ok(delta("edgeio_packets_out_total") >= 12 && delta("edgeio_bytes_out_total") > 500, "packets and bytes out");
  assert.equal(delta("edgeio_store_seconds_count", { op: "append" }), 3, "three appends timed");
  // bob's edit is refused by the hub, which read the message (get) and saw its author: no store edit
  assert.equal(delta("edgeio_store_seconds_count", { op: "edit" }), 1, "one edit timed (the other refused before it)");
  assert.ok(delta("edgeio_store_seconds_count", { op: "history" }) >= 1, "history timed");
  assert.equal(m("edgeio_store_failures_total", { op: "edit" }), 0, "a refused edit is the caller's error, not a store failure");
  assert.ok(m("edgeio_store_seconds_bucket", { op: "append", le: "+Inf" }) >= 3, "append latency buckets");

  const closes = async () => (await server.metricsText()).split("\n")
    .filter((l) => l.startsWith("edgeio_session_closes_total{")).reduce((sum, l) => sum + Number(l.split(" ").pop()), 0);
  const closedBefore = await closes();
  bob.close();
  await until(async () => (await snapshot(server))("edgeio_sessions_websocket") === 1, 5000, "bob's session gone from the gauge");
  m = await snapshot(server);
  assert.equal(m("edgeio_sockets"), 2, "two sockets left");
  assert.equal(await closes(), closedBefore + 1, "bob's close counted (by reason)");
});

hostileTest("pprof and the health probes answer on the admin listener, and not on the client port", async (ctx) => {
  const server = await ctx.start([]);
  const health = await server.admin("/healthz");
  assert.equal(health.status, 200, "/healthz");
  assert.equal(health.text.trim(), "ok");
  assert.equal((await server.admin("/readyz")).status, 200, "/readyz");
  const index = await server.admin("/debug/pprof/");
  assert.equal(index.status, 200, "/debug/pprof/");
  assert.match(index.text, /goroutine/, "the pprof index lists the goroutine profile");
  const goroutines = await server.admin("/debug/pprof/goroutine?debug=1");
  assert.match(goroutines.text, /^goroutine profile: total \d+/, "a goroutine dump");
  const cpu = await server.admin("/debug/pprof/profile?seconds=1", { ms: 5000 });
  assert.equal(cpu.status, 200, "a CPU profile");
  assert.deepEqual([...cpu.body.subarray(0, 2)], [0x1f, 0x8b], "the profile is gzipped protobuf");
  const heap = await server.admin("/debug/pprof/heap");
  assert.equal(heap.status, 200, "a heap profile");
  assert.ok(heap.body.length > 100, "the heap profile has content");
  for (const p of ["/metrics", "/debug/pprof/", "/healthz"]) {
    const r = await request(server.url + p, { ip: "127.0.7.9" });
    assert.notEqual(r.status, 200, `${p} is not served on the client port`);
  }
});

hostileTest("--admin-token guards /metrics and pprof, and leaves the probes open", async (ctx) => {
  const token = "admin-" + Math.random().toString(36).slice(2);
  const server = await ctx.start(["--admin-token", token]);
  for (const p of ["/metrics", "/debug/pprof/", "/debug/pprof/heap", "/admin/bans"]) {
    const none = await server.admin(p);
    assert.equal(none.status, 401, `${p} without the token`);
    assert.match(String(none.headers["www-authenticate"]), /^Bearer/, `${p} says how to authenticate`);
    assert.equal((await server.admin(p, { headers: { Authorization: `Bearer ${token}x` } })).status, 401, `${p} with a wrong token`);
    assert.equal((await server.admin(p, { headers: { Authorization: token } })).status, 401, `${p} with the token but not as Bearer`);
    assert.equal((await server.admin(p, { headers: { Authorization: `Bearer ${token}` } })).status, 200, `${p} with the token`);
  }
  assert.equal((await server.admin("/healthz")).status, 200, "/healthz needs no token");
  assert.equal((await server.admin("/readyz")).status, 200, "/readyz needs no token");
  assert.ok(await server.metric("go_goroutines") > 0, "metrics readable with the token");
});
