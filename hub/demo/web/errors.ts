// What a refused action says to the user: the server's error codes (docs/events.md) and the
// SDK's own, in plain words for what the user was doing. The server's message is for
// developers (it may quote a regular expression): it is never shown.

import type { EdgeioError } from "../../sdk/dist/index.js";

/** What the user was doing when it failed. */
export type Action = "join" | "send" | "edit" | "delete" | "history" | "presence" | "connect" | "other";

const FORBIDDEN: Partial<Record<Action, string>> = {
  join: "You are not allowed to join that room.",
  edit: "You can only edit your own messages.",
  delete: "You can only delete your own messages.",
  history: "You are not allowed to read that room.",
};

const INVALID: Partial<Record<Action, string>> = {
  join: "That is not a room name. " + roomNameRule(),
  send: "That message cannot be sent: it is empty, or an attachment is not a file the server takes.",
  edit: "That edit cannot be saved: the message would be empty.",
};

/** The sentence for err, a failed action. */
export function describe(err: unknown, action: Action = "other"): string {
  const e = err as Partial<EdgeioError> | null;
  const seconds = Math.max(1, Math.ceil((e?.retryAfterMs ?? 1000) / 1000));
  switch (e?.code) {
    case "UNAUTHORIZED":
      return "Your sign-in is no longer valid. Please sign in again.";
    case "TOKEN_EXPIRED":
      return "Your sign-in has expired. Please sign in again.";
    case "FORBIDDEN":
      return FORBIDDEN[action] ?? "You are not allowed to do that.";
    case "NOT_IN_ROOM":
      return "You are not in this room any more. Join it again to go on.";
    case "NOT_FOUND":
      return action === "edit" || action === "delete" ? "That message was deleted." : "That was not found: it may have been deleted.";
    case "INVALID_PAYLOAD":
      return INVALID[action] ?? "The server could not understand that request.";
    case "PAYLOAD_TOO_LARGE":
      return action === "edit" || action === "send" ? "That message is too long. Shorten it and try again." : "That is too large for the server.";
    case "RATE_LIMITED":
      return `You are going too fast. Try again in ${seconds} second${seconds === 1 ? "" : "s"}.`;
    case "UNAVAILABLE":
      return "The server is busy right now. Try again in a moment.";
    case "BANNED":
      return `This address is blocked for a while (${Math.ceil(seconds / 60)} min).`;
    case "SLOW_CONSUMER":
      return "The connection fell behind. Reconnecting…";
    case "TIMEOUT":
      return "The server did not answer in time. Try again.";
    case "DISCONNECTED":
      return action === "send" ? "You are offline: the message goes out when the connection is back." : "You are offline. Try again once the connection is back.";
    case "QUEUE_FULL":
      return "Too many messages are waiting to go out. Wait for the connection to come back.";
    default:
      return "Something went wrong. Try again.";
  }
}

/** The rule of room names (docs/events.md), said in words. */
export function roomNameRule(): string {
  return "Room names use letters, digits and . _ - : (up to 128), and start with a letter or digit.";
}

const ROOM_ID = /^[A-Za-z0-9][A-Za-z0-9:_.-]{0,127}$/;

/** Why a room name would be refused, or "" when it is fine. */
export function roomNameProblem(room: string): string {
  if (!room) return "Type the name of a room to join.";
  if (room.startsWith("user:")) return "Rooms named user:… are people's own. Pick another name.";
  return ROOM_ID.test(room) ? "" : roomNameRule();
}
