// Debian's headless Chromium for the page tests (demo.test.mjs, dashboard.test.mjs), driven by
// playwright-core, and checks of what a user sees: text that stays inside its box and inside
// the window, no element over another, no raw error code or regular expression on screen.
// Screenshots go to e2e/output/.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { crc32, deflateSync } from "node:zlib";
import { chromium } from "playwright-core";
import { E2E_DIR } from "./server.mjs";

export const OUTPUT_DIR = path.join(E2E_DIR, "output");

/** The two widths every page is checked at: a laptop and a phone. */
export const WIDTHS = [
  { name: "wide", width: 1280, height: 800 },
  { name: "phone", width: 390, height: 844 },
];

/** Headless Chromium, without the network chatter a test has no use for. */
export function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

/**
 * A page whose script errors (and errors logged on its console) are collected in
 * page.problems; requests that failed (a test cutting the network, a refusal the page
 * handles) are not problems of the page's own.
 */
export async function newPage(context) {
  const page = await context.newPage();
  page.problems = [];
  page.on("pageerror", (err) => page.problems.push(err.message));
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) page.problems.push(m.text());
  });
  return page;
}

/** Saves a screenshot of the window as e2e/output/<name>.png; returns its path. */
export async function screenshot(page, name) {
  mkdirSync(OUTPUT_DIR, { recursive: true });
  const file = path.join(OUTPUT_DIR, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/**
 * What is wrong with the page's layout, as sentences (none: []): a visible box whose content
 * is wider than it (scrollWidth over clientWidth) where it neither scrolls nor ends in an
 * ellipsis; a visible box that reaches past the window's left or right edge; a pair of the
 * `apart` selectors whose boxes overlap (only the parts inside the window count).
 */
export function layoutProblems(page, { apart = [] } = {}) {
  return page.evaluate((apart) => {
    const out = [];
    const vw = document.documentElement.clientWidth;
    const vh = document.documentElement.clientHeight;
    const visible = (el) => {
      const cs = getComputedStyle(el);
      if (cs.display === "none" || cs.visibility === "hidden" || Number(cs.opacity) === 0) return false;
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0;
    };
    // inside a box that scrolls or clips: where the box's own edges are checked instead
    const clippedBy = (el) => {
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        const o = getComputedStyle(p).overflowX;
        if (o !== "visible") return p;
      }
      return null;
    };
    const name = (el) => {
      let s = el.tagName.toLowerCase();
      if (el.id) s += "#" + el.id;
      else if (el.classList.length) s += "." + [...el.classList].join(".");
      return `${s} "${(el.textContent || "").trim().slice(0, 40)}"`;
    };
    for (const el of document.body.querySelectorAll("*")) {
      if (!visible(el) || el.closest("svg") && el.tagName !== "svg") continue;
      let hidden = false;
      for (let p = el.parentElement; p; p = p.parentElement) if (!visible(p)) { hidden = true; break; }
      if (hidden) continue;
      const cs = getComputedStyle(el);
      const scrolls = cs.overflowX === "auto" || cs.overflowX === "scroll";
      const ellipsis = cs.textOverflow === "ellipsis" && cs.overflowX === "hidden";
      if (el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1 && !scrolls && !ellipsis
        && !["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)) {
        out.push(`${name(el)}: content ${el.scrollWidth} px wide in a box of ${el.clientWidth} px`);
      }
      const r = el.getBoundingClientRect();
      const clip = clippedBy(el);
      if (clip) {
        // only what shows through the clipping box: it must be inside the window itself
        const c = clip.getBoundingClientRect();
        if (r.right <= c.left || r.left >= c.right) continue;
      }
      if (r.right > vw + 1 || r.left < -1) out.push(`${name(el)}: from x=${Math.round(r.left)} to ${Math.round(r.right)} in a window ${vw} px wide`);
    }
    const boxes = (sel) => [...document.querySelectorAll(sel)].filter(visible).map((el) => {
      const r = el.getBoundingClientRect();
      // the part inside the window and inside whatever box clips it
      let top = Math.max(r.top, 0), bottom = Math.min(r.bottom, vh);
      for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
        if (getComputedStyle(p).overflowY !== "visible") {
          const c = p.getBoundingClientRect();
          top = Math.max(top, c.top);
          bottom = Math.min(bottom, c.bottom);
        }
      }
      return { el, left: r.left, right: r.right, top, bottom };
    }).filter((b) => b.bottom > b.top);
    for (let i = 0; i < apart.length; i++) {
      for (let j = i + 1; j < apart.length; j++) {
        for (const a of boxes(apart[i])) {
          for (const b of boxes(apart[j])) {
            const x = Math.min(a.right, b.right) - Math.max(a.left, b.left);
            const y = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
            if (x > 1 && y > 1) out.push(`${name(a.el)} overlaps ${name(b.el)} by ${Math.round(x)}x${Math.round(y)} px`);
          }
        }
      }
    }
    return out;
  }, apart);
}

/** Asserts layoutProblems is empty. */
export async function assertLayout(page, what, opts) {
  const problems = await layoutProblems(page, opts);
  assert.deepStrictEqual(problems, [], `${what}: nothing clipped, outside the window or overlapping`);
}

/** Error codes and patterns a user must never read as they are. */
const RAW = [/\b[A-Z]{3,}_[A-Z_]{3,}\b/, /\b(UNAUTHORIZED|FORBIDDEN|INTERNAL|UNAVAILABLE|RATE_LIMITED)\b/, /\^\[|\]\{|\\d|\$\//, /\{0,\d+\}/];

/** Asserts the page's visible text has no error code (INVALID_PAYLOAD) nor regular expression. */
export async function assertPlainWords(page, what) {
  const text = await page.evaluate(() => document.body.innerText);
  for (const re of RAW) assert.doesNotMatch(text, re, `${what}: raw error text on screen`);
}

/** A w x h PNG of a colour gradient: an image to attach. */
export function gradientPng(w, h) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type), data]);
    const out = Buffer.alloc(data.length + 12);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), data.length + 8);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(w, 0);
  header.writeUInt32BE(h, 4);
  header[8] = 8; // bits per channel
  header[9] = 2; // RGB
  const row = w * 3 + 1;
  const pixels = Buffer.alloc(row * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = y * row + 1 + x * 3;
      pixels[o] = 40 + (200 * x) / w;
      pixels[o + 1] = 90 + (120 * y) / h;
      pixels[o + 2] = 200;
    }
  }
  const signature = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);
  return Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", deflateSync(pixels)), chunk("IEND", Buffer.alloc(0))]);
}
