// EdgeioClient: the chat events of docs/events.md as promise calls over one stock
// socket.io-client socket, with timeouts, typed errors, an offline send queue, room rejoin
// after a reconnect that was not recovered, and a token fetched before every (re)connect.

import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import * as msgpackParser from "socket.io-msgpack-parser";
import { BACKOFF_DEFAULTS, backoffDelay, type BackoffOptions } from "./backoff.js";
import { EdgeioError, fromAck, fromConnectError } from "./errors.js";
import type {
  ClientToServerEvents, DeleteResult, HistoryQuery, HistoryResult, JoinRoomResult, LeaveRoomResult,
  MarkAsReadResult, MessagePayload, MessageResult, OkResult, PresenceResult, PresenceStatus,
  RoomPresenceResult, SendMessageInput, ServerPayload, ServerToClientEvents,
} from "./events.js";
import { newClientMsgId } from "./ids.js";
import { Outbox, type OutboxEntry } from "./outbox.js";

export interface EdgeioClientOptions {
  /** The server, e.g. "http://localhost:3000". Default: the page's own origin (browsers). */
  url?: string;
  /** Called before every connect and reconnect; a refreshed token replaces an expired one. */
  getToken: () => string | Promise<string>;
  /** "json" (socket.io's default parser) or "msgpack" (socket.io-msgpack-parser). Default "json". */
  parser?: "json" | "msgpack";
  /** Per-call timeout, ms, counted while connected. Default 10,000. */
  timeoutMs?: number;
  /** Sends the offline queue holds (waiting or unanswered) before sendMessage rejects with QUEUE_FULL. Default 100. */
  queueLimit?: number;
  /** Reconnect backoff: socket.io-client's own (exponential with jitter), and the SDK's after a refused CONNECT. */
  reconnect?: BackoffOptions & { maxAttempts?: number };
  /** Connect on construction. Default true. */
  autoConnect?: boolean;
  /** Passed to io() as they are (transports, path, extraHeaders, ...); the SDK's own settings win. */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

/** Per-call options. */
export interface CallOptions {
  timeoutMs?: number;
}

export interface ConnectInfo {
  id: string;
  /** True when the server recovered the session: same id, rooms kept, missed broadcasts replayed. */
  recovered: boolean;
}

/** The client's own events, beside the server's. */
export interface LifecycleEvents {
  connect: (info: ConnectInfo) => void;
  disconnect: (reason: string) => void;
  /** A refused or failed connect; the client retries unless the code is UNAUTHORIZED or the server said goodbye. */
  connect_error: (err: EdgeioError) => void;
  /** The offline queue's size changed. */
  queue: (size: number) => void;
}

type ServerHandlers = { [E in keyof ServerToClientEvents]: (payload: ServerPayload<E>) => void };
export type EdgeioEvents = ServerHandlers & LifecycleEvents;

const SERVER_EVENTS: (keyof ServerToClientEvents)[] = [
  "new-message", "message-edited", "message-deleted", "messages-read", "user-typing",
  "presence-update", "room-presence", "room-member-joined", "room-member-left", "unread-counts", "error",
];

// Refused CONNECTs the SDK tries again (socket.io-client does not retry a refusal), after
// their retryAfterMs: RATE_LIMITED is a full address or too many handshakes. Not
// UNAUTHORIZED: a token that is simply wrong would earn the address a ban; not FORBIDDEN
// (the denylist, a foreign origin): that stays so.
const RETRY_REFUSED = new Set(["TOKEN_EXPIRED", "UNAVAILABLE", "BANNED", "RATE_LIMITED"]);
const MAX_EXPIRED_RETRIES = 3;

type Waiter = { resolve: () => void; reject: (e: EdgeioError) => void; timer: ReturnType<typeof setTimeout> };

export class EdgeioClient {
  /** The socket.io-client socket underneath (typed), for what the SDK does not wrap. */
  readonly socket: Socket<ServerToClientEvents, ClientToServerEvents>;
  private readonly opts: Required<Pick<EdgeioClientOptions, "timeoutMs" | "queueLimit">> & EdgeioClientOptions;
  private readonly backoff: Required<BackoffOptions>;
  private readonly outbox: Outbox;
  private readonly listeners = new Map<string, Set<(payload: never) => void>>();
  private readonly rooms = new Set<string>();
  private readonly waiters = new Set<Waiter>();
  private readonly pending = new Set<(e: EdgeioError) => void>(); // calls in flight, other than sends
  private ready = false; // connected, and rooms rejoined
  private closed = false;
  private generation = 0; // bumped on every disconnect: answers of an older connection are stale
  private refusals = 0;
  private retryTimer?: ReturnType<typeof setTimeout>;

  constructor(options: EdgeioClientOptions) {
    this.opts = { timeoutMs: 10_000, queueLimit: 100, ...options };
    this.backoff = { ...BACKOFF_DEFAULTS, ...stripUndefined(options.reconnect ?? {}) };
    this.outbox = new Outbox(this.opts.queueLimit);
    const sio: Partial<ManagerOptions & SocketOptions> = {
      ...options.socketOptions,
      autoConnect: false,
      // socket.io-client's reconnection: exponential backoff with jitter, for lost transports
      reconnection: true,
      reconnectionDelay: this.backoff.initialDelayMs,
      reconnectionDelayMax: this.backoff.maxDelayMs,
      randomizationFactor: this.backoff.jitter,
      reconnectionAttempts: options.reconnect?.maxAttempts ?? Infinity,
      // a function: socket.io-client calls it for every CONNECT, so each one gets a fresh token
      auth: (cb: (data: object) => void) => this.authenticate(cb),
    };
    if (options.parser === "msgpack") sio.parser = msgpackParser;
    this.socket = options.url === undefined ? io(sio) : io(options.url, sio);
    this.socket.on("connect", () => void this.onConnect());
    this.socket.on("disconnect", (reason) => this.onDisconnect(reason));
    this.socket.on("connect_error", (err) => this.onConnectError(err));
    for (const name of SERVER_EVENTS) {
      // the payload only: a room broadcast's trailing recovery offset is socket.io-client's business
      this.socket.on(name, ((payload: unknown) => this.dispatch(name, payload)) as never);
    }
    if (options.autoConnect !== false) this.connect();
  }

  /** Connected, and the rooms of a session that was not recovered joined again. */
  get connected(): boolean {
    return this.ready;
  }

  /** Sends waiting in the offline queue or for their ack. */
  get queueSize(): number {
    return this.outbox.size;
  }

  /** The rooms this client joined and did not leave (joined again after a fresh reconnect). */
  get joinedRooms(): string[] {
    return [...this.rooms];
  }

  connect(): void {
    this.closed = false;
    clearTimeout(this.retryTimer);
    this.socket.connect();
  }

  /** Disconnects for good: queued sends and waiting calls reject with DISCONNECTED. */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.socket.disconnect(); // a connected socket reports it; the second call below is then a no-op
    this.onDisconnect("io client disconnect");
    this.outbox.drain(new EdgeioError("DISCONNECTED", "the client was closed"));
    this.emitQueue();
  }

  on<E extends keyof EdgeioEvents>(event: E, handler: EdgeioEvents[E]): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(handler as (payload: never) => void);
    return this;
  }

  off<E extends keyof EdgeioEvents>(event: E, handler: EdgeioEvents[E]): this {
    this.listeners.get(event)?.delete(handler as (payload: never) => void);
    return this;
  }

  // ---- calls ----

  async joinRoom(roomId: string, o?: CallOptions): Promise<JoinRoomResult> {
    const r = await this.call<JoinRoomResult>("join-room", roomId, o);
    this.rooms.add(roomId);
    return r;
  }

  async leaveRoom(roomId: string, o?: CallOptions): Promise<LeaveRoomResult> {
    const r = await this.call<LeaveRoomResult>("leave-room", roomId, o);
    this.rooms.delete(roomId);
    return r;
  }

  /**
   * Sends a message and resolves with it as stored. Sent at once when connected, else queued
   * (up to queueLimit) and sent on reconnect; a send whose ack was lost with its connection
   * is sent again. Both carry the same clientMsgId, so the room gets the message once.
   */
  sendMessage(input: SendMessageInput, o?: CallOptions): Promise<MessagePayload> {
    const clientMsgId = input.clientMsgId ?? newClientMsgId();
    if (this.closed) return Promise.reject(new EdgeioError("DISCONNECTED", "the client was closed", { event: "send-message", clientMsgId }));
    if (this.outbox.full) {
      return Promise.reject(new EdgeioError("QUEUE_FULL", `${this.outbox.limit} sends are waiting already`, { event: "send-message", clientMsgId }));
    }
    return new Promise((resolve, reject) => {
      this.outbox.add({
        input: { ...input, clientMsgId }, timeoutMs: o?.timeoutMs ?? this.opts.timeoutMs,
        inFlight: false, attempts: 0, resolve, reject,
      });
      this.emitQueue();
      this.pump();
    });
  }

  async editMessage(messageId: string, content: string, o?: CallOptions): Promise<MessagePayload> {
    return (await this.call<MessageResult>("edit-message", { messageId, content }, o)).message;
  }

  async deleteMessage(messageId: string, o?: CallOptions): Promise<string> {
    return (await this.call<DeleteResult>("delete-message", messageId, o)).messageId;
  }

  markAsRead(roomId: string, messageIds: string[], o?: CallOptions): Promise<MarkAsReadResult> {
    return this.call<MarkAsReadResult>("mark-as-read", { roomId, messageIds }, o);
  }

  getHistory(query: HistoryQuery, o?: CallOptions): Promise<HistoryResult> {
    return this.call<HistoryResult>("get-history", query, o);
  }

  getRoomPresence(roomId: string, o?: CallOptions): Promise<RoomPresenceResult> {
    return this.call<RoomPresenceResult>("get-room-presence", roomId, o);
  }

  updatePresence(status: PresenceStatus, o?: CallOptions): Promise<PresenceResult> {
    return this.call<PresenceResult>("update-presence", status, o);
  }

  /** Typing is of the moment: while disconnected it rejects at once instead of waiting. */
  startTyping(roomId: string, o?: CallOptions): Promise<OkResult> {
    return this.call<OkResult>("typing-start", roomId, o, false);
  }

  stopTyping(roomId: string, o?: CallOptions): Promise<OkResult> {
    return this.call<OkResult>("typing-stop", roomId, o, false);
  }

  // ---- internals ----

  /**
   * Emits event with an ack. While disconnected it waits for the connection (within the
   * timeout: DISCONNECTED after it); a connection lost under it rejects with DISCONNECTED.
   */
  private async call<T>(event: keyof ClientToServerEvents, arg: unknown, o?: CallOptions, wait = true): Promise<T> {
    const timeoutMs = o?.timeoutMs ?? this.opts.timeoutMs;
    const started = Date.now();
    if (!this.ready) {
      if (!wait || this.closed) throw new EdgeioError("DISCONNECTED", "not connected", { event });
      await this.whenReady(timeoutMs, event);
    }
    return this.emitAck<T>(event, arg, Math.max(1, timeoutMs - (Date.now() - started)));
  }

  private emitAck<T>(event: string, arg: unknown, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fail = (e: EdgeioError) => {
        clearTimeout(timer);
        this.pending.delete(fail);
        reject(e);
      };
      const timer = setTimeout(() => fail(new EdgeioError("TIMEOUT", `no answer to ${event} within ${timeoutMs} ms`, { event })), timeoutMs);
      this.pending.add(fail);
      (this.socket.emit as (ev: string, a: unknown, ack: (answer: unknown) => void) => void)(event, arg, (answer) => {
        if (!this.pending.has(fail)) return; // timed out or disconnected already
        clearTimeout(timer);
        this.pending.delete(fail);
        if ((answer as { ok?: unknown } | null)?.ok === true) resolve(answer as T);
        else reject(fromAck(event, answer));
      });
    });
  }

  private whenReady(timeoutMs: number, event: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve: () => { clearTimeout(w.timer); this.waiters.delete(w); resolve(); },
        reject: (e) => { clearTimeout(w.timer); this.waiters.delete(w); reject(e); },
        timer: setTimeout(() => w.reject(new EdgeioError("DISCONNECTED", `not connected within ${timeoutMs} ms`, { event })), timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  /** Sends what waits in the outbox, oldest first, when connected. */
  private pump(): void {
    if (!this.ready) return;
    for (const e of this.outbox.waiting()) this.transmit(e);
  }

  private transmit(e: OutboxEntry): void {
    const gen = this.generation;
    e.inFlight = true;
    e.attempts++;
    e.timer = setTimeout(() => {
      if (gen !== this.generation || !this.outbox.remove(e)) return;
      this.emitQueue();
      e.reject(new EdgeioError("TIMEOUT", `no answer to send-message within ${e.timeoutMs} ms; sending it again with the same clientMsgId is safe`,
        { event: "send-message", clientMsgId: e.input.clientMsgId }));
    }, e.timeoutMs);
    this.socket.emit("send-message", e.input, (answer) => {
      if (gen !== this.generation || !this.outbox.remove(e)) return; // requeued or timed out: a later answer decides
      this.emitQueue();
      if (answer?.ok === true) e.resolve(answer.message);
      else e.reject(fromAck("send-message", answer, e.input.clientMsgId));
    });
  }

  private authenticate(cb: (data: object) => void): void {
    Promise.resolve()
      .then(() => this.opts.getToken())
      // recovery: true asks for connection state recovery: room broadcasts then carry the
      // offset socket.io-client keeps, and a reconnect within the window gets the session back
      .then((token) => cb({ token, recovery: true }), (err: unknown) => {
        // no token, no CONNECT: stop this attempt and try again later
        this.socket.disconnect();
        this.emit("connect_error", new EdgeioError("UNAUTHORIZED", `getToken failed: ${(err as Error)?.message ?? err}`));
        this.retryLater(this.refusals++);
      });
  }

  private async onConnect(): Promise<void> {
    const gen = this.generation;
    this.refusals = 0;
    if (!this.socket.recovered) {
      // a fresh session has no rooms: join again those the app had joined
      for (const room of [...this.rooms]) {
        try {
          await this.emitAck<JoinRoomResult>("join-room", room, this.opts.timeoutMs);
        } catch (err) {
          if (gen !== this.generation) return;
          if (err instanceof EdgeioError && err.code !== "TIMEOUT" && err.code !== "DISCONNECTED") this.rooms.delete(room);
        }
      }
    }
    if (gen !== this.generation || !this.socket.connected) return;
    this.ready = true;
    for (const w of [...this.waiters]) w.resolve();
    // socket.io-client leaves recovered undefined when the server offers no recovery
    this.emit("connect", { id: this.socket.id ?? "", recovered: this.socket.recovered === true });
    this.pump();
  }

  private onDisconnect(reason: string): void {
    const wasReady = this.ready;
    this.ready = false;
    this.generation++;
    this.outbox.requeue();
    const err = new EdgeioError("DISCONNECTED", `connection lost (${reason})`);
    for (const fail of [...this.pending]) fail(err);
    if (this.closed) for (const w of [...this.waiters]) w.reject(new EdgeioError("DISCONNECTED", "the client was closed"));
    if (wasReady) this.emit("disconnect", reason);
  }

  private onConnectError(err: Error & { data?: { code?: unknown } }): void {
    const e = fromConnectError(err);
    this.emit("connect_error", e);
    if (err.data === undefined || this.closed) return; // a transport failure: socket.io-client retries by itself
    if (!RETRY_REFUSED.has(e.code)) return;
    if (e.code === "TOKEN_EXPIRED" && this.refusals >= MAX_EXPIRED_RETRIES) return;
    this.retryLater(this.refusals++, e.retryAfterMs);
  }

  /** socket.io-client does not retry a refused CONNECT: the SDK does, with the same backoff. */
  private retryLater(attempt: number, atLeastMs = 0): void {
    if (this.closed) return;
    const max = this.opts.reconnect?.maxAttempts ?? Infinity;
    if (attempt >= max) return;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (!this.closed && !this.socket.connected) this.socket.connect();
    }, Math.max(atLeastMs, backoffDelay(attempt, this.backoff)));
  }

  private emitQueue(): void {
    this.emit("queue", this.outbox.size);
  }

  private dispatch(event: string, payload: unknown): void {
    this.emit(event as keyof EdgeioEvents, payload as never);
  }

  private emit<E extends keyof EdgeioEvents>(event: E, payload: Parameters<EdgeioEvents[E]>[0]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const h of [...set]) {
      try {
        (h as (p: unknown) => void)(payload);
      } catch (err) {
        // one handler's exception must not stop the others nor the client
        setTimeout(() => { throw err; });
      }
    }
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
