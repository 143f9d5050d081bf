// The signed-in page: one SDK client, the rooms in the sidebar, the open room, the composer
// and the connection's state, wired to the server's events. Signing out reloads the page.

import { EdgeioClient, newClientMsgId, type EdgeioError, type MessagePayload, type PresenceStatus } from "../../sdk/dist/index.js";
import { inline, namesOf } from "./attachments.js";
import { Composer } from "./composer.js";
import { ConnectionStatus } from "./connection.js";
import { $, avatar } from "./dom.js";
import { describe, roomNameProblem } from "./errors.js";
import { RoomView } from "./room.js";
import { RoomList } from "./rooms.js";
import * as session from "./session.js";

/** A user with no rooms yet lands here. */
const FIRST_ROOM = "general";
/** How long to wait for the server's list of the user's rooms before deciding there are none. */
const ROOMS_WAIT_MS = 1000;

export class Chat {
  private readonly client: EdgeioClient;
  private readonly rooms = new RoomList((room) => void this.open(room));
  private readonly status = new ConnectionStatus();
  private readonly composer: Composer;
  private readonly lastRead = new Map<string, string | null>();
  private readonly joining = new Map<string, Promise<unknown>>();
  private view: RoomView | null = null;
  private knowsRooms = false;
  private connectedOnce = false;

  constructor(private readonly s: session.Session, parser: "json" | "msgpack", private readonly signOut: (why: string) => void) {
    $("login").hidden = true;
    $("app").hidden = false;
    $("me-name").textContent = s.displayName;
    $("me-avatar").replaceChildren(avatar(s.userId, s.displayName));
    this.composer = new Composer({
      send: (text, files) => void this.send(text, files),
      edit: (id, text) => void this.edit(id, text),
      typing: (on) => {
        const v = this.view;
        if (v) (on ? this.client.startTyping(v.id) : this.client.stopTyping(v.id)).catch(() => { /* typing is best effort */ });
      },
    });
    this.status.connecting();
    session.keepFresh(s, (e) => signOut(e.message));
    this.client = new EdgeioClient({
      getToken: () => session.token(s).catch((e: Error) => {
        if (e instanceof session.SignedOut) signOut(e.message);
        throw e;
      }),
      parser,
      reconnect: { initialDelayMs: 500, maxDelayMs: 5000 },
    });
    this.wire();
    this.wireControls();
  }

  private wire(): void {
    const c = this.client;
    c.on("connect", ({ recovered }) => {
      this.status.online(recovered);
      if (!this.connectedOnce) {
        this.connectedOnce = true;
        setTimeout(() => void this.firstRoom(), ROOMS_WAIT_MS);
      } else if (!recovered && this.view) {
        // a fresh session: what was missed is in history, not replayed
        this.view.refresh().catch((e) => this.composer.error(describe(e, "history")));
      }
    });
    c.on("disconnect", () => this.status.lost());
    c.on("queue", (n) => this.status.queued(n));
    c.on("connect_error", (e) => this.refused(e));
    c.on("error", (e) => this.composer.error(describe(e)));

    c.on("unread-counts", ({ rooms }) => {
      this.knowsRooms = true;
      for (const r of rooms) {
        this.rooms.add(r.roomId);
        this.rooms.setUnread(r.roomId, r.unreadCount);
        this.lastRead.set(r.roomId, r.lastReadId);
        void this.join(r.roomId).catch(() => this.rooms.remove(r.roomId));
      }
      if (!this.view && rooms.length) {
        const last = this.s.room;
        void this.open(last && this.rooms.has(last) ? last : this.rooms.rooms[0]!);
      }
    });
    c.on("new-message", (m) => {
      if (this.view?.id === m.roomId) this.view.put(m);
      else if (m.userId !== this.s.userId) this.rooms.bump(m.roomId);
    });
    c.on("message-edited", (e) => this.view?.id === e.roomId && this.view.edited(e));
    c.on("message-deleted", (id) => this.view?.deleted(id));
    c.on("messages-read", (r) => this.view?.id === r.roomId && this.view.read(r));
    c.on("user-typing", (t) => this.view?.id === t.roomId && this.view.typing(t));
    c.on("room-member-joined", (j) => this.view?.id === j.roomId && this.view.joined(j.user));
    c.on("room-member-left", (l) => this.view?.id === l.roomId && this.view.left(l.userId));
    c.on("presence-update", (p) => {
      this.view?.presence(p.userId, p.status);
      if (p.userId === this.s.userId) $<HTMLSelectElement>("status").value = p.status;
    });
  }

  private wireControls(): void {
    $("join").addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.joinFromForm();
    });
    $("room-input").addEventListener("input", () => ($("join-error").hidden = true));
    $("leave").addEventListener("click", () => void this.leave());
    $("status").addEventListener("change", () => {
      const status = $<HTMLSelectElement>("status").value as PresenceStatus;
      // the server tells the user's other sockets, not this one: shown here directly
      this.client.updatePresence(status).then(() => this.view?.presence(this.s.userId, status), (e) => this.composer.error(describe(e, "presence")));
    });
    $("logout").addEventListener("click", () => {
      this.client.close();
      session.clear();
      location.reload();
    });
    const drawer = (open: boolean) => $("app").classList.toggle("drawer-open", open);
    $("menu").addEventListener("click", () => drawer(!$("app").classList.contains("drawer-open")));
    $("people").addEventListener("click", () => drawer(true));
    $("scrim").addEventListener("click", () => drawer(false));
  }

  /** After the first connect: the user's rooms came (one is open), or there are none yet. */
  private async firstRoom(): Promise<void> {
    if (this.view || this.knowsRooms) return;
    try {
      await this.join(FIRST_ROOM);
      this.rooms.add(FIRST_ROOM);
      await this.open(FIRST_ROOM);
    } catch (e) {
      $("no-room").textContent = "Join a room to start chatting.";
      this.showJoinError(describe(e, "join"));
    }
  }

  private join(room: string): Promise<unknown> {
    if (this.client.joinedRooms.includes(room)) return Promise.resolve();
    let p = this.joining.get(room);
    if (!p) {
      p = this.client.joinRoom(room).then((r) => {
        if (!this.lastRead.has(room)) this.lastRead.set(room, r.lastReadId);
        return r;
      }).finally(() => this.joining.delete(room));
      this.joining.set(room, p);
    }
    return p;
  }

  private async joinFromForm(): Promise<void> {
    const input = $<HTMLInputElement>("room-input");
    const room = input.value.trim();
    const problem = roomNameProblem(room);
    if (problem) return this.showJoinError(problem);
    $<HTMLButtonElement>("join-btn").disabled = true;
    try {
      await this.join(room);
      input.value = "";
      this.rooms.add(room);
      await this.open(room);
    } catch (e) {
      this.showJoinError(describe(e, "join"));
    } finally {
      $<HTMLButtonElement>("join-btn").disabled = false;
    }
  }

  private showJoinError(message: string): void {
    $("join-error").textContent = message;
    $("join-error").hidden = false;
  }

  private async open(room: string): Promise<void> {
    if (this.view?.id === room) return void $("app").classList.remove("drawer-open");
    this.view?.close();
    const v = new RoomView(this.client, this.s.userId, room, {
      edit: (m) => this.composer.startEdit(m),
      remove: (m) => void this.client.deleteMessage(m.id).catch((e) => this.composer.error(describe(e, "delete"))),
    }, (message) => this.composer.error(message));
    this.view = v;
    this.s.room = room;
    session.save(this.s);
    this.rooms.open(room);
    $("app").classList.remove("drawer-open");
    $("no-room").hidden = true;
    $("room-pane").hidden = false;
    $("room-title").textContent = room;
    this.composer.enable();
    try {
      await this.join(room);
      await v.open(this.lastRead.get(room) ?? null);
    } catch (e) {
      if (this.view === v) this.composer.error(describe(e, "history"));
    }
  }

  private async leave(): Promise<void> {
    const v = this.view;
    if (!v) return;
    try {
      await this.client.leaveRoom(v.id);
    } catch (e) {
      return this.composer.error(describe(e, "other"));
    }
    this.rooms.remove(v.id);
    v.close();
    this.view = null;
    const next = this.rooms.rooms[0];
    if (next) return this.open(next);
    $("room-pane").hidden = true;
    $("no-room").hidden = false;
    $("no-room").textContent = "Join a room to start chatting.";
  }

  private async send(text: string, files: File[]): Promise<void> {
    const v = this.view;
    if (!v) return;
    const clientMsgId = newClientMsgId();
    try {
      const attachments = await Promise.all(files.map(inline));
      const content = text || namesOf(files);
      // shown at once, greyed, until the server has it (it survives going offline)
      v.pending(clientMsgId, { userId: this.s.userId, username: this.s.displayName, content, createdAt: new Date().toISOString(), ...(attachments.length ? { attachments } : {}) });
      const m = await this.client.sendMessage({ roomId: v.id, content, clientMsgId, ...(attachments.length ? { attachments } : {}) });
      if (this.view === v) v.put(m);
    } catch (e) {
      v.unpend(clientMsgId);
      if (this.view === v) {
        this.composer.error(describe(e, "send"));
        this.composer.restore(text, files);
      }
    }
  }

  private async edit(id: string, text: string): Promise<void> {
    try {
      const m: MessagePayload = await this.client.editMessage(id, text);
      if (this.view?.id === m.roomId) this.view.edited({ messageId: m.id, roomId: m.roomId, content: m.content, editedAt: m.editedAt ?? new Date().toISOString() });
    } catch (e) {
      this.composer.error(describe(e, "edit"));
    }
  }

  private refused(e: EdgeioError): void {
    if (e.message.startsWith("getToken failed")) return this.status.lost(); // the server is out of reach
    switch (e.code) {
      case "UNAUTHORIZED":
        return this.signOut(describe(e, "connect"));
      case "BANNED":
        return this.status.refused(describe(e, "connect"));
      default:
        return this.status.lost(); // the SDK tries again
    }
  }
}
