// The offline queue: sends waiting for a connection, and sends whose ack has not come yet.
// An entry leaves only when the server answered (or the send timed out while connected, or
// the client closed); a connection lost under an entry puts it back to wait, so it is sent
// again, with the same clientMsgId, and the server's dedupe makes it one message.

import type { MessagePayload, SendMessageInput } from "./events.js";
import type { EdgeioError } from "./errors.js";

export interface OutboxEntry {
  input: SendMessageInput & { clientMsgId: string };
  timeoutMs: number;
  /** Sent on the current connection and not answered yet. */
  inFlight: boolean;
  /** Times it was sent (a resend after a lost ack counts). */
  attempts: number;
  timer?: ReturnType<typeof setTimeout>;
  resolve: (m: MessagePayload) => void;
  reject: (e: EdgeioError) => void;
}

export class Outbox {
  private entries: OutboxEntry[] = [];

  constructor(readonly limit: number) {}

  get size(): number {
    return this.entries.length;
  }

  get full(): boolean {
    return this.entries.length >= this.limit;
  }

  add(e: OutboxEntry): void {
    this.entries.push(e);
  }

  /** Takes e out (answered, timed out or given up); false when it was gone already. */
  remove(e: OutboxEntry): boolean {
    const i = this.entries.indexOf(e);
    if (i < 0) return false;
    this.entries.splice(i, 1);
    clearTimeout(e.timer);
    return true;
  }

  /** The entries to send now, oldest first. */
  waiting(): OutboxEntry[] {
    return this.entries.filter((e) => !e.inFlight);
  }

  /** The connection is gone: whatever was in flight waits to be sent again. */
  requeue(): void {
    for (const e of this.entries) {
      e.inFlight = false;
      clearTimeout(e.timer);
    }
  }

  /** Empties the queue, failing every entry with err. */
  drain(err: EdgeioError): void {
    const all = this.entries;
    this.entries = [];
    for (const e of all) {
      clearTimeout(e.timer);
      e.reject(err);
    }
  }
}
