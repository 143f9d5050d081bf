// The web chat demo (--demo) in a real browser: two users in two Chromium contexts log in
// with development tokens (one with each parser), join a room, see each other's presence, typing, messages, read
// receipts, edits and deletes, and page older history; screenshots go to e2e/output/. Without
// --demo there is no /demo, and with a configured key /demo/token mints nothing.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { E2E_DIR } from "./lib/server.mjs";
import { startChat, uniq, tokenFor } from "./lib/chat.mjs";
import { EdgeioClient } from "../hub/sdk/dist/index.js";

const servers = [];
let browser;
after(async () => {
  if (browser) await browser.close();
  for (const s of servers) await s.stop();
});

const WAIT = { timeout: 10000 };

async function launch() {
  browser ??= await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  return browser;
}

async function login(ctx, url, name, parser) {
  const page = await ctx.newPage();
  const problems = [];
  page.on("pageerror", (err) => problems.push(err.message));
  page.on("console", (m) => { if (m.type() === "error") problems.push(m.text()); });
  const binary = []; // whether each WebSocket frame the page sent was binary (msgpack) or text
  page.on("websocket", (ws) => ws.on("framesent", (f) => binary.push(typeof f.payload !== "string")));
  await page.goto(`${url}/demo/`);
  assert.equal(await page.locator("#nobundle").isVisible(), false, "the bundle was built (scripts/build-web.sh)");
  assert.equal(await page.locator("#chat").isVisible(), false, "no chat before logging in");
  await page.fill("#name", name);
  await page.selectOption("#parser", parser);
  await page.click("#login-btn");
  await page.locator("#conn.online", { hasText: `connected (${parser})` }).waitFor(WAIT);
  assert.equal(await page.locator("#login").isVisible(), false, "the login form is gone");
  assert.equal(await page.locator("#me").innerText(), name);
  return { page, problems, binary };
}

async function joinRoom(page, room) {
  await page.fill("#room-input", room);
  await page.click("#join-btn");
  await page.locator("#room-title", { hasText: room }).waitFor(WAIT);
}

test("two users chat through the demo in headless Chromium", { timeout: 90000 }, async () => {
  // --jwt-secret= (empty, after chatArgs' own): the development secret, so /demo/token mints
  const server = await startChat(["--demo", "--jwt-secret="]);
  servers.push(server);
  const room = uniq("demo");

  // 25 older messages from a third user, sent through the SDK with a token of /demo/token
  const carolToken = async () => (await (await fetch(`${server.url}/demo/token?name=Carol`)).json()).token;
  const carol = new EdgeioClient({ url: server.url, getToken: carolToken });
  await carol.joinRoom(room);
  for (let i = 1; i <= 25; i++) await carol.sendMessage({ roomId: room, content: `old ${i}` });
  carol.close();

  await launch();
  // one of each parser: the bundle carries both
  const a = await login(await browser.newContext(), server.url, "Alice", "json");
  const b = await login(await browser.newContext(), server.url, "Bob", "msgpack");
  await joinRoom(a.page, room);
  await joinRoom(b.page, room);

  // history: the newest page, then the older messages on demand
  const bMessages = b.page.locator("#messages li[data-id]");
  await b.page.waitForFunction(() => document.querySelectorAll("#messages li[data-id]").length === 20, null, WAIT);
  assert.equal(await bMessages.first().locator(".content").innerText(), "old 6", "the newest 20 of 25");
  assert.ok(await b.page.locator("#load-older").isVisible(), "older messages can be loaded");
  await b.page.click("#load-older");
  await b.page.waitForFunction(() => document.querySelectorAll("#messages li[data-id]").length === 25, null, WAIT);
  assert.equal(await bMessages.first().locator(".content").innerText(), "old 1", "the oldest message after paging");
  assert.equal(await b.page.locator("#load-older").isVisible(), false, "nothing older left");

  // presence: each sees the other online, and Bob going away
  await a.page.locator("#presence li[data-user=bob].online").waitFor(WAIT);
  await b.page.locator("#presence li[data-user=alice].online").waitFor(WAIT);
  await b.page.selectOption("#status", "away");
  await a.page.locator("#presence li[data-user=bob].away", { hasText: "Bob (away)" }).waitFor(WAIT);
  await b.page.locator("#presence li[data-user=bob].away").waitFor(WAIT);

  // typing: Alice types, Bob sees it
  await a.page.fill("#text", "hello from ali");
  await b.page.locator("#typing", { hasText: "Alice is typing" }).waitFor(WAIT);
  await a.page.fill("#text", "hello <b>Bob</b> & co");
  await a.page.click("#send");
  // the server removes tags and escapes & (--sanitize html); the page shows the text as text
  const onB = b.page.locator("#messages li[data-id]", { hasText: "hello Bob & co" });
  await onB.waitFor(WAIT);
  assert.equal(await onB.locator(".author").innerText(), "Alice");
  assert.equal(await b.page.locator("#typing").innerText(), "", "sending ended Alice's typing");
  const id = await onB.getAttribute("data-id");
  const mine = a.page.locator(`#messages li[data-id="${id}"]`);
  await mine.waitFor(WAIT);
  assert.equal(await a.page.locator("#messages li.pending").count(), 0, "no send left pending");

  // Bob has the room open: his page marks it read, and Alice sees the receipt
  await mine.locator(".receipt", { hasText: "read by Bob" }).waitFor(WAIT);

  // an edit shows on Bob's side
  await mine.locator("button.edit").click();
  assert.equal(await a.page.inputValue("#text"), "hello Bob & co", "the message to edit is in the composer");
  await a.page.fill("#text", "hello Bob, edited");
  await a.page.click("#send");
  await b.page.locator(`#messages li[data-id="${id}"]`, { hasText: "hello Bob, edited" }).locator(".edited").waitFor(WAIT);
  assert.equal(await b.page.locator("#typing").innerText(), "", "editing is not typing");

  const outDir = path.join(E2E_DIR, "output");
  mkdirSync(outDir, { recursive: true });
  await a.page.screenshot({ path: path.join(outDir, "demo-alice.png"), fullPage: true });
  await b.page.screenshot({ path: path.join(outDir, "demo-bob.png"), fullPage: true });

  assert.ok(b.binary.includes(true), "Bob's page speaks msgpack: binary frames");
  assert.ok(a.binary.length > 0 && !a.binary.includes(true), "Alice's page speaks JSON: text frames");

  // a delete too
  await mine.locator("button.delete").click();
  await b.page.locator(`#messages li.deleted[data-id="${id}"]`, { hasText: "message deleted" }).waitFor(WAIT);
  assert.equal(await b.page.locator("#messages li[data-id]", { hasText: "hello Bob, edited" }).count(), 0, "the deleted text is gone");

  assert.deepStrictEqual(a.problems, [], "no script errors on Alice's page");
  assert.deepStrictEqual(b.problems, [], "no script errors on Bob's page");
});

test("without --demo there is no /demo; with EDGEIO_DEMO and a configured key /demo/token mints nothing", { timeout: 30000 }, async () => {
  const plain = await startChat();
  servers.push(plain);
  for (const p of ["/demo", "/demo/", "/demo/token?name=x", "/demo/dist/app.js"]) {
    assert.equal((await fetch(`${plain.url}${p}`, { redirect: "manual" })).status, 404, `${p} without --demo`);
  }
  // EDGEIO_DEMO as --demo; chatArgs' --jwt-secret is a configured key
  const keyed = await startChat([], { env: { EDGEIO_DEMO: "true" } });
  servers.push(keyed);
  assert.equal((await fetch(`${keyed.url}/demo/`)).status, 200, "the page is served");
  const r = await fetch(`${keyed.url}/demo/token?name=mallory`);
  assert.equal(r.status, 403, "no development tokens with a configured key");
  assert.equal((await r.json()).token, undefined);

  // the page says so, and takes a pasted token instead
  const page = await (await (await launch()).newContext()).newPage();
  await page.goto(`${keyed.url}/demo/`);
  await page.fill("#name", "Mallory");
  await page.click("#login-btn");
  await page.locator("#login-error", { hasText: "development tokens are off" }).waitFor(WAIT);
  assert.equal(await page.locator("#chat").isVisible(), false, "not logged in");
  await page.click("summary");
  await page.fill("#token", tokenFor("erin", { name: "Erin" }));
  await page.click("#login-btn");
  await page.locator("#conn.online").waitFor(WAIT);
  assert.equal(await page.locator("#chat").isVisible(), true, "logged in with the pasted token");
  assert.equal(await page.locator("#me").innerText(), "Erin", "as the token's user");
});
