// The chat events of docs/events.md as TypeScript types: payloads, acks and the two event
// maps socket.io-client's typed Socket takes.

/** ISO-8601 UTC with milliseconds, as JSON.stringify(new Date()) writes it. */
export type IsoTime = string;

export type PresenceStatus = "online" | "away" | "busy" | "offline";

/** A link attachment (http or https). */
export interface LinkAttachment {
  url: string;
  name?: string;
  type?: string;
  size?: number;
}

/** Inline bytes, sent and delivered as a Socket.IO binary attachment. */
export interface InlineAttachment {
  name: string;
  type: string;
  data: ArrayBuffer | Uint8Array;
}

export type Attachment = LinkAttachment | InlineAttachment;

export interface MessagePayload {
  id: string;
  roomId: string;
  userId: string;
  username: string;
  content: string;
  attachments?: Attachment[];
  clientMsgId?: string;
  createdAt: IsoTime;
  editedAt?: IsoTime;
}

/** A deleted message as history returns it. */
export interface Tombstone {
  id: string;
  roomId: string;
  deleted: true;
  deletedAt: IsoTime;
}

export type HistoryEntry = MessagePayload | Tombstone;

export interface PresenceInfo {
  userId: string;
  username: string;
  status: PresenceStatus;
  lastSeen?: IsoTime;
}

export interface MessageEdited {
  messageId: string;
  roomId: string;
  content: string;
  editedAt: IsoTime;
}

export interface MessagesRead {
  roomId: string;
  messageIds: string[];
  userId: string;
  readAt: IsoTime;
}

export interface UserTyping {
  roomId: string;
  userId: string;
  username: string;
  isTyping: boolean;
}

export interface PresenceUpdate {
  userId: string;
  status: PresenceStatus;
  lastSeen?: IsoTime;
}

export interface RoomPresence {
  roomId: string;
  users: PresenceInfo[];
}

export interface RoomMemberJoined {
  roomId: string;
  user: PresenceInfo;
}

export interface RoomMemberLeft {
  roomId: string;
  userId: string;
}

export interface UnreadCount {
  roomId: string;
  lastReadId: string | null;
  unreadCount: number;
}

export interface UnreadCounts {
  rooms: UnreadCount[];
}

/** The server's error event (an event sent without an ack failed). */
export interface ServerErrorEvent {
  message: string;
  code: string;
  retryAfterMs?: number;
}

// ---- client to server ----

export interface SendMessageInput {
  roomId: string;
  content: string;
  attachments?: Attachment[];
  /** Up to 128 characters; the SDK makes one when absent, so that a resend is not a repeat. */
  clientMsgId?: string;
}

export interface EditMessageInput {
  messageId: string;
  content: string;
}

export interface MarkAsReadInput {
  roomId: string;
  messageIds: string[];
}

export interface HistoryQuery {
  roomId: string;
  before?: string;
  after?: string;
  limit?: number;
}

/** A refused event's ack. */
export interface ErrorAck {
  ok: false;
  error: { code: string; message: string; retryAfterMs?: number };
}

export interface JoinRoomResult {
  ok: true;
  roomId: string;
  lastReadId: string | null;
  unreadCount: number;
}
export interface LeaveRoomResult {
  ok: true;
  roomId: string;
}
export interface MessageResult {
  ok: true;
  message: MessagePayload;
}
export interface DeleteResult {
  ok: true;
  messageId: string;
}
export interface MarkAsReadResult {
  ok: true;
  roomId: string;
  lastReadId: string;
}
export interface HistoryResult {
  ok: true;
  roomId: string;
  messages: HistoryEntry[];
  hasMore: boolean;
}
export interface PresenceResult {
  ok: true;
  status: PresenceStatus;
}
export interface RoomPresenceResult {
  ok: true;
  roomId: string;
  users: PresenceInfo[];
}
export interface OkResult {
  ok: true;
}

type Ack<T> = (answer: T | ErrorAck) => void;

/** What the client emits, each with the ack it gets (docs/events.md). */
export interface ClientToServerEvents {
  "join-room": (roomId: string, ack: Ack<JoinRoomResult>) => void;
  "leave-room": (roomId: string, ack: Ack<LeaveRoomResult>) => void;
  "send-message": (input: SendMessageInput, ack: Ack<MessageResult>) => void;
  "edit-message": (input: EditMessageInput, ack: Ack<MessageResult>) => void;
  "delete-message": (messageId: string, ack: Ack<DeleteResult>) => void;
  "mark-as-read": (input: MarkAsReadInput, ack: Ack<MarkAsReadResult>) => void;
  "typing-start": (roomId: string, ack: Ack<OkResult>) => void;
  "typing-stop": (roomId: string, ack: Ack<OkResult>) => void;
  "update-presence": (status: PresenceStatus, ack: Ack<PresenceResult>) => void;
  "get-room-presence": (roomId: string, ack: Ack<RoomPresenceResult>) => void;
  "get-history": (query: HistoryQuery, ack: Ack<HistoryResult>) => void;
}

/**
 * What the server sends. Room broadcasts end with a connection state recovery offset (a
 * string) for a client that asked for recovery (`recovery: true` in its CONNECT auth, as
 * EdgeioClient does) or when the server gives offsets to all; socket.io-client keeps it, and
 * EdgeioClient's handlers get the payload alone.
 */
export interface ServerToClientEvents {
  "new-message": (message: MessagePayload, offset?: string) => void;
  "message-edited": (edit: MessageEdited, offset?: string) => void;
  "message-deleted": (messageId: string, offset?: string) => void;
  "messages-read": (receipt: MessagesRead, offset?: string) => void;
  "user-typing": (typing: UserTyping) => void;
  "presence-update": (presence: PresenceUpdate) => void;
  "room-presence": (presence: RoomPresence) => void;
  "room-member-joined": (joined: RoomMemberJoined, offset?: string) => void;
  "room-member-left": (left: RoomMemberLeft, offset?: string) => void;
  "unread-counts": (counts: UnreadCounts) => void;
  error: (error: ServerErrorEvent) => void;
}

/** A server event's payload: its first argument. */
export type ServerPayload<E extends keyof ServerToClientEvents> = Parameters<ServerToClientEvents[E]>[0];
