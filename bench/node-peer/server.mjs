// The chat contract of docs/events.md on stock Node Socket.IO 4.8, kept in memory: what a
// team would run instead of edgeio, for `make bench` to measure side by side. It follows the
// events, payloads and error codes a client sees (tokens, rooms, messages with edit and
// delete, history, receipts merged per window, typing, presence with a grace); it leaves out
// what a benchmark does not exercise (abuse limits other than the message rate, unread
// counts, connection state recovery, a durable store). With REDIS_URL the nodes share rooms
// through the stock @socket.io/redis-adapter; presence and history stay per node.
//
//   PORT=3100 JWT_SECRET=secret node server.mjs
//   PARSER=msgpack  REDIS_URL=redis://127.0.0.1:6379  ALLOW_EIO3=1
//   RATE_MESSAGES=30 (per user per minute, 0: off)  TYPING_TIMEOUT_MS=5000  PRESENCE_GRACE_MS=5000
//   BIG_ROOM=1000 (users from which a room's member events go out once a tick, 0: never)
import { createHmac, timingSafeEqual, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { Server } from "socket.io";

const env = (name, def) => process.env[name] ?? def;
const config = {
  port: Number(env("PORT", 3100)),
  secret: env("JWT_SECRET", ""),
  parser: env("PARSER", "json"),
  redisUrl: env("REDIS_URL", ""),
  allowEIO3: env("ALLOW_EIO3", "") === "1",
  ratePerMinute: Number(env("RATE_MESSAGES", 30)),
  typingTimeout: Number(env("TYPING_TIMEOUT_MS", 5000)),
  presenceGrace: Number(env("PRESENCE_GRACE_MS", 5000)),
  receiptWindow: 100,
  bigRoom: Number(env("BIG_ROOM", 1000)),
  bigRoomTick: 1000,
  maxContent: 10_000,
  historyPerRoom: 1_000,
};
if (!config.secret) {
  console.error("node-peer: JWT_SECRET is required");
  process.exit(2);
}

// ---- tokens: HS256 only, as edgeio with --jwt-secret --------------------------------------

function verifyToken(token) {
  if (typeof token !== "string") return { code: "UNAUTHORIZED" };
  const parts = token.split(".");
  if (parts.length !== 3) return { code: "UNAUTHORIZED" };
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], "base64url"));
    claims = JSON.parse(Buffer.from(parts[1], "base64url"));
  } catch {
    return { code: "UNAUTHORIZED" };
  }
  if (header.alg !== "HS256") return { code: "UNAUTHORIZED" };
  const want = createHmac("sha256", config.secret).update(`${parts[0]}.${parts[1]}`).digest();
  const got = Buffer.from(parts[2], "base64url");
  if (got.length !== want.length || !timingSafeEqual(got, want)) return { code: "UNAUTHORIZED" };
  const now = Date.now() / 1000;
  const leeway = 30;
  if (typeof claims.exp === "number" && now > claims.exp + leeway) return { code: "TOKEN_EXPIRED" };
  if (typeof claims.nbf === "number" && now < claims.nbf - leeway) return { code: "UNAUTHORIZED" };
  if (typeof claims.sub !== "string" || claims.sub === "") return { code: "UNAUTHORIZED" };
  return { user: { id: claims.sub, name: cleanText(typeof claims.name === "string" ? claims.name : "").slice(0, 64) || claims.sub } };
}

function tokenOf(handshake) {
  if (handshake.auth && typeof handshake.auth.token === "string") return handshake.auth.token;
  const bearer = /^Bearer\s+(.+)$/i.exec(handshake.headers.authorization || "");
  if (bearer) return bearer[1];
  return handshake.query.token;
}

// ---- input rules ------------------------------------------------------------------------

const ROOM_ID = /^[A-Za-z0-9][A-Za-z0-9:_.-]{0,127}$/;
const escapes = { "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&#39;" };

function cleanText(s) {
  // eslint-disable-next-line no-control-regex
  return s.trim().replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "").replace(/<[^>]*>/g, "").replace(/[<>&"']/g, (c) => escapes[c]);
}

class ChatError extends Error {
  constructor(code, message, extra = {}) {
    super(message);
    this.code = code;
    this.extra = extra;
  }
}
const invalid = (message) => new ChatError("INVALID_PAYLOAD", message);

function roomArg(v) {
  if (typeof v !== "string" || !ROOM_ID.test(v)) throw invalid("roomId must be a room id");
  return v;
}

function objectArg(v) {
  if (!v || typeof v !== "object" || Array.isArray(v)) throw invalid("the argument must be an object");
  return v;
}

function contentArg(v) {
  if (typeof v !== "string") throw invalid("content must be a string");
  const chars = [...v.trim()].length;
  if (chars === 0) throw invalid("content must not be empty");
  if (chars > config.maxContent) throw new ChatError("PAYLOAD_TOO_LARGE", `content must be at most ${config.maxContent} characters`);
  return cleanText(v);
}

const iso = (ms) => new Date(ms).toISOString();

// ---- state of this node ------------------------------------------------------------------

const nodeId = randomBytes(3).toString("hex");
let seq = 0;
/** Ids whose plain string order is their creation order. */
const newMessageId = () => `${Date.now().toString(36).padStart(9, "0")}${(seq++ % 1e9).toString(36).padStart(6, "0")}${nodeId}`;

const messages = new Map(); // id → message
const history = new Map(); // room → [message] oldest first, at most historyPerRoom
const sentIds = new Map(); // user → Map(clientMsgId → message)
const users = new Map(); // user id → {name, status, sockets, rooms: Map(room → sockets), grace}
const readMarks = new Map(); // `${room}\n${user}` → newest id read
const pendingReceipts = new Map(); // `${room}\n${user}` → Set of ids, flushed after the window
const typing = new Map(); // `${room}\n${user}` → timer
const sendBudget = new Map(); // user → {tokens, at}

function allowSend(user) {
  if (config.ratePerMinute <= 0) return { ok: true };
  const now = Date.now();
  const b = sendBudget.get(user) ?? { tokens: config.ratePerMinute, at: now };
  b.tokens = Math.min(config.ratePerMinute, b.tokens + ((now - b.at) * config.ratePerMinute) / 60_000);
  b.at = now;
  sendBudget.set(user, b);
  if (b.tokens < 1) return { ok: false, wait: Math.ceil(((1 - b.tokens) * 60_000) / config.ratePerMinute) };
  b.tokens -= 1;
  return { ok: true };
}

function payload(m) {
  if (m.deleted) return { id: m.id, roomId: m.roomId, deleted: true, deletedAt: iso(m.deletedAt) };
  const p = { id: m.id, roomId: m.roomId, userId: m.userId, username: m.username, content: m.content, createdAt: iso(m.createdAt) };
  if (m.attachments) p.attachments = m.attachments;
  if (m.clientMsgId) p.clientMsgId = m.clientMsgId;
  if (m.editedAt) p.editedAt = iso(m.editedAt);
  return p;
}

const presenceInfo = (id, u) => {
  const status = u.sockets > 0 ? (u.status === "offline" ? "offline" : u.status) : "offline";
  const p = { userId: id, username: u.name, status };
  if (status === "offline" && u.lastSeen) p.lastSeen = iso(u.lastSeen);
  return p;
};

// ---- big rooms: member events coalesced once a tick (docs/events.md, "Big rooms") -------

const roomSize = (room) => io.sockets.adapter.rooms.get(room)?.size ?? 0; // sockets: close enough here
const isBig = (room) => config.bigRoom > 0 && roomSize(room) >= config.bigRoom;
const batches = new Map(); // room → what happened since the last tick

function batch(room) {
  let b = batches.get(room);
  if (!b) batches.set(room, (b = { joined: [], joinedCount: 0, left: [], leftCount: 0, statuses: new Map(), statusCount: 0, reads: new Map(), readCount: 0, typing: false }));
  return b;
}

setInterval(() => {
  for (const [room, b] of batches) {
    if (b.joinedCount + b.leftCount > 0) {
      const memberCount = [...users.values()].filter((u) => u.rooms.has(room)).length;
      io.to(room).emit("room-members-changed", { roomId: room, memberCount, joined: b.joined, joinedCount: b.joinedCount, left: b.left, leftCount: b.leftCount });
    }
    if (b.statusCount > 0) io.to(room).emit("room-presence-changed", { roomId: room, users: [...b.statuses.values()], count: b.statusCount });
    if (b.readCount > 0) {
      const readers = [...b.reads].map(([userId, lastReadId]) => ({ userId, lastReadId }));
      io.to(room).emit("room-reads", { roomId: room, readers, count: b.readCount, readAt: iso(Date.now()) });
    }
    if (b.typing) {
      const typists = [...typing.keys()].filter((k) => k.startsWith(`${room}\n`)).map((k) => k.slice(room.length + 1));
      const shown = typists.slice(-5).reverse().map((id) => ({ userId: id, username: users.get(id)?.name ?? id }));
      io.to(room).emit("room-typing", { roomId: room, users: shown, count: typists.length });
    }
  }
  batches.clear();
}, config.bigRoomTick).unref();

/** A presence change: presence-update to the small rooms (once a socket), a line of the tick's batch in big ones. */
function tellPresence(rooms, p, exceptSocket) {
  const small = [];
  for (const room of rooms) {
    if (!isBig(room)) { small.push(room); continue; }
    const b = batch(room);
    if (b.statuses.has(p.userId) || b.statuses.size < 50) b.statuses.set(p.userId, p);
    b.statusCount++;
  }
  if (exceptSocket) small.push(`user:${p.userId}`);
  if (small.length === 0) return;
  let op = io.to(small);
  if (exceptSocket) op = op.except(exceptSocket);
  op.emit("presence-update", p);
}

// ---- the server ------------------------------------------------------------------------

const httpServer = createServer();
const options = { maxHttpBufferSize: 1e6, allowEIO3: config.allowEIO3, cors: { origin: "*" } };
if (config.parser === "msgpack") options.parser = (await import("socket.io-msgpack-parser")).default;
const io = new Server(httpServer, options);

if (config.redisUrl) {
  const { createClient } = await import("redis");
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const pub = createClient({ url: config.redisUrl });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
}

io.use((socket, next) => {
  const r = verifyToken(tokenOf(socket.handshake));
  if (!r.user) {
    const err = new Error("unauthorized");
    err.data = { code: r.code };
    return next(err);
  }
  socket.data.user = r.user;
  next();
});

io.on("connection", (socket) => {
  const { id: userId, name } = socket.data.user;
  const joined = new Set(); // rooms joined with join-room
  socket.join(`user:${userId}`);
  let u = users.get(userId);
  if (!u) users.set(userId, (u = { name, status: "online", sockets: 0, rooms: new Map(), grace: null }));
  u.sockets++;
  if (u.grace) { clearTimeout(u.grace); u.grace = null; }

  const handlers = {
    "join-room": (roomArgument) => {
      const room = roomArg(roomArgument);
      if (room.startsWith("user:") && room !== `user:${userId}`) throw new ChatError("FORBIDDEN", "another user's room");
      if (!joined.has(room)) {
        if (joined.size >= 100) throw new ChatError("FORBIDDEN", "too many rooms");
        joined.add(room);
        socket.join(room);
        const n = (u.rooms.get(room) ?? 0) + 1;
        u.rooms.set(room, n);
        if (n === 1 && isBig(room)) {
          const b = batch(room);
          if (b.joinedCount++ < 20) b.joined.push(presenceInfo(userId, u));
        } else if (n === 1) {
          socket.to(room).except(`user:${userId}`).emit("room-member-joined", { roomId: room, user: presenceInfo(userId, u) });
        }
      }
      const lastReadId = readMarks.get(`${room}\n${userId}`) ?? null;
      const unreadCount = (history.get(room) ?? []).filter((m) => !m.deleted && m.userId !== userId && (lastReadId === null || m.id > lastReadId)).length;
      return { roomId: room, lastReadId, unreadCount };
    },
    "leave-room": (roomArgument) => {
      const room = roomArg(roomArgument);
      if (!joined.has(room)) throw new ChatError("NOT_IN_ROOM", `not in room ${room}`);
      leave(room);
      return { roomId: room };
    },
    "send-message": (arg) => {
      const obj = objectArg(arg);
      const room = roomArg(obj.roomId);
      const content = contentArg(obj.content);
      const clientMsgId = obj.clientMsgId;
      if (clientMsgId !== undefined && (typeof clientMsgId !== "string" || clientMsgId.length > 128)) throw invalid("clientMsgId must be a string");
      if (!joined.has(room)) throw new ChatError("NOT_IN_ROOM", `join ${room} first`);
      const mine = sentIds.get(userId);
      if (clientMsgId && mine?.has(clientMsgId)) return { message: payload(mine.get(clientMsgId)) };
      const rate = allowSend(userId);
      if (!rate.ok) throw new ChatError("RATE_LIMITED", "too many messages", { retryAfterMs: rate.wait });
      const m = { id: newMessageId(), roomId: room, userId, username: name, content, createdAt: Date.now() };
      if (Array.isArray(obj.attachments) && obj.attachments.length > 0) m.attachments = obj.attachments.slice(0, 10);
      if (clientMsgId) {
        m.clientMsgId = clientMsgId;
        if (!sentIds.has(userId)) sentIds.set(userId, new Map());
        sentIds.get(userId).set(clientMsgId, m);
      }
      messages.set(m.id, m);
      const list = history.get(room) ?? [];
      list.push(m);
      if (list.length > config.historyPerRoom) messages.delete(list.shift().id);
      history.set(room, list);
      stopTyping(room);
      const p = payload(m);
      io.to(room).emit("new-message", p);
      return { message: p };
    },
    "edit-message": (arg) => {
      const obj = objectArg(arg);
      const m = ownMessage(obj.messageId);
      m.content = contentArg(obj.content);
      m.editedAt = Date.now();
      io.to(m.roomId).emit("message-edited", { messageId: m.id, roomId: m.roomId, content: m.content, editedAt: iso(m.editedAt) });
      return { message: payload(m) };
    },
    "delete-message": (id) => {
      const m = ownMessage(id);
      m.deleted = true;
      m.deletedAt = Date.now();
      io.to(m.roomId).emit("message-deleted", m.id);
      return { messageId: m.id };
    },
    "mark-as-read": (arg) => {
      const obj = objectArg(arg);
      const room = roomArg(obj.roomId);
      const ids = obj.messageIds;
      if (!Array.isArray(ids) || ids.length === 0 || ids.length > 500 || !ids.every((id) => typeof id === "string" && id.length <= 64)) {
        throw invalid("messageIds must be a list of 1 to 500 message ids");
      }
      if (!joined.has(room)) throw new ChatError("NOT_IN_ROOM", `not in room ${room}`);
      const real = ids.filter((id) => messages.get(id)?.roomId === room);
      if (real.length === 0) throw new ChatError("NOT_FOUND", "no such message in this room");
      const key = `${room}\n${userId}`;
      const newest = real.reduce((a, b) => (a > b ? a : b));
      if (!readMarks.has(key) || readMarks.get(key) < newest) readMarks.set(key, newest);
      if (!pendingReceipts.has(key)) {
        pendingReceipts.set(key, new Set());
        setTimeout(() => {
          const merged = [...pendingReceipts.get(key)].sort();
          pendingReceipts.delete(key);
          let to = room;
          if (isBig(room)) {
            const b = batch(room);
            if (b.reads.has(userId) || b.reads.size < 50) b.reads.set(userId, merged.at(-1));
            b.readCount++;
            to = `user:${userId}`;
          }
          io.to(to).emit("messages-read", { roomId: room, messageIds: merged, userId, readAt: iso(Date.now()) });
        }, config.receiptWindow);
      }
      for (const id of real) pendingReceipts.get(key).add(id);
      return { roomId: room, lastReadId: readMarks.get(key) };
    },
    "typing-start": (roomArgument) => {
      const room = roomArg(roomArgument);
      if (!joined.has(room)) throw new ChatError("NOT_IN_ROOM", `not in room ${room}`);
      const key = `${room}\n${userId}`;
      const wasTyping = typing.has(key);
      clearTimeout(typing.get(key));
      typing.set(key, setTimeout(() => stopTyping(room), config.typingTimeout));
      if (!wasTyping) announceTyping(room, true);
      return {};
    },
    "typing-stop": (roomArgument) => {
      const room = roomArg(roomArgument);
      if (!joined.has(room)) throw new ChatError("NOT_IN_ROOM", `not in room ${room}`);
      stopTyping(room);
      return {};
    },
    "update-presence": (status) => {
      if (!["online", "away", "busy", "offline"].includes(status)) throw invalid("status must be online, away, busy or offline");
      u.status = status;
      const p = { userId, status };
      if (status === "offline") p.lastSeen = iso(Date.now());
      tellPresence([...u.rooms.keys()], p, socket.id);
      return { status };
    },
    "get-room-presence": (roomArgument) => {
      const room = roomArg(roomArgument);
      const list = [...users].filter(([, v]) => v.rooms.has(room)).map(([id, v]) => presenceInfo(id, v)).sort((a, b) => (a.userId < b.userId ? -1 : 1));
      socket.emit("room-presence", { roomId: room, users: list });
      return { roomId: room, users: list };
    },
    "get-history": (arg) => {
      const obj = objectArg(arg);
      const room = roomArg(obj.roomId);
      const limit = obj.limit ?? 50;
      if (!Number.isInteger(limit) || limit < 1 || limit > 100) throw invalid("limit must be a whole number from 1 to 100");
      if (obj.before !== undefined && obj.after !== undefined) throw invalid("give before or after, not both");
      let list = history.get(room) ?? [];
      let more;
      if (obj.after !== undefined) {
        list = list.filter((m) => m.id > obj.after);
        more = list.length > limit;
        list = list.slice(0, limit);
      } else {
        if (obj.before !== undefined) list = list.filter((m) => m.id < obj.before);
        more = list.length > limit;
        list = list.slice(-limit);
      }
      return { roomId: room, messages: list.map(payload), hasMore: more };
    },
  };

  function ownMessage(id) {
    if (typeof id !== "string" || id === "" || id.length > 64) throw invalid("messageId must be a message id string");
    const m = messages.get(id);
    if (!m || m.deleted) throw new ChatError("NOT_FOUND", "no such message");
    if (!joined.has(m.roomId)) throw new ChatError("NOT_IN_ROOM", `join ${m.roomId} first`);
    if (m.userId !== userId) throw new ChatError("FORBIDDEN", "not your message");
    return m;
  }

  function announceTyping(room, isTyping) {
    if (isBig(room)) batch(room).typing = true;
    else socket.to(room).except(`user:${userId}`).emit("user-typing", { roomId: room, userId, username: name, isTyping });
  }

  function stopTyping(room) {
    const key = `${room}\n${userId}`;
    if (!typing.has(key)) return;
    clearTimeout(typing.get(key));
    typing.delete(key);
    announceTyping(room, false);
  }

  function leave(room) {
    joined.delete(room);
    socket.leave(room);
    const n = (u.rooms.get(room) ?? 1) - 1;
    if (n > 0) {
      u.rooms.set(room, n);
      return;
    }
    u.rooms.delete(room);
    stopTyping(room);
    if (isBig(room)) {
      const b = batch(room);
      if (b.leftCount++ < 20) b.left.push(userId);
    } else {
      io.to(room).emit("room-member-left", { roomId: room, userId });
    }
  }

  socket.onAny((event, ...args) => {
    const ack = typeof args[args.length - 1] === "function" ? args.pop() : null;
    const handler = Object.hasOwn(handlers, event) ? handlers[event] : null;
    let answer;
    try {
      if (!handler) throw invalid(`unknown event ${event}`);
      answer = { ok: true, ...handler(...args) };
    } catch (err) {
      const error = err instanceof ChatError ? { code: err.code, message: err.message, ...err.extra } : { code: "INTERNAL", message: "internal error" };
      if (!(err instanceof ChatError)) console.error("node-peer:", err);
      if (!ack) return void socket.emit("error", { message: error.message, code: error.code, ...err.extra });
      answer = { ok: false, error };
    }
    if (ack) ack(answer);
  });

  socket.on("disconnect", () => {
    const rooms = [...joined];
    for (const room of rooms) leave(room);
    u.sockets--;
    if (u.sockets > 0) return;
    u.lastSeen = Date.now();
    u.grace = setTimeout(() => {
      u.grace = null;
      if (u.sockets > 0) return;
      tellPresence(rooms, { userId, status: "offline", lastSeen: iso(u.lastSeen) });
      users.delete(userId);
    }, config.presenceGrace);
  });
});

httpServer.listen(config.port, "127.0.0.1", () => {
  console.log(`node-peer: socket.io ${config.parser} on 127.0.0.1:${config.port}${config.redisUrl ? " with the Redis adapter" : ""}`);
});
const stop = () => io.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
