// The message list of the open room: rows in id order, grouped by author (one avatar and
// name for a run of messages sent within a few minutes of each other), a line between two
// days, edit and delete on hover (or tap), "(edited)", tombstones, sends on their way, and
// who read the user's messages.

import type { HistoryEntry, MessageEdited, MessagePayload } from "../../sdk/dist/index.js";
import { Blobs, namesOf } from "./attachments.js";
import { avatar, clock, dayKey, dayLabel, el, fullTime, unescapeText } from "./dom.js";

/** Messages of one author closer together than this share one header. */
const GROUP_MS = 5 * 60_000;

export interface MessageActions {
  edit(m: MessagePayload): void;
  remove(m: MessagePayload): void;
}

/** A reader of the room and the newest message they read. */
export interface Reader {
  name: string;
  upTo: string;
}

export class MessageList {
  private readonly byId = new Map<string, MessagePayload>();

  constructor(
    private readonly list: HTMLElement,
    private readonly me: string,
    private readonly blobs: Blobs,
    private readonly actions: MessageActions,
  ) {}

  clear(): void {
    this.byId.clear();
    this.list.replaceChildren();
  }

  get oldestId(): string | null {
    return this.list.querySelector<HTMLElement>("li.msg[data-id]")?.dataset.id ?? null;
  }

  get newestId(): string | null {
    const rows = this.list.querySelectorAll<HTMLElement>("li.msg[data-id]");
    return rows[rows.length - 1]?.dataset.id ?? null;
  }

  has(id: string): boolean {
    return this.row(id) !== null;
  }

  message(id: string): MessagePayload | undefined {
    return this.byId.get(id);
  }

  /** Adds or replaces messages (and tombstones), each in id order. */
  put(...entries: HistoryEntry[]): void {
    for (const m of entries) this.putOne(m);
    this.regroup();
  }

  /** A send the server has not answered yet, greyed at the end until it comes back. */
  pending(clientMsgId: string, m: Omit<MessagePayload, "id" | "roomId" | "clientMsgId">): void {
    const li = this.render({ ...m, id: "", roomId: "" }, true);
    li.dataset.client = clientMsgId;
    this.list.append(li);
    this.regroup();
  }

  unpend(clientMsgId: string): void {
    this.list.querySelector(`li[data-client="${CSS.escape(clientMsgId)}"]`)?.remove();
    this.regroup();
  }

  edited(e: MessageEdited): void {
    const m = this.byId.get(e.messageId);
    if (!m) return;
    this.putOne({ ...m, content: e.content, editedAt: e.editedAt });
    this.regroup();
  }

  deleted(id: string): void {
    const li = this.row(id);
    if (!li) return;
    const m = this.byId.get(id);
    this.byId.delete(id);
    const tomb = this.renderDeleted(id, m);
    li.replaceWith(tomb);
    this.regroup();
  }

  /** Shows, under each of the user's messages, who read up to it and no further. */
  receipts(readers: Map<string, Reader>): void {
    const own = [...this.list.querySelectorAll<HTMLElement>("li.msg.own[data-id]:not(.deleted)")];
    const names = new Map<HTMLElement, string[]>();
    for (const r of readers.values()) {
      let last: HTMLElement | undefined;
      for (const li of own) if ((li.dataset.id ?? "") <= r.upTo) last = li;
      if (last) names.set(last, [...(names.get(last) ?? []), r.name]);
    }
    for (const li of own) {
      const who = names.get(li);
      li.querySelector(".receipt")!.textContent = who ? `Read by ${who.join(", ")}` : "";
    }
  }

  /** Marks the first message after lastReadId as where the unread ones start. */
  markUnreadAfter(lastReadId: string | null): void {
    this.list.querySelector("li.unread-line")?.remove();
    const first = [...this.list.querySelectorAll<HTMLElement>("li.msg[data-id]:not(.own)")].find((li) => !lastReadId || (li.dataset.id ?? "") > lastReadId);
    if (first && lastReadId) first.before(el("li", "unread-line", "New messages"));
  }

  private row(id: string): HTMLElement | null {
    return this.list.querySelector<HTMLElement>(`li.msg[data-id="${CSS.escape(id)}"]`);
  }

  private putOne(m: HistoryEntry): void {
    if ("clientMsgId" in m && m.clientMsgId) this.list.querySelector(`li[data-client="${CSS.escape(m.clientMsgId)}"]`)?.remove();
    let li: HTMLElement;
    if ("deleted" in m) {
      li = this.renderDeleted(m.id, this.byId.get(m.id));
      this.byId.delete(m.id);
    } else {
      li = this.render(m, false);
      this.byId.set(m.id, m);
    }
    const old = this.row(m.id);
    if (old) {
      old.replaceWith(li);
      return;
    }
    const after = [...this.list.querySelectorAll<HTMLElement>("li.msg[data-id]")].find((x) => (x.dataset.id ?? "") > m.id);
    this.list.insertBefore(li, after ?? this.list.querySelector("li.pending"));
  }

  private render(m: MessagePayload, pending: boolean): HTMLElement {
    const own = m.userId === this.me;
    const li = el("li", `msg${own ? " own" : ""}${pending ? " pending" : ""}`);
    li.tabIndex = 0; // a tap (no hover on phones) shows the actions
    if (m.id) li.dataset.id = m.id;
    li.dataset.user = m.userId;
    li.dataset.time = m.createdAt;
    const name = unescapeText(m.username);
    const head = el("div", "head");
    const time = el("time", "time", pending ? "Sending…" : clock(m.createdAt));
    time.dateTime = m.createdAt;
    time.title = fullTime(m.createdAt);
    head.append(el("span", "author", name), time);
    const gutter = el("time", "gutter-time", clock(m.createdAt));
    gutter.title = fullTime(m.createdAt);

    const body = el("div", "body");
    body.append(head);
    const files = m.attachments ?? [];
    // a message of files alone carries their names as its text: shown once, as the files
    if (!files.length || m.content !== namesOf(files)) {
      const content = el("div", "content");
      content.append(el("span", "text", unescapeText(m.content)));
      if (m.editedAt) content.append(el("span", "edited", "(edited)"));
      body.append(content);
    }
    if (files.length) body.append(this.blobs.render(files));
    if (own) body.append(el("div", "receipt"));
    li.append(avatar(m.userId, name), gutter, body);
    if (own && !pending) li.append(this.actionsOf(m, li));
    return li;
  }

  private actionsOf(m: MessagePayload, li: HTMLElement): HTMLElement {
    const bar = el("div", "actions");
    const edit = el("button", "edit", "Edit");
    const del = el("button", "delete", "Delete");
    edit.type = del.type = "button";
    edit.addEventListener("click", () => this.actions.edit(this.byId.get(m.id) ?? m));
    del.addEventListener("click", () => {
      // asked once more in place: no dialog box, and a slip of the finger deletes nothing
      const sure = el("button", "confirm-delete", "Delete");
      const keep = el("button", "keep", "Cancel");
      sure.type = keep.type = "button";
      sure.addEventListener("click", () => this.actions.remove(m));
      keep.addEventListener("click", () => {
        bar.replaceWith(this.actionsOf(m, li));
        li.classList.remove("confirming");
      });
      bar.replaceChildren(el("span", "ask", "Delete this message?"), sure, keep);
      li.classList.add("confirming");
      sure.focus();
    });
    bar.append(edit, del);
    return bar;
  }

  private renderDeleted(id: string, was?: MessagePayload): HTMLElement {
    const li = el("li", "msg deleted");
    li.dataset.id = id;
    if (was) {
      li.dataset.user = was.userId;
      li.dataset.time = was.createdAt;
      li.append(avatar(was.userId, unescapeText(was.username)), el("span", "gutter-time"));
      const head = el("div", "head");
      head.append(el("span", "author", unescapeText(was.username)), el("time", "time", clock(was.createdAt)));
      const body = el("div", "body");
      body.append(head, el("div", "content", "message deleted"));
      li.append(body);
    } else {
      li.classList.add("solo");
      li.append(el("div", "body content", "message deleted"));
    }
    return li;
  }

  /** Day lines and author groups, after rows came or went. */
  private regroup(): void {
    for (const d of this.list.querySelectorAll("li.day")) d.remove();
    let prev: HTMLElement | null = null;
    for (const li of this.list.querySelectorAll<HTMLElement>("li.msg")) {
      const t = li.dataset.time;
      if (t && (!prev?.dataset.time || dayKey(prev.dataset.time) !== dayKey(t))) {
        li.before(el("li", "day", dayLabel(t)));
        prev = null;
      }
      const sameAuthor = !!prev && !!t && prev.dataset.user === li.dataset.user && !li.classList.contains("solo")
        && Date.parse(t) - Date.parse(prev.dataset.time ?? "") < GROUP_MS;
      li.classList.toggle("cont", sameAuthor);
      if (t) prev = li;
    }
  }
}
