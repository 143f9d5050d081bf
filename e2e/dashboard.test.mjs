// The admin dashboard in Debian's headless Chromium, at 1280 and 390 px, while clients chat:
// signing in with /dashboard?token= leaves the token out of the address; the cards show the
// sockets by transport; the latency chart has a time axis, gridlines, a legend with swatches
// and a scale that follows the data (a 51 ms second among ~1 ms ones is marked at the top
// edge, not made the scale); traffic and connections are charted over time; the busiest
// rooms leave personal rooms (user:...) out; refusals and closes by reason with their last
// minute; recovery; the limits in force; nothing clipped or outside the window. A second
// test runs two nodes on a real redis-server: the cluster panel, and every metric that
// docs/grafana-dashboard.json queries is on a node's /metrics. Screenshots:
// e2e/output/dashboard-*.png. Without the token the page is refused.
// Source addresses of this file: 127.0.13.x.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { withScope, closeOrphans } from "./lib/scope.mjs";
import { freePort, E2E_DIR } from "./lib/server.mjs";
import { TRANSPORTS, PARSERS } from "./lib/client.mjs";
import { startChat, chatConnect, chatRefused, tokenFor, uniq, join, send, sleep } from "./lib/chat.mjs";
import { startRedis, startNodes, waitForMesh } from "./lib/redis.mjs";
import { WIDTHS, launch, newPage, assertLayout, OUTPUT_DIR } from "./lib/browser.mjs";

const TOKEN = "dash-" + Math.random().toString(36).slice(2);
const servers = [];
let browser;
after(async () => {
  closeOrphans();
  if (browser) await browser.close();
  for (const s of servers) await s.stop();
});

const POLLING = { label: "polling/json", transport: TRANSPORTS.find((t) => t.name === "polling"), parser: PARSERS.json };
const WAIT = { timeout: 10000 };
/** socket.io-client options that send from 127.0.13.n. */
const ip = (n) => ({ localAddress: `127.0.13.${n}`, agent: new http.Agent({ localAddress: `127.0.13.${n}` }) });

/** Clients chatting in room until stop(): n messages a second from alice. */
function chatter(alice, room, perSecond = 20) {
  let on = true;
  const done = (async () => {
    while (on) {
      await send(alice, room, "hello");
      await sleep(1000 / perSecond);
    }
  })();
  return async () => { on = false; await done; };
}

test("the dashboard in headless Chromium at 1280 and 390 px: charts that follow the data, rooms without personal ones, reasons, recovery, limits; 401 without the token", { timeout: 60000 }, () => withScope(async () => {
  const adminPort = await freePort();
  const admin = `http://127.0.0.1:${adminPort}`;
  const server = await startChat(["--admin-addr", `127.0.0.1:${adminPort}`, "--admin-token", TOKEN, "--rate-messages", "600"]);
  servers.push(server);
  const room = uniq("lobby");
  const alice = await chatConnect(server, uniq("alice"), { opts: ip(1) });
  const bob = await chatConnect(server, uniq("bob"), { combo: POLLING, opts: ip(2) });
  await join(alice, room);
  await join(bob, room);
  await chatRefused(server, { token: tokenFor("mallory", { secret: "wrong" }), opts: ip(3) });
  const stop = chatter(alice, room);
  try {
    browser ??= await launch();
    await dashboardAtEachWidth(admin, server, room);
  } finally {
    await stop();
  }
}));

async function dashboardAtEachWidth(admin, server, room) {
  for (const size of WIDTHS) {
    const context = await browser.newContext({ viewport: { width: size.width, height: size.height } });
    const page = await newPage(context);
    // one second with 50 broadcasts of over a second in it, as a stalled start would give:
    // added to the real histogram from the third answer on (its counts are cumulative)
    let answers = 0;
    await page.route("**/dashboard/data", async (route) => {
      const r = await route.fetch();
      const d = await r.json();
      if (++answers >= 3) d.delivery = d.delivery.map(([le, n]) => [le, le >= 1 ? n + 50 : n]);
      await route.fulfill({ response: r, json: d });
    });
    await page.goto(`${admin}/dashboard?token=${TOKEN}`);
    assert.equal(new URL(page.url()).search, "", "the token left the address bar");
    const text = (id) => page.locator(`#${id}`).innerText();
    await page.waitForFunction(() => document.getElementById("sockets").textContent === "2", null, WAIT);
    assert.equal(await text("websocket"), "1");
    assert.equal(await text("polling"), "1");
    assert.equal(await text("rooms"), "1", "one named room: no socket ids, no user:... rooms");
    assert.equal(await text("redis"), "none");
    await page.waitForFunction((r) => document.getElementById("topRooms").textContent.includes(r), room, WAIT);
    assert.match(await text("topRooms"), new RegExp(`${room}\\s+2`), "the room and its two members");
    assert.doesNotMatch(await text("topRooms"), /user:/, "no personal rooms among the busiest");
    // another refused token while the page watches: the total, and the last minute's
    const before = Number((await text("refusals")).match(/auth_UNAUTHORIZED\s+(\d+)/)[1]);
    await chatRefused(server, { token: tokenFor("mallory", { secret: "wrong" }), opts: ip(3) });
    await page.waitForFunction((n) => new RegExp(`auth_UNAUTHORIZED\\s+${n}\\s+1`).test(document.getElementById("refusals").innerText), before + 1, WAIT);
    assert.match(await text("limits"), /--rate-messages\s+600/, "the limits in force, as set");
    assert.match(await text("limits"), /--ping-interval\s+5 s/, "durations read as durations");
    assert.match(await text("recovery"), /states kept now\s+0/);

    // the spike is in the window, then older than 5 s: the scale follows the other seconds
    const latency = page.locator("#latency svg");
    await page.waitForFunction(() => samples.length >= 10, null, { timeout: 20000 });
    const top = Number(await latency.getAttribute("data-top"));
    const marker = await page.locator("#latency text.clipped").textContent();
    const p99s = await page.evaluate(() => samples.map((s) => s.p99 ?? 0));
    assert.ok(Math.max(...p99s) > 1000, `the injected second is in the window: ${Math.max(...p99s)} ms`);
    assert.ok(top < 500, `the latency scale tops at ${top} ms, not at the spike`);
    const above = p99s.filter((v) => v > top).length;
    assert.ok(above <= 1 + Math.ceil(p99s.length / 10), `the scale follows the data: ${above} of ${p99s.length} seconds above ${top} ms (${p99s.map((v) => v.toFixed(1))})`);
    assert.match(marker, /▲ [\d,.]+ ms/, "the spike is marked at the top edge");
    assert.ok(Number(marker.match(/[\d,.]+/)[0].replace(/,/g, "")) > 1000, `the marker says how high: ${marker}`);
    assert.ok(await page.locator("#latency text.ytick").count() >= 3, "y axis ticks");
    assert.ok(await page.locator("#latency line.gridline").count() >= 5, "gridlines");
    assert.ok(await page.locator("#latency text.xtick").count() >= 2, "a time axis");
    assert.match(await page.locator("#latency text.xtick").first().textContent(), /^\d\d:\d\d(:\d\d)?$/, "clock times");
    // each legend swatch has its line's colour
    const colours = await page.evaluate(() => [...document.querySelectorAll("#latency .legend span")].map((s) => [
      getComputedStyle(s.querySelector(".swatch")).backgroundColor,
      getComputedStyle(document.querySelector(`#latency path[data-key=${s.dataset.key}]`)).stroke,
    ]));
    assert.equal(colours.length, 3, "p50, p95 and p99 in the legend");
    for (const [swatch, stroke] of colours) assert.equal(swatch, stroke, "swatch and line agree");
    assert.ok(Number(await text("msgRate")) > 0, `messages in per second: ${await text("msgRate")}`);
    for (const id of ["traffic", "connections", "bandwidth", "trouble"]) {
      assert.ok((await page.locator(`#${id} path.line`).first().getAttribute("d")).includes("L"), `${id} is charted over time`);
    }
    assert.match(await page.locator("#connections .legend").innerText(), /WebSocket\s*1[\s\S]*long-polling\s*1/);

    await assertLayout(page, `the dashboard at ${size.width} px`);
    await page.screenshot({ path: path.join(OUTPUT_DIR, `dashboard-${size.width}.png`), fullPage: true });
    assert.deepStrictEqual(page.problems, [], "no script errors on the page");
    await context.close();
  }

  const refused = await (await browser.newContext()).newPage(); // a context of its own: no cookie
  const r = await refused.goto(`${admin}/dashboard`);
  assert.equal(r.status(), 401, "the dashboard without the token");
  await refused.context().close();
}

test("two nodes on Redis: the cluster panel, and every metric of docs/grafana-dashboard.json is on /metrics", { timeout: 45000 }, () => withScope(async () => {
  const redis = await startRedis();
  servers.push(redis);
  const nodes = await startNodes(redis, 2);
  servers.push(...nodes);
  await waitForMesh(nodes);
  const [a, b] = nodes;
  const room = uniq("mesh");
  const alice = await chatConnect(a, uniq("alice"), { opts: ip(11) });
  const bob = await chatConnect(b, uniq("bob"), { opts: ip(12) });
  await join(alice, room);
  await join(bob, room);
  for (let i = 0; i < 5; i++) await send(alice, room, `across ${i}`);
  // a refusal and a closed session, so that the counters by reason have samples
  await chatRefused(a, { token: tokenFor("mallory", { secret: "wrong" }), opts: ip(13) });
  const gone = await chatConnect(a, uniq("carol"), { opts: ip(14) });
  gone.close();
  await sleep(300);

  // every series the Grafana dashboard queries
  const grafana = JSON.parse(readFileSync(path.join(E2E_DIR, "..", "docs", "grafana-dashboard.json"), "utf8"));
  const exprs = [];
  const walk = (o) => {
    if (Array.isArray(o)) o.forEach(walk);
    else if (o && typeof o === "object") for (const [k, v] of Object.entries(o)) (k === "expr" ? exprs.push(v) : walk(v));
  };
  walk(grafana.panels);
  assert.ok(exprs.length >= 15, `the Grafana dashboard queries ${exprs.length} expressions`);
  const queried = new Set(exprs.flatMap((e) => e.match(/\b(?:edgeio|process|go)_[a-z0-9_]+\b/g) || []));
  const text = await (await a.admin("/metrics")).text();
  const exposed = new Set(text.split("\n").filter((l) => l && !l.startsWith("#")).map((l) => l.split(/[{ ]/)[0]));
  const missing = [...queried].filter((name) => !exposed.has(name));
  assert.deepStrictEqual(missing, [], `metrics docs/grafana-dashboard.json queries that a clustered node does not expose (of ${queried.size})`);
  for (const name of ["edgeio_redis_up", "edgeio_cluster_nodes", "edgeio_broadcast_seconds_bucket", "edgeio_limit"]) {
    assert.ok(queried.has(name), `the Grafana dashboard shows ${name}`);
  }

  // the page on one node: Redis up, the other node
  browser ??= await launch();
  const page = await browser.newContext({ viewport: { width: 390, height: 844 } }).then(newPage);
  await page.goto(`${a.adminUrl}/dashboard`);
  await page.waitForFunction(() => document.getElementById("redis").textContent === "up · 1 other", null, WAIT);
  await page.locator("#cluster", { hasText: "other nodes" }).waitFor(WAIT);
  assert.match(await page.locator("#cluster").innerText(), /Redis\s+up\s+other nodes\s+1/);
  await assertLayout(page, "the dashboard of a clustered node at 390 px");
  assert.deepStrictEqual(page.problems, [], "no script errors on the page");
  await page.context().close();
}));
