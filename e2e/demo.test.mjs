// The web chat demo (--demo) in Debian's headless Chromium, at 1280 and at 390 px wide: two
// users sign in with development tokens (one of them speaking msgpack through ?parser=),
// land in a room without a click (a new user in general, a returning one in their room, with
// the other room's unread count as a badge), page older history by scrolling up, and chat:
// typing, presence, messages, a read receipt, an image sent as inline bytes and shown to the
// other (and a file offered for download), an edit and a deletion. Refused actions read as sentences (never an error code or the room
// id's regular expression), a reload keeps the session and the room, a lost connection shows
// as reconnecting and comes back recovered with what was missed. After each step nothing is
// clipped, outside the window or under the composer. Screenshots: e2e/output/demo-*.png.
// Without --demo there is no /demo, and with a configured key the page takes a pasted token.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startChat, uniq, tokenFor } from "./lib/chat.mjs";
import { WIDTHS, launch, newPage, screenshot, assertLayout, assertPlainWords, gradientPng } from "./lib/browser.mjs";
import { EdgeioClient } from "../hub/sdk/dist/index.js";

const servers = [];
let browser;
let server;
before(async () => {
  // --jwt-secret= (empty, after chatArgs' own): the development secret, so /demo/token mints
  server = await startChat(["--demo", "--jwt-secret="]);
  servers.push(server);
  browser = await launch();
});
after(async () => {
  if (browser) await browser.close();
  for (const s of servers) await s.stop();
});

const WAIT = { timeout: 10000 };
/** What must never overlap: message rows, the typing line, errors, the composer. */
const APART = ["#messages li.msg", "#typing", "#composer-error", "#composer", "#banner"];

/** A client of the SDK for a name, with development tokens from /demo/token. */
function sdkUser(name) {
  const getToken = async () => (await (await fetch(`${server.url}/demo/token?name=${encodeURIComponent(name)}`)).json()).token;
  return new EdgeioClient({ url: server.url, getToken });
}

/** Signs in through the page's form; frames records whether each WebSocket frame sent was binary. */
async function signIn(size, name, { query = "" } = {}) {
  const context = await browser.newContext({ viewport: { width: size.width, height: size.height } });
  const page = await newPage(context);
  page.frames = [];
  page.on("websocket", (ws) => ws.on("framesent", (f) => page.frames.push(typeof f.payload !== "string")));
  await page.goto(`${server.url}/demo/${query}`);
  assert.equal(await page.locator("#nobundle").isVisible(), false, "the bundle was built (scripts/build-web.sh)");
  assert.equal(await page.locator("#parser").count(), 0, "no parser choice on the sign-in form");
  await assertLayout(page, `the sign-in form at ${size.width} px`);
  await page.fill("#name", name);
  await page.click("#login-btn");
  await page.locator("#conn[data-state=online]").waitFor(WAIT);
  assert.equal(await page.locator("#login").isVisible(), false, "the sign-in form is gone");
  return page;
}

const isPhone = (page) => page.viewportSize().width < 760;

/** The sidebar, behind the menu button on a phone. */
async function showSidebar(page) {
  if (isPhone(page) && !(await page.locator("#side").isVisible())) {
    await page.click("#menu");
    await page.locator("#side").waitFor({ state: "visible" });
  }
}

/** Waits for the drawer to finish closing (a phone, once a room opened). */
async function sidebarClosed(page) {
  if (isPhone(page)) await page.locator("#side").waitFor({ state: "hidden", ...WAIT });
}

async function join(page, room) {
  await showSidebar(page);
  await page.fill("#room-input", room);
  await page.click("#join-btn");
}

const title = (page) => page.locator("#room-title").innerText();
const row = (page, text) => page.locator("#messages li.msg", { hasText: text });

for (const size of WIDTHS) {
  test(`two users chat in the demo at ${size.width} px: a room open at once, history on scroll, typing, a receipt, an image, an edit, a deletion, plain errors, a reload`, { timeout: 60000 }, async (t) => {
    const w = size.width;
    const room = uniq(`room${w}`);
    const other = `${room}-z`; // sorts after room: the returning user lands in room
    const aliceName = `Alice ${w}`;
    const bobName = `Bob ${w}`;

    // Bob comes back to two rooms; Carol wrote 40 messages in one and 3 in the other
    const bobBefore = sdkUser(bobName);
    t.after(() => bobBefore.close());
    await bobBefore.joinRoom(room);
    await bobBefore.joinRoom(other);
    bobBefore.close();
    const carol = sdkUser(`Carol ${w}`);
    t.after(() => carol.close());
    await carol.joinRoom(room);
    await carol.joinRoom(other);
    // two lines or more each: one page fills the list at both widths, and scrolling up loads the rest
    const words = "the quick brown fox jumps over the lazy dog while the slow cat watches it from the garden wall";
    for (let i = 1; i <= 40; i++) await carol.sendMessage({ roomId: room, content: `old ${i} — ${words}` });
    for (let i = 1; i <= 3; i++) await carol.sendMessage({ roomId: other, content: `news ${i}` });
    carol.close();

    // a new user lands in general, ready to write
    const a = await signIn(size, aliceName);
    await a.locator("#room-title", { hasText: "general" }).waitFor(WAIT);
    assert.ok(await a.locator("#text").isEditable(), "the composer is ready");

    // a room name the server would refuse: said in words, and nothing changes
    await join(a, "bad room!");
    await a.locator("#join-error", { hasText: "Room names use letters, digits" }).waitFor(WAIT);
    assert.equal(await title(a), "general", "the open room stays");
    await assertPlainWords(a, "a bad room name");
    await assertLayout(a, `Alice's page with a join error at ${w} px`, { apart: APART });

    // the newest 30 of Carol's 40, then the older ones by scrolling up
    await join(a, room);
    await a.locator("#room-title", { hasText: room }).waitFor(WAIT);
    await sidebarClosed(a);
    await row(a, "old 40 —").waitFor(WAIT);
    assert.equal(await row(a, "old 1 —").count(), 0, "only the newest page at first");
    assert.equal(await a.locator("#messages li.msg").count(), 30, "one page of 30");
    await a.locator("#messages").evaluate((list) => { list.scrollTop = 0; });
    await row(a, "old 1 —").waitFor(WAIT);
    await a.locator("#messages li.list-top", { hasText: "This is the start of" }).waitFor(WAIT);
    assert.equal(await a.locator("#messages li.msg").count(), 40, "all 40 after scrolling up");
    // Carol's run of messages is one group: one avatar and name for the lot
    assert.equal(await a.locator("#messages li.msg:not(.cont) .author", { hasText: `Carol ${w}` }).count(), 1, "one header for Carol's run");

    // Bob, back, finds his room open and the other's 3 unread on its badge; speaks msgpack
    const b = await signIn(size, bobName, { query: "?parser=msgpack" });
    await b.locator("#room-title", { hasText: room }).waitFor(WAIT);
    await b.locator(`#room-list li[data-room="${other}"] .badge`, { hasText: "3" }).waitFor({ state: "attached", ...WAIT });
    if (isPhone(b)) assert.equal(await b.locator("#menu-badge").innerText(), "3", "the menu button carries the count");
    assert.equal(await b.title(), "(3) edgeio chat", "and the tab's title");
    await row(b, "old 40 —").waitFor(WAIT);

    // typing, then the message; Bob has the room open, so Alice sees his receipt
    await a.fill("#text", "Hello Bob, how are things?");
    await b.locator("#typing", { hasText: `${aliceName} is typing` }).waitFor(WAIT);
    await a.press("#text", "Enter");
    await row(b, "Hello Bob, how are things?").waitFor(WAIT);
    await b.locator("#typing", { hasText: /^$/ }).waitFor(WAIT);
    await row(a, "Hello Bob").locator(".receipt", { hasText: `Read by ${bobName}` }).waitFor(WAIT);

    // an image, sent as inline bytes, shown to Alice
    await b.fill("#text", "Fine, thanks. The view from here:");
    await b.setInputFiles("#file", { name: "sunset.png", mimeType: "image/png", buffer: gradientPng(320, 200) });
    await b.locator("#files", { hasText: "sunset.png" }).waitFor(WAIT);
    await b.press("#text", "Enter");
    const image = row(a, "The view from here").locator("img");
    await image.waitFor(WAIT);
    await a.waitForFunction((img) => img.complete && img.naturalWidth === 320, await image.elementHandle(), WAIT);
    assert.match(await row(a, "The view from here").locator("figcaption").innerText(), /sunset\.png/);

    // any other file is offered for download
    await b.setInputFiles("#file", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("bring snacks\n") });
    await b.press("#text", "Enter");
    const file = a.locator("#messages li.msg .file a.download", { hasText: "notes.txt" });
    await file.waitFor(WAIT);
    assert.equal(await file.getAttribute("download"), "notes.txt", "a download, not a page of the demo's origin");

    // presence: Alice sees Bob online, then away
    const bobId = bobName.toLowerCase().replace(/[^a-z0-9_-]+/g, "-");
    await a.locator(`#members li[data-user="${bobId}"].online`).waitFor({ state: "attached", ...WAIT });
    await showSidebar(b);
    await b.selectOption("#status", "away");
    await a.locator(`#members li[data-user="${bobId}"].away`, { hasText: "away" }).waitFor({ state: "attached", ...WAIT });
    if (isPhone(b)) {
      await b.click("#scrim", { position: { x: 370, y: 400 } });
      await sidebarClosed(b);
    }

    // a long word wraps inside its row
    await a.fill("#text", "Longest word I know: " + "pneumonoultramicroscopicsilicovolcanoconiosis".repeat(6));
    await a.press("#text", "Enter");
    await row(b, "Longest word").waitFor(WAIT);

    // an edit, from the message's own menu
    await a.fill("#text", "Meet at 5?");
    await a.press("#text", "Enter");
    await row(b, "Meet at 5?").waitFor(WAIT);
    await row(a, "Meet at 5?").hover();
    await row(a, "Meet at 5?").locator("button.edit").click();
    assert.equal(await a.inputValue("#text"), "Meet at 5?", "the message to edit is in the composer");
    await a.fill("#text", "Meet at 6?");
    await a.press("#text", "Enter");
    await row(b, "Meet at 6?").locator(".edited", { hasText: "(edited)" }).waitFor(WAIT);

    // a deletion, asked once more in place
    await a.fill("#text", "oops, wrong room");
    await a.press("#text", "Enter");
    await row(b, "oops, wrong room").waitFor(WAIT);
    const oops = await row(a, "oops, wrong room").getAttribute("data-id");
    await row(a, "oops, wrong room").hover();
    await row(a, "oops, wrong room").locator("button.delete").click();
    await a.locator(`#messages li[data-id="${oops}"] button.confirm-delete`).click();
    await b.locator(`#messages li.deleted[data-id="${oops}"]`, { hasText: "message deleted" }).waitFor(WAIT);
    assert.equal(await row(b, "oops, wrong room").count(), 0, "the deleted text is gone");

    // a refusal of the server (PAYLOAD_TOO_LARGE), in words; the text is kept
    const tooLong = "x".repeat(10_001);
    await a.fill("#text", tooLong);
    await a.press("#text", "Enter");
    await a.locator("#composer-error", { hasText: "That message is too long" }).waitFor(WAIT);
    assert.equal((await a.inputValue("#text")).length, tooLong.length, "what was typed is back in the composer");
    await assertPlainWords(a, "a message too long");
    await assertLayout(a, `Alice's page with a refused send at ${w} px`, { apart: APART });
    await a.fill("#text", "");

    // the moment of the screenshots: Alice types again, Bob sees it (for --typing-timeout,
    // 500 ms here: Bob's page is taken first)
    for (const page of [a, b]) {
      await page.mouse.move(0, 0);
      await page.locator("#messages").evaluate((list) => { list.scrollTop = list.scrollHeight; });
    }
    await a.fill("#text", "One more thing…");
    await b.locator("#typing", { hasText: `${aliceName} is typing` }).waitFor(WAIT);
    for (const [page, who] of [[b, "bob"], [a, "alice"]]) {
      await screenshot(page, `demo-${who}-${w}`);
      await assertLayout(page, `${who}'s page at ${w} px`, { apart: APART });
      await assertPlainWords(page, `${who}'s page`);
    }
    if (size.name === "wide") {
      assert.ok(b.frames.includes(true), "Bob's page speaks msgpack: binary frames");
      assert.ok(a.frames.length > 0 && !a.frames.includes(true), "Alice's page speaks JSON: text frames");
    }

    // the other room's messages, read on opening it
    await showSidebar(b);
    await b.click(`#room-list li[data-room="${other}"] button`);
    await row(b, "news 3").waitFor(WAIT);
    await sidebarClosed(b);
    assert.equal(await b.locator(`#room-list li[data-room="${other}"] .badge`).innerText(), "", "the badge is cleared");
    await assertLayout(b, `Bob's other room at ${w} px`, { apart: APART });

    // a reload keeps the session and the room
    await a.reload();
    await a.locator("#conn[data-state=online]").waitFor(WAIT);
    assert.equal(await a.locator("#login").isVisible(), false, "still signed in after a reload");
    await a.locator("#room-title", { hasText: room }).waitFor(WAIT);
    await row(a, "Meet at 6?").waitFor(WAIT);
    await assertLayout(a, `Alice's page after a reload at ${w} px`, { apart: APART });

    assert.deepStrictEqual(a.problems, [], "no script errors on Alice's page");
    assert.deepStrictEqual(b.problems, [], "no script errors on Bob's page");
    await a.context().close();
    await b.context().close();
  });
}

test("a lost connection shows as reconnecting, sends wait, and it comes back recovered with what was missed", { timeout: 40000 }, async (t) => {
  const size = WIDTHS[0];
  const room = uniq("cut");
  const bob = sdkUser("Bob cut");
  t.after(() => bob.close());
  await bob.joinRoom(room);
  const a = await browser.newContext({ viewport: { width: size.width, height: size.height } }).then(newPage);
  // the page's connection goes through the test: it can cut it and keep it cut
  let down = false;
  const links = [];
  await a.route(/\/socket\.io\//, (route) => (down ? route.abort() : route.continue()));
  await a.routeWebSocket(/\/socket\.io\//, (ws) => {
    if (down) return ws.close();
    links.push({ ws, server: ws.connectToServer() });
  });
  await a.goto(`${server.url}/demo/`);
  await a.fill("#name", "Alice cut");
  await a.click("#login-btn");
  await a.locator("#conn[data-state=online]").waitFor(WAIT);
  await join(a, room);
  await a.locator("#room-title", { hasText: room }).waitFor(WAIT);
  await bob.sendMessage({ roomId: room, content: "before the cut" });
  await row(a, "before the cut").waitFor(WAIT);
  assert.ok(links.length > 0, "the page upgraded to WebSocket");

  down = true;
  for (const l of links.splice(0)) {
    l.server.close();
    l.ws.close();
  }
  await a.locator("#conn[data-state=reconnecting]").waitFor(WAIT);
  await a.locator("#banner", { hasText: "Connection lost. Reconnecting" }).waitFor(WAIT);
  await a.fill("#text", "sent while offline");
  await a.press("#text", "Enter");
  await a.locator("#banner", { hasText: "1 message is waiting to be sent" }).waitFor(WAIT);
  await row(a, "sent while offline").locator(".time", { hasText: "Sending…" }).waitFor(WAIT);
  await bob.sendMessage({ roomId: room, content: "said during the cut" });
  await assertLayout(a, "the page while reconnecting", { apart: APART });
  await screenshot(a, `demo-reconnecting-${size.width}`);

  const got = [];
  bob.on("new-message", (m) => got.push(m.content));
  down = false;
  await a.locator("#banner", { hasText: "Back online. Nothing was missed." }).waitFor(WAIT);
  await row(a, "said during the cut").waitFor(WAIT);
  await a.waitForFunction(() => !document.querySelector("#messages li.pending"), null, WAIT);
  const deadline = Date.now() + 5000;
  while (!got.includes("sent while offline") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.deepStrictEqual(got.filter((c) => c === "sent while offline"), ["sent while offline"], "the queued message reached Bob once");
  assert.deepStrictEqual(a.problems, [], "no script errors");
  await a.context().close();
});

test("without --demo there is no /demo; with EDGEIO_DEMO and a configured key the page takes a pasted token", { timeout: 30000 }, async () => {
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

  // the page says so, opens the token field, and signs in with a pasted token
  const page = await browser.newContext({ viewport: { width: 390, height: 844 } }).then(newPage);
  await page.goto(`${keyed.url}/demo/`);
  await page.fill("#name", "Mallory");
  await page.click("#login-btn");
  await page.locator("#login-error", { hasText: "development tokens are off" }).waitFor(WAIT);
  assert.equal(await page.locator("#app").isVisible(), false, "not signed in");
  assert.ok(await page.locator("#token").isVisible(), "the token field is open");
  await page.fill("#token", tokenFor("erin", { name: "Erin", exp: Math.floor(Date.now() / 1000) - 60 }));
  await page.click("#login-btn");
  await page.locator("#login-error", { hasText: "That token has expired." }).waitFor(WAIT);
  await page.fill("#token", tokenFor("erin", { name: "Erin" }));
  await page.click("#login-btn");
  await page.locator("#conn[data-state=online]").waitFor(WAIT);
  assert.equal(await page.locator("#me-name").textContent(), "Erin", "as the token's user");
  await page.locator("#room-title", { hasText: "general" }).waitFor(WAIT);
  await page.reload();
  await page.locator("#conn[data-state=online]").waitFor(WAIT);
  assert.equal(await page.locator("#me-name").textContent(), "Erin", "a pasted token is kept across a reload too");
  assert.deepStrictEqual(page.problems, [], "no script errors");
  await page.context().close();
});
