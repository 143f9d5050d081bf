// The rooms the user is in, in the sidebar: which one is open, unread counts as badges (and
// in the tab's title), and the form that joins another.

import { $, el } from "./dom.js";

export class RoomList {
  private readonly unread = new Map<string, number>();
  private current = "";

  constructor(private readonly onOpen: (room: string) => void) {}

  get rooms(): string[] {
    return [...$("room-list").querySelectorAll<HTMLElement>("li[data-room]")].map((li) => li.dataset.room!);
  }

  has(room: string): boolean {
    return this.item(room) !== null;
  }

  add(room: string): void {
    if (this.has(room)) return;
    const li = el("li", "room-item");
    li.dataset.room = room;
    const open = el("button", "room-open");
    open.type = "button";
    open.append(el("span", "hash", "#"), el("span", "room-name", room), el("span", "badge"));
    open.addEventListener("click", () => this.onOpen(room));
    li.append(open);
    // in name order: the list reads the same on every device
    const after = [...$("room-list").querySelectorAll<HTMLElement>("li[data-room]")].find((x) => x.dataset.room! > room);
    $("room-list").insertBefore(li, after ?? null);
  }

  remove(room: string): void {
    this.item(room)?.remove();
    this.unread.delete(room);
    this.showTotal();
  }

  open(room: string): void {
    this.current = room;
    for (const li of $("room-list").querySelectorAll<HTMLElement>("li[data-room]")) {
      const on = li.dataset.room === room;
      li.classList.toggle("current", on);
      li.querySelector("button")!.setAttribute("aria-current", on ? "true" : "false");
    }
    this.setUnread(room, 0);
  }

  setUnread(room: string, n: number): void {
    if (room === this.current) n = 0;
    this.unread.set(room, n);
    const badge = this.item(room)?.querySelector(".badge");
    if (badge) {
      badge.textContent = n ? (n > 99 ? "99+" : String(n)) : "";
      badge.setAttribute("aria-label", n ? `${n} unread` : "");
    }
    this.item(room)?.classList.toggle("has-unread", n > 0);
    this.showTotal();
  }

  bump(room: string): void {
    this.setUnread(room, (this.unread.get(room) ?? 0) + 1);
  }

  private item(room: string): HTMLElement | null {
    return $("room-list").querySelector<HTMLElement>(`li[data-room="${CSS.escape(room)}"]`);
  }

  private showTotal(): void {
    const total = [...this.unread.values()].reduce((a, b) => a + b, 0);
    document.title = total ? `(${total}) edgeio chat` : "edgeio chat";
    $("menu-badge").textContent = total ? String(total) : "";
  }
}
