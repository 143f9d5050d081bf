// The admin dashboard in a real browser (Debian's headless Chromium, driven by
// playwright-core): signing in with /dashboard?token= leaves the token out of the address,
// the page shows the sockets by transport, the busiest room, a refusal and a delivery latency
// chart that moves with the traffic; without the token the page is refused. A screenshot goes
// to e2e/output/dashboard.png.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { withScope, closeOrphans } from "./lib/scope.mjs";
import { freePort, E2E_DIR } from "./lib/server.mjs";
import { TRANSPORTS, PARSERS } from "./lib/client.mjs";
import { startChat, chatConnect, chatRefused, tokenFor, uniq, join, send, sleep } from "./lib/chat.mjs";

const TOKEN = "dash-" + Math.random().toString(36).slice(2);
const servers = [];
let browser;
after(async () => {
  closeOrphans();
  if (browser) await browser.close();
  for (const s of servers) await s.stop();
});

const POLLING = { label: "polling/json", transport: TRANSPORTS.find((t) => t.name === "polling"), parser: PARSERS.json };

test("the dashboard in headless Chromium: sockets by transport, top room, refusals, a latency chart; 401 without the token", { timeout: 60000 }, () => withScope(async () => {
  const adminPort = await freePort();
  const admin = `http://127.0.0.1:${adminPort}`;
  const server = await startChat(["--admin-addr", `127.0.0.1:${adminPort}`, "--admin-token", TOKEN]);
  servers.push(server);
  const room = uniq("lobby");
  const alice = await chatConnect(server, uniq("alice"));
  const bob = await chatConnect(server, uniq("bob"), { combo: POLLING });
  await join(alice, room);
  await join(bob, room);
  await chatRefused(server, { token: tokenFor("mallory", { secret: "wrong" }) });
  let chatting = true;
  const chat = (async () => { while (chatting) { await send(alice, room, "hello"); await sleep(50); } })();

  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(err.message));
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  await page.goto(`${admin}/dashboard?token=${TOKEN}`);
  assert.equal(new URL(page.url()).search, "", "the token left the address bar");
  const text = (id) => page.locator(`#${id}`).innerText();
  await page.waitForFunction(() => document.getElementById("sockets").textContent === "2", null, { timeout: 10000 });
  assert.equal(await text("websocket"), "1");
  assert.equal(await text("polling"), "1");
  assert.equal(await text("redis"), "none");
  await page.waitForFunction((r) => document.getElementById("topRooms").textContent.includes(r), room, { timeout: 5000 });
  assert.match(await text("topRooms"), new RegExp(`${room}\\s+2`), "the room and its two members");
  assert.match(await text("refusals"), /auth_UNAUTHORIZED\s+1/, "the refused token");
  // a few seconds of traffic: rates and a chart of latency percentiles
  await page.waitForFunction(() => document.getElementById("p95").getAttribute("points").split(" ").length >= 3, null, { timeout: 10000 });
  assert.ok(Number(await text("msgRate")) > 0, `messages in per second: ${await text("msgRate")}`);
  assert.match(await text("l95"), /^\d+(\.\d+)?$/, "a p95 figure");
  const out = path.join(E2E_DIR, "output");
  mkdirSync(out, { recursive: true });
  await page.screenshot({ path: path.join(out, "dashboard.png"), fullPage: true });
  assert.deepStrictEqual(problems, [], "no script errors on the page");

  const refused = await (await browser.newContext()).newPage(); // a context of its own: no cookie
  const r = await refused.goto(`${admin}/dashboard`);
  assert.equal(r.status(), 401, "the dashboard without the token");
  chatting = false;
  await chat;
}));
