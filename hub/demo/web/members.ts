// Who is in the open room, with their status, and who of them is typing.

import type { PresenceInfo, PresenceStatus, UserTyping } from "../../sdk/dist/index.js";
import { $, avatar, el, unescapeText } from "./dom.js";

const STATUS_WORDS: Record<PresenceStatus, string> = { online: "online", away: "away", busy: "busy", offline: "offline" };
const ORDER: Record<PresenceStatus, number> = { online: 0, busy: 1, away: 2, offline: 3 };

export class Members {
  private readonly users = new Map<string, PresenceInfo>();
  private readonly typists = new Map<string, string>(); // user id -> display name
  private readonly typingTimers = new Map<string, ReturnType<typeof setTimeout>>();

  constructor(private readonly me: string) {}

  nameOf(userId: string): string | undefined {
    const u = this.users.get(userId);
    return u && unescapeText(u.username);
  }

  set(list: PresenceInfo[]): void {
    this.users.clear();
    for (const u of list) this.users.set(u.userId, { ...u });
    this.render();
  }

  joined(u: PresenceInfo): void {
    this.users.set(u.userId, { ...u });
    this.render();
  }

  left(userId: string): void {
    this.users.delete(userId);
    this.typing({ roomId: "", userId, username: "", isTyping: false });
    this.render();
  }

  status(userId: string, status: PresenceStatus): void {
    const u = this.users.get(userId);
    if (!u) return;
    u.status = status;
    this.render();
  }

  typing(t: UserTyping): void {
    clearTimeout(this.typingTimers.get(t.userId));
    if (t.isTyping && t.userId !== this.me) {
      this.typists.set(t.userId, unescapeText(t.username));
      // the server ends typing itself; this only guards against a stop that never came
      this.typingTimers.set(t.userId, setTimeout(() => this.typing({ ...t, isTyping: false }), 30_000));
    } else {
      this.typists.delete(t.userId);
    }
    const who = [...this.typists.values()];
    const line = $("typing");
    line.textContent = who.length === 0 ? "" : who.length > 2 ? "Several people are typing…" : `${who.join(" and ")} ${who.length === 1 ? "is" : "are"} typing…`;
  }

  clear(): void {
    for (const t of this.typingTimers.values()) clearTimeout(t);
    this.typingTimers.clear();
    this.typists.clear();
    this.users.clear();
    $("typing").textContent = "";
    this.render();
  }

  private render(): void {
    const list = [...this.users.values()].sort((a, b) => ORDER[a.status] - ORDER[b.status] || a.username.localeCompare(b.username));
    $("members").replaceChildren(...list.map((u) => {
      const li = el("li", `member ${u.status}`);
      li.dataset.user = u.userId;
      const name = unescapeText(u.username) + (u.userId === this.me ? " (you)" : "");
      const who = el("span", "member-name", name);
      li.append(avatar(u.userId, unescapeText(u.username), "avatar small"), who, el("span", "member-status", STATUS_WORDS[u.status]));
      li.title = `${name}: ${STATUS_WORDS[u.status]}`;
      return li;
    }));
    const online = list.filter((u) => u.status !== "offline").length;
    $("member-count").textContent = list.length ? `${online} of ${list.length} online` : "";
  }
}
