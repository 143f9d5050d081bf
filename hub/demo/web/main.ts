// The demo page: log in (a development token from /demo/token, or a pasted one), then rooms,
// messages, edits, deletes, typing, presence, receipts and history, all through the SDK.

import { EdgeioClient, newClientMsgId, type MessagePayload, type PresenceStatus } from "../../sdk/dist/index.js";
import { $, el, unescapeText } from "./dom.js";
import { RoomView } from "./room.js";

let client: EdgeioClient;
let me = "";
let view: RoomView | null = null;
let editing: MessagePayload | null = null;
let typingSince = 0;
const unread = new Map<string, number>();

$("nobundle").hidden = true;
$("login").hidden = false;
$("login").addEventListener("submit", (ev) => {
  ev.preventDefault();
  void login();
});

/** A fresh token for every (re)connect: the SDK calls this each time. */
async function fetchToken(): Promise<string> {
  const pasted = $<HTMLTextAreaElement>("token").value.trim();
  if (pasted) return pasted;
  const r = await fetch(`token?name=${encodeURIComponent($<HTMLInputElement>("name").value)}`, { cache: "no-store" });
  const body = (await r.json()) as { token?: string; userId?: string; error?: string };
  if (!r.ok || !body.token) throw new Error(body.error ?? `token: HTTP ${r.status}`);
  return body.token;
}

/** The token's user: its claims, read (not verified: the server does that). */
function claimsOf(token: string): { sub: string; name?: string } {
  try {
    const b64 = token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(b64)) as { sub: string; name?: string };
  } catch {
    return { sub: "" };
  }
}

async function login(): Promise<void> {
  const error = $("login-error");
  error.textContent = "";
  let first: string;
  try {
    first = await fetchToken();
  } catch (e) {
    error.textContent = (e as Error).message;
    return;
  }
  const claims = claimsOf(first);
  me = claims.sub;
  let handedFirst = false;
  client = new EdgeioClient({
    getToken: () => (handedFirst ? fetchToken() : ((handedFirst = true), first)),
    parser: $<HTMLSelectElement>("parser").value as "json" | "msgpack",
    reconnect: { initialDelayMs: 300, maxDelayMs: 5000 },
  });
  wire();
  $("login").hidden = true;
  $("chat").hidden = false;
  $("me").textContent = claims.name ?? me;
}

function wire(): void {
  const conn = $("conn");
  const showConn = (text: string, online: boolean) => {
    conn.textContent = text;
    conn.classList.toggle("online", online);
  };
  client.on("connect", (info) => {
    showConn(`connected (${$<HTMLSelectElement>("parser").value})`, true);
    if (!info.recovered && view) void view.open(); // a fresh session: reload what is on screen
  });
  client.on("disconnect", () => showConn("offline: reconnecting…", false));
  client.on("connect_error", (e) => showConn(`cannot connect: ${e.code}`, false));
  client.on("queue", (n) => { if (!client.connected) showConn(`offline: ${n} message(s) queued`, false); });
  client.on("error", (e) => ($("error").textContent = `${e.code}: ${e.message}`));

  client.on("unread-counts", ({ rooms }) => {
    for (const r of rooms) void join(r.roomId, r.unreadCount);
  });
  client.on("new-message", (m) => {
    if (view?.id === m.roomId) view.put(m);
    else bump(m.roomId, m.userId === me ? 0 : 1);
  });
  client.on("message-edited", (e) => view?.id === e.roomId && view.edited(e));
  client.on("message-deleted", (id) => view?.deleted(id));
  client.on("messages-read", (r) => view?.id === r.roomId && view.read(r));
  client.on("user-typing", (t) => view?.id === t.roomId && view.typingEvent(t));
  client.on("room-member-joined", (j) => view?.id === j.roomId && view.joined(j.user));
  client.on("room-member-left", (l) => view?.id === l.roomId && view.left(l.userId));
  client.on("presence-update", (p) => view?.presenceEvent(p));

  $("join").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const input = $<HTMLInputElement>("room-input");
    const room = input.value.trim();
    if (!room) return;
    input.value = "";
    void join(room).then(() => select(room));
  });
  $("load-older").addEventListener("click", () => void view?.loadOlder().catch(showError));
  $("status").addEventListener("change", () => {
    const status = $<HTMLSelectElement>("status").value as PresenceStatus;
    // the server tells the user's other sockets, not this one: show it here ourselves
    client.updatePresence(status).then(() => view?.presenceEvent({ userId: me, status }), showError);
  });
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    void submit();
  });
  $("cancel-edit").addEventListener("click", () => stopEditing());
  $("text").addEventListener("input", () => {
    if (!view || editing) return; // an edit is not a new message: nobody is told of it
    const text = $<HTMLInputElement>("text").value;
    const now = Date.now();
    if (text && now - typingSince > 2000) {
      typingSince = now; // the server ends typing 5 s after the last start: refresh every 2 s
      client.startTyping(view.id).catch(() => { /* typing is best effort */ });
    } else if (!text && typingSince) {
      typingSince = 0;
      client.stopTyping(view.id).catch(() => {});
    }
  });
}

function showError(e: Error): void {
  $("error").textContent = e.message;
}

async function join(room: string, unreadCount?: number): Promise<void> {
  try {
    const r = await client.joinRoom(room);
    if (!$("room-list").querySelector(`li[data-room="${CSS.escape(room)}"]`)) addRoom(room);
    unread.set(room, unreadCount ?? r.unreadCount);
    bump(room, 0);
  } catch (e) {
    showError(e as Error);
  }
}

function addRoom(room: string): void {
  const li = el("li");
  li.dataset.room = room;
  const leave = el("button", "leave", "×");
  leave.title = "leave";
  leave.addEventListener("click", (ev) => {
    ev.stopPropagation();
    void client.leaveRoom(room).then(() => {
      li.remove();
      if (view?.id === room) {
        view.close();
        view = null;
        $("room-title").textContent = "Join a room";
        $("messages").replaceChildren();
        $("presence").replaceChildren();
        setComposer(false);
      }
    }, showError);
  });
  li.append(el("span", "name", room), el("span", "unread"), leave);
  li.addEventListener("click", () => void select(room));
  $("room-list").append(li);
}

function bump(room: string, by: number): void {
  const n = (view?.id === room ? 0 : unread.get(room) ?? 0) + by;
  unread.set(room, n);
  const badge = $("room-list").querySelector(`li[data-room="${CSS.escape(room)}"] .unread`);
  if (badge) badge.textContent = n ? String(n) : "";
}

async function select(room: string): Promise<void> {
  view?.close();
  stopEditing();
  view = new RoomView(client, me, room, startEditing);
  for (const li of $("room-list").querySelectorAll<HTMLElement>("li")) li.classList.toggle("current", li.dataset.room === room);
  bump(room, 0);
  setComposer(true);
  try {
    await view.open();
  } catch (e) {
    showError(e as Error);
  }
}

function setComposer(on: boolean): void {
  $<HTMLInputElement>("text").disabled = !on;
  $<HTMLButtonElement>("send").disabled = !on;
}

function startEditing(m: MessagePayload): void {
  editing = m;
  const li = $("messages").querySelector<HTMLElement>(`li[data-id="${CSS.escape(m.id)}"]`);
  $<HTMLInputElement>("text").value = unescapeText(li?.dataset.raw ?? m.content);
  $("send").textContent = "Save";
  $("cancel-edit").hidden = false;
  $<HTMLInputElement>("text").focus();
}

function stopEditing(): void {
  editing = null;
  $("send").textContent = "Send";
  $("cancel-edit").hidden = true;
}

async function submit(): Promise<void> {
  const input = $<HTMLInputElement>("text");
  const content = input.value.trim();
  if (!view || !content) return;
  input.value = "";
  typingSince = 0;
  $("error").textContent = "";
  if (editing) {
    const id = editing.id;
    stopEditing();
    await client.editMessage(id, content).catch(showError);
    return;
  }
  const v = view;
  const clientMsgId = newClientMsgId();
  v.pending(clientMsgId, content); // greyed until the server has it; survives going offline
  try {
    const m = await client.sendMessage({ roomId: v.id, content, clientMsgId });
    if (view === v) v.put(m);
  } catch (e) {
    v.unpend(clientMsgId);
    showError(e as Error);
  }
}
