// The open room: its messages (history pages, live ones, pending sends), who read the user's
// messages, who is typing and who is there.

import type {
  EdgeioClient, HistoryEntry, MessageEdited, MessagePayload, MessagesRead, PresenceInfo, PresenceUpdate, UserTyping,
} from "../../sdk/dist/index.js";
import { $, clock, el, unescapeText } from "./dom.js";

const PAGE = 20;

export class RoomView {
  readonly id: string;
  private oldest: string | null = null;
  private readonly readers = new Map<string, Set<string>>(); // message id -> user ids that read it
  private readonly names = new Map<string, string>(); // user id -> display name
  private readonly presence = new Map<string, PresenceInfo>();
  private readonly typing = new Map<string, string>(); // user id -> display name
  private markTimer?: ReturnType<typeof setTimeout>;
  private newestOthers: string | null = null;

  constructor(
    private readonly client: EdgeioClient,
    private readonly me: string,
    roomId: string,
    private readonly onEdit: (m: MessagePayload) => void,
  ) {
    this.id = roomId;
  }

  /** Shows the newest page and who is in the room. */
  async open(): Promise<void> {
    $("room-title").textContent = this.id;
    $("messages").replaceChildren();
    $("presence").replaceChildren();
    this.renderTyping();
    const [page, who] = await Promise.all([
      this.client.getHistory({ roomId: this.id, limit: PAGE }),
      this.client.getRoomPresence(this.id),
    ]);
    for (const m of page.messages) this.put(m);
    this.oldest = page.messages[0]?.id ?? null;
    $("load-older").hidden = !page.hasMore;
    for (const u of who.users) this.presence.set(u.userId, u);
    this.renderPresence();
  }

  async loadOlder(): Promise<void> {
    if (!this.oldest) return;
    const page = await this.client.getHistory({ roomId: this.id, before: this.oldest, limit: PAGE });
    for (const m of page.messages) this.put(m);
    this.oldest = page.messages[0]?.id ?? this.oldest;
    $("load-older").hidden = !page.hasMore;
  }

  /** A send not answered yet, shown greyed until the room echoes it. */
  pending(clientMsgId: string, content: string): void {
    const li = el("li", "own pending");
    li.dataset.client = clientMsgId;
    li.append(el("span", "author", this.names.get(this.me) ?? "you"), el("span", "content", content), el("span", "time", "sending…"));
    $("messages").append(li);
    li.scrollIntoView({ block: "end" });
  }

  unpend(clientMsgId: string): void {
    $("messages").querySelector(`li[data-client="${CSS.escape(clientMsgId)}"]`)?.remove();
  }

  /** Adds or replaces a message (or tombstone), in id order. */
  put(m: HistoryEntry): void {
    const list = $("messages");
    if ("clientMsgId" in m && m.clientMsgId) this.unpend(m.clientMsgId);
    const li = this.render(m);
    const old = list.querySelector(`li[data-id="${CSS.escape(m.id)}"]`);
    if (old) {
      old.replaceWith(li);
      return;
    }
    const after = [...list.querySelectorAll<HTMLElement>("li[data-id]")].find((x) => (x.dataset.id ?? "") > m.id);
    list.insertBefore(li, after ?? list.querySelector("li.pending"));
    if (!after) li.scrollIntoView({ block: "end" });
    if (!("deleted" in m) && m.userId !== this.me && (!this.newestOthers || m.id > this.newestOthers)) {
      this.newestOthers = m.id;
      this.markRead();
    }
  }

  edited(e: MessageEdited): void {
    const li = $("messages").querySelector<HTMLElement>(`li[data-id="${CSS.escape(e.messageId)}"]`);
    if (!li) return;
    li.querySelector(".content")!.textContent = unescapeText(e.content);
    li.dataset.raw = e.content;
    let mark = li.querySelector(".edited");
    if (!mark) li.querySelector(".time")!.after((mark = el("span", "edited")));
    mark.textContent = "(edited)";
  }

  deleted(id: string): void {
    const li = $("messages").querySelector(`li[data-id="${CSS.escape(id)}"]`);
    if (li) li.replaceWith(this.render({ id, roomId: this.id, deleted: true, deletedAt: new Date().toISOString() }));
  }

  /** Someone read up to a message: every message of the user's up to it is read by them. */
  read(r: MessagesRead): void {
    if (r.userId === this.me) return;
    const upTo = r.messageIds.reduce((a, b) => (b > a ? b : a), "");
    for (const li of $("messages").querySelectorAll<HTMLElement>("li.own[data-id]")) {
      if ((li.dataset.id ?? "") > upTo) continue;
      const set = this.readers.get(li.dataset.id!) ?? new Set();
      set.add(r.userId);
      this.readers.set(li.dataset.id!, set);
      this.renderReceipt(li);
    }
  }

  typingEvent(t: UserTyping): void {
    if (t.isTyping) this.typing.set(t.userId, t.username);
    else this.typing.delete(t.userId);
    this.renderTyping();
  }

  joined(u: PresenceInfo): void {
    this.presence.set(u.userId, u);
    this.renderPresence();
  }

  left(userId: string): void {
    this.presence.delete(userId);
    this.typing.delete(userId);
    this.renderPresence();
    this.renderTyping();
  }

  presenceEvent(p: PresenceUpdate): void {
    const u = this.presence.get(p.userId);
    if (!u) return;
    u.status = p.status;
    this.renderPresence();
  }

  close(): void {
    clearTimeout(this.markTimer);
  }

  // Receipts go out for the newest message of others on view, once things settle.
  private markRead(): void {
    clearTimeout(this.markTimer);
    this.markTimer = setTimeout(() => {
      if (this.newestOthers && document.visibilityState === "visible") {
        this.client.markAsRead(this.id, [this.newestOthers]).catch(() => { /* the next message tries again */ });
      }
    }, 150);
  }

  private render(m: HistoryEntry): HTMLElement {
    const li = el("li");
    li.dataset.id = m.id;
    if ("deleted" in m) {
      li.className = "deleted";
      li.textContent = "message deleted";
      return li;
    }
    this.names.set(m.userId, m.username);
    const own = m.userId === this.me;
    li.className = own ? "own" : "";
    li.dataset.raw = m.content;
    li.append(el("span", "author", unescapeText(m.username)), el("span", "content", unescapeText(m.content)), el("span", "time", clock(m.createdAt)));
    if (m.editedAt) li.append(el("span", "edited", "(edited)"));
    if (own) {
      li.append(el("span", "receipt"));
      const actions = el("span", "actions");
      const edit = el("button", "edit", "edit");
      edit.addEventListener("click", () => this.onEdit(m));
      const del = el("button", "delete", "delete");
      del.addEventListener("click", () => {
        this.client.deleteMessage(m.id).catch((e: Error) => ($("error").textContent = e.message));
      });
      actions.append(edit, del);
      li.append(actions);
      this.renderReceipt(li);
    }
    return li;
  }

  private renderReceipt(li: HTMLElement): void {
    const set = this.readers.get(li.dataset.id ?? "");
    const r = li.querySelector(".receipt");
    if (!r) return;
    r.textContent = set?.size ? "read by " + [...set].map((id) => unescapeText(this.nameOf(id))).join(", ") : "";
  }

  private nameOf(userId: string): string {
    return this.presence.get(userId)?.username ?? this.names.get(userId) ?? userId;
  }

  private renderTyping(): void {
    const who = [...this.typing.values()].map(unescapeText);
    $("typing").textContent = who.length === 0 ? "" : `${who.join(" and ")} ${who.length === 1 ? "is" : "are"} typing…`;
  }

  private renderPresence(): void {
    const list = $("presence");
    list.replaceChildren(...[...this.presence.values()].map((u) => {
      const li = el("li", u.status, `${unescapeText(u.username)} (${u.status})`);
      li.dataset.user = u.userId;
      return li;
    }));
  }
}
