// Attachments: files the user picks, sent as inline bytes (a Socket.IO binary attachment),
// and the attachments of messages shown: images inline, other files and links offered to
// open or download. Bytes become blob: URLs, let go when the room closes.

import type { Attachment, InlineAttachment } from "../../sdk/dist/index.js";
import { el, size, unescapeText } from "./dom.js";

/**
 * The most one message carries in files. The server takes packets of up to --max-payload
 * (1,000,000 bytes by default) and closes a connection that sends a bigger one; on
 * long-polling the bytes travel as base64, a third larger.
 */
export const MAX_BYTES = 700 * 1024;
export const MAX_FILES = 10;

const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

/** Why these files cannot be sent, or "". */
export function filesProblem(files: File[]): string {
  if (files.length > MAX_FILES) return `At most ${MAX_FILES} files go with one message.`;
  if (files.some((f) => f.size === 0)) return "That file is empty.";
  const total = files.reduce((n, f) => n + f.size, 0);
  if (total > MAX_BYTES) return `That is too large to send here: ${size(total)}, and files can be at most ${size(MAX_BYTES)} in all.`;
  return "";
}

export async function inline(f: File): Promise<InlineAttachment> {
  return { name: f.name, type: f.type || "application/octet-stream", data: await f.arrayBuffer() };
}

/** The text that goes with files sent without one (the server wants some). */
export function namesOf(list: { name?: string }[]): string {
  return list.map((a) => a.name ?? "").join(", ");
}

/** blob: URLs of one room's attachments, let go together. */
export class Blobs {
  private readonly urls: string[] = [];

  url(data: ArrayBuffer | ArrayBufferView, type: string): string {
    const u = URL.createObjectURL(new Blob([data as BlobPart], { type }));
    this.urls.push(u);
    return u;
  }

  revoke(): void {
    for (const u of this.urls.splice(0)) URL.revokeObjectURL(u);
  }

  /** A message's attachments as elements. */
  render(list: Attachment[]): HTMLElement {
    const box = el("div", "attachments");
    for (const a of list) box.append("data" in a ? this.inlineItem(a) : linkItem(a));
    return box;
  }

  private inlineItem(a: InlineAttachment): HTMLElement {
    const name = unescapeText(a.name);
    const data = a.data;
    if (!(data instanceof ArrayBuffer || ArrayBuffer.isView(data))) return el("div", "file", name);
    const bytes = data.byteLength;
    if (IMAGE_TYPES.has(a.type)) {
      const fig = el("figure", "image");
      const img = el("img");
      const url = this.url(data, a.type);
      img.src = url;
      img.alt = name;
      img.loading = "lazy";
      const cap = el("figcaption");
      cap.append(download(url, name, `${name} · ${size(bytes)}`));
      fig.append(img, cap);
      return fig;
    }
    // anything else is offered as a download, never opened in the page's origin
    const file = el("div", "file");
    file.append(el("span", "file-icon", "FILE"), download(this.url(data, "application/octet-stream"), name, name), el("span", "file-size", size(bytes)));
    return file;
  }
}

function download(href: string, name: string, text: string): HTMLAnchorElement {
  const a = el("a", "download", text);
  a.href = href;
  a.download = name;
  return a;
}

function linkItem(a: { url: string; name?: string }): HTMLElement {
  const box = el("div", "file");
  let href = "";
  try {
    const u = new URL(a.url);
    if (u.protocol === "http:" || u.protocol === "https:") href = u.href;
  } catch { /* not a link: shown as text */ }
  const text = unescapeText(a.name || a.url);
  if (!href) {
    box.append(el("span", "", text));
    return box;
  }
  const link = el("a", "link", text);
  link.href = href;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  box.append(el("span", "file-icon", "LINK"), link);
  return box;
}
