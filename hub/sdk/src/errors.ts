// EdgeioError: every rejected call carries a code, the server's (docs/events.md) or the SDK's.

/** Codes the server answers with (docs/events.md, "Answers and errors"). */
export type ServerErrorCode =
  | "UNAUTHORIZED"
  | "TOKEN_EXPIRED"
  | "FORBIDDEN"
  | "NOT_IN_ROOM"
  | "NOT_FOUND"
  | "INVALID_PAYLOAD"
  | "PAYLOAD_TOO_LARGE"
  | "RATE_LIMITED"
  | "UNAVAILABLE"
  | "BANNED"
  | "SLOW_CONSUMER"
  | "INTERNAL";

/**
 * The SDK's own codes: TIMEOUT (no answer within the call's timeout while connected),
 * DISCONNECTED (not connected in time, the connection dropped under a call that is not a
 * send, or the client was closed), QUEUE_FULL (the offline queue is at its bound).
 */
export type ClientErrorCode = "TIMEOUT" | "DISCONNECTED" | "QUEUE_FULL";

export type ErrorCode = ServerErrorCode | ClientErrorCode;

export class EdgeioError extends Error {
  override name = "EdgeioError";
  /** The server's code, or one of the SDK's. Unknown server codes pass through as they are. */
  readonly code: ErrorCode;
  /** RATE_LIMITED (and BANNED): how long to wait before trying again. */
  readonly retryAfterMs?: number;
  /** The event that failed, when a call failed. */
  readonly event?: string;
  /** The send's clientMsgId: sending again with it cannot make a second message. */
  readonly clientMsgId?: string;

  constructor(code: ErrorCode, message: string, extra: { retryAfterMs?: number; event?: string; clientMsgId?: string } = {}) {
    super(message);
    this.code = code;
    if (extra.retryAfterMs !== undefined) this.retryAfterMs = extra.retryAfterMs;
    if (extra.event !== undefined) this.event = extra.event;
    if (extra.clientMsgId !== undefined) this.clientMsgId = extra.clientMsgId;
  }
}

/** The error of a refused ack ({ ok: false, error }), or a malformed answer. */
export function fromAck(event: string, answer: unknown, clientMsgId?: string): EdgeioError {
  const e = (answer as { error?: { code?: unknown; message?: unknown; retryAfterMs?: unknown } } | null)?.error;
  if (e && typeof e.code === "string") {
    return new EdgeioError(e.code as ErrorCode, typeof e.message === "string" ? e.message : e.code, {
      retryAfterMs: typeof e.retryAfterMs === "number" ? e.retryAfterMs : undefined,
      event,
      clientMsgId,
    });
  }
  return new EdgeioError("INTERNAL", `unexpected answer to ${event}: ${JSON.stringify(answer)}`, { event, clientMsgId });
}

/** A refused CONNECT (socket.io-client's connect_error with the server's data.code). */
export function fromConnectError(err: Error & { data?: { code?: unknown; retryAfterMs?: unknown } }): EdgeioError {
  const code = typeof err.data?.code === "string" ? (err.data.code as ErrorCode) : "DISCONNECTED";
  const retry = typeof err.data?.retryAfterMs === "number" ? err.data.retryAfterMs : undefined;
  return new EdgeioError(code, err.message, { retryAfterMs: retry });
}
