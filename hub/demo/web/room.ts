// The open room: its messages (the newest page first, older pages as the user scrolls up,
// live ones, sends on their way), the receipts of the user's messages, typing and members.
// It keeps the list scrolled to the newest message while the user is there, and marks what
// they saw as read.

import type {
  EdgeioClient, HistoryEntry, MessageEdited, MessagePayload, MessagesRead, PresenceInfo, PresenceStatus, UserTyping,
} from "../../sdk/dist/index.js";
import { Blobs } from "./attachments.js";
import { $, el } from "./dom.js";
import { describe } from "./errors.js";
import { Members } from "./members.js";
import { MessageList, type MessageActions, type Reader } from "./messages.js";

const PAGE = 30;
/** Closer to the top than this, in pixels, and the next older page loads. */
const LOAD_MARGIN = 200;
/** Closer to the bottom than this and the list follows new messages. */
const FOLLOW_MARGIN = 120;

export class RoomView {
  readonly members: Members;
  private readonly list: MessageList;
  private readonly blobs = new Blobs();
  private readonly readers = new Map<string, Reader>();
  private readonly scroller = $("messages");
  private hasMore = false;
  private loading: Promise<void> | null = null;
  private newestOthers: string | null = null;
  private marked = "";
  private markTimer?: ReturnType<typeof setTimeout>;
  private closed = false;
  private readonly onScroll = () => this.scrolled();
  private readonly onVisible = () => this.markRead();

  constructor(
    private readonly client: EdgeioClient,
    private readonly me: string,
    readonly id: string,
    actions: MessageActions,
    private readonly showError: (message: string) => void,
  ) {
    this.members = new Members(me);
    this.list = new MessageList(this.scroller, me, this.blobs, actions);
    this.scroller.addEventListener("scroll", this.onScroll, { passive: true });
    document.addEventListener("visibilitychange", this.onVisible);
    $("jump").onclick = () => this.toBottom();
  }

  /** Shows the newest page and who is in the room; lastReadId marks where unread starts. */
  async open(lastReadId: string | null = null): Promise<void> {
    this.list.clear();
    this.members.clear();
    this.setTop("loading");
    const [page, who] = await Promise.all([
      this.client.getHistory({ roomId: this.id, limit: PAGE }),
      this.client.getRoomPresence(this.id),
    ]);
    if (this.closed) return;
    this.members.set(who.users);
    this.putPage(page.messages, page.hasMore);
    this.list.markUnreadAfter(lastReadId);
    this.toBottom();
    // a tall window: older pages until the list can scroll
    while (!this.closed && this.hasMore && this.scroller.scrollHeight <= this.scroller.clientHeight) await this.loadOlder();
    this.markRead();
  }

  /** A fresh session after a reconnect (nothing replayed): the newest page and members again. */
  async refresh(): Promise<void> {
    const follow = this.atBottom();
    const [page, who] = await Promise.all([
      this.client.getHistory({ roomId: this.id, limit: PAGE }),
      this.client.getRoomPresence(this.id),
    ]);
    if (this.closed) return;
    this.members.set(who.users);
    this.list.put(...page.messages);
    this.afterChange();
    if (follow) this.toBottom();
  }

  async loadOlder(): Promise<void> {
    const oldest = this.list.oldestId;
    if (!this.hasMore || !oldest) return;
    this.loading ??= (async () => {
      this.setTop("loading");
      try {
        const page = await this.client.getHistory({ roomId: this.id, before: oldest, limit: PAGE });
        if (this.closed) return;
        // keep what the user looks at in place while rows come in above it
        const fromBottom = this.scroller.scrollHeight - this.scroller.scrollTop;
        this.putPage(page.messages, page.hasMore);
        this.scroller.scrollTop = this.scroller.scrollHeight - fromBottom;
      } catch (e) {
        this.setTop("more");
        this.showError(describe(e, "history"));
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  /** A new or changed message from the room, or the answer to the user's own send. */
  put(m: MessagePayload): void {
    const follow = m.userId === this.me || this.atBottom();
    this.list.put(m);
    this.afterChange();
    if (follow) this.toBottom();
    else $("jump").hidden = false;
    if (m.userId !== this.me && (!this.newestOthers || m.id > this.newestOthers)) {
      this.newestOthers = m.id;
      this.markRead();
    }
  }

  pending(clientMsgId: string, m: Omit<MessagePayload, "id" | "roomId" | "clientMsgId">): void {
    this.list.pending(clientMsgId, m);
    this.afterChange();
    this.toBottom();
  }

  unpend(clientMsgId: string): void {
    this.list.unpend(clientMsgId);
    this.afterChange();
  }

  message(id: string): MessagePayload | undefined {
    return this.list.message(id);
  }

  edited(e: MessageEdited): void {
    this.list.edited(e);
  }

  deleted(id: string): void {
    this.list.deleted(id);
    this.list.receipts(this.readers);
  }

  /** Someone read up to a message: the user's messages up to it are read by them. */
  read(r: MessagesRead): void {
    if (r.userId === this.me) return;
    const upTo = r.messageIds.reduce((a, b) => (b > a ? b : a), this.readers.get(r.userId)?.upTo ?? "");
    this.readers.set(r.userId, { name: this.members.nameOf(r.userId) ?? r.userId, upTo });
    this.list.receipts(this.readers);
  }

  typing(t: UserTyping): void {
    this.members.typing(t);
  }

  joined(u: PresenceInfo): void {
    this.members.joined(u);
  }

  left(userId: string): void {
    this.members.left(userId);
  }

  presence(userId: string, status: PresenceStatus): void {
    this.members.status(userId, status);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.markTimer);
    this.scroller.removeEventListener("scroll", this.onScroll);
    document.removeEventListener("visibilitychange", this.onVisible);
    this.members.clear();
    this.list.clear();
    this.blobs.revoke();
    $("jump").hidden = true;
  }

  private putPage(messages: HistoryEntry[], hasMore: boolean): void {
    this.hasMore = hasMore;
    this.list.put(...messages);
    for (const m of messages) {
      if (!("deleted" in m) && m.userId !== this.me && (!this.newestOthers || m.id > this.newestOthers)) this.newestOthers = m.id;
    }
    this.afterChange();
  }

  private afterChange(): void {
    this.setTop(this.hasMore ? "more" : "start");
    this.list.receipts(this.readers);
    const empty = !this.scroller.querySelector("li.msg");
    let note = this.scroller.querySelector("li.empty");
    if (empty && !note) this.scroller.append((note = el("li", "empty", "No messages yet. Say hello!")));
    if (!empty) note?.remove();
  }

  /** The first row: older messages loading, more to scroll to, or the room's beginning. */
  private setTop(state: "loading" | "more" | "start"): void {
    let top = this.scroller.querySelector<HTMLElement>("li.list-top");
    if (!top) this.scroller.prepend((top = el("li", "list-top")));
    top.dataset.state = state;
    top.textContent = state === "loading" ? "Loading messages…" : state === "start" ? `This is the start of ${this.id}.` : "";
  }

  private atBottom(): boolean {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < FOLLOW_MARGIN;
  }

  private toBottom(): void {
    this.scroller.scrollTop = this.scroller.scrollHeight;
    $("jump").hidden = true;
  }

  private scrolled(): void {
    if (this.scroller.scrollTop < LOAD_MARGIN) void this.loadOlder();
    if (this.atBottom()) {
      $("jump").hidden = true;
      this.markRead();
    }
  }

  // A receipt for the newest message of others, once the user can see it and things settle.
  private markRead(): void {
    clearTimeout(this.markTimer);
    this.markTimer = setTimeout(() => {
      const newest = this.newestOthers;
      if (this.closed || !newest || newest === this.marked || document.visibilityState !== "visible" || !this.atBottom()) return;
      this.marked = newest;
      this.client.markAsRead(this.id, [newest]).catch(() => { this.marked = ""; /* the next message tries again */ });
    }, 150);
  }
}
