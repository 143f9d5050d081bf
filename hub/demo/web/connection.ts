// The connection as the user sees it: a status in the header, and a line over the messages
// while it is lost ("Reconnecting…", sends waiting) and when it is back (recovered: nothing
// missed; or afresh: the conversation reloaded).

import { $ } from "./dom.js";

type State = "connecting" | "online" | "reconnecting" | "offline";

export class ConnectionStatus {
  private state: State = "connecting";
  private waiting = 0;
  private hideTimer?: ReturnType<typeof setTimeout>;

  connecting(): void {
    this.set("connecting", "Connecting…");
  }

  /** Connected; after a loss, says whether the server kept the session (recovered). */
  online(recovered: boolean): void {
    const wasLost = this.state === "reconnecting" || this.state === "offline";
    this.set("online", "Online");
    if (!wasLost) return this.banner("");
    this.banner(recovered ? "Back online. Nothing was missed." : "Back online. The conversation was reloaded.", "ok");
    this.hideTimer = setTimeout(() => this.banner(""), 4000);
  }

  lost(): void {
    this.set("reconnecting", "Reconnecting…");
    this.showLost();
  }

  /** Sends waiting for the connection (the SDK's offline queue). */
  queued(n: number): void {
    this.waiting = n;
    if (this.state === "reconnecting") this.showLost();
  }

  /** The server refused the connection: the reason, in words. */
  refused(message: string): void {
    this.set("offline", "Offline");
    this.banner(message, "bad");
  }

  private showLost(): void {
    const n = this.waiting;
    const waiting = n ? ` ${n} message${n === 1 ? " is" : "s are"} waiting to be sent.` : " Messages you send now go out once it is back.";
    this.banner("Connection lost. Reconnecting…" + waiting, "warn");
  }

  private set(state: State, text: string): void {
    this.state = state;
    const pill = $("conn");
    pill.dataset.state = state;
    $("conn-text").textContent = text;
  }

  private banner(text: string, kind = ""): void {
    clearTimeout(this.hideTimer);
    const b = $("banner");
    b.textContent = text;
    b.dataset.kind = kind;
    b.hidden = !text;
  }
}
