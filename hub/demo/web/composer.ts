// The composer under the messages: text (Enter sends, Shift+Enter breaks the line), files
// to attach, editing one of the user's messages in place of a new one, the line that says
// why something was refused, and the typing signal the others see.

import type { MessagePayload } from "../../sdk/dist/index.js";
import { filesProblem } from "./attachments.js";
import { $, el, size, unescapeText } from "./dom.js";

export interface ComposerHandlers {
  send(text: string, files: File[]): void;
  edit(messageId: string, text: string): void;
  typing(on: boolean): void;
}

/** How often a typing start is sent again while the user types (the server ends it after 5 s). */
const TYPING_REFRESH_MS = 2000;

export class Composer {
  private files: File[] = [];
  private editing: string | null = null;
  private typingSince = 0;
  private errorTimer?: ReturnType<typeof setTimeout>;
  private readonly text = $<HTMLTextAreaElement>("text");

  constructor(private readonly h: ComposerHandlers) {
    $("composer").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submit();
    });
    this.text.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        this.submit();
      } else if (ev.key === "Escape" && this.editing) {
        this.stopEdit();
      }
    });
    this.text.addEventListener("input", () => {
      this.fit();
      this.clearError();
      this.signalTyping();
    });
    $("attach").addEventListener("click", () => $<HTMLInputElement>("file").click());
    $<HTMLInputElement>("file").addEventListener("change", () => {
      const input = $<HTMLInputElement>("file");
      this.addFiles([...(input.files ?? [])]);
      input.value = "";
    });
    $("cancel-edit").addEventListener("click", () => this.stopEdit());
  }

  /** Ready for a room just opened. */
  enable(): void {
    $("composer").hidden = false;
    this.text.placeholder = "Write a message";
    this.stopEdit();
    this.clearError();
    this.removeFiles();
  }

  startEdit(m: MessagePayload): void {
    this.editing = m.id;
    this.removeFiles();
    this.text.value = unescapeText(m.content);
    $("editing").hidden = false;
    $("attach").hidden = true;
    $("send").textContent = "Save";
    this.fit();
    this.text.focus();
  }

  stopEdit(): void {
    if (this.editing) this.text.value = "";
    this.editing = null;
    $("editing").hidden = true;
    $("attach").hidden = false;
    $("send").textContent = "Send";
    this.fit();
  }

  /** Puts back what a refused send carried, so that nothing typed is lost. */
  restore(text: string, files: File[]): void {
    if (!this.text.value) this.text.value = text;
    if (!this.files.length) this.addFiles(files);
    this.fit();
  }

  error(message: string): void {
    clearTimeout(this.errorTimer);
    const e = $("composer-error");
    e.textContent = message;
    e.hidden = false;
    this.errorTimer = setTimeout(() => this.clearError(), 8000);
  }

  clearError(): void {
    $("composer-error").hidden = true;
  }

  private submit(): void {
    const text = this.text.value.trim();
    if (this.editing) {
      const id = this.editing;
      if (!text) return this.error("A message cannot be empty. To remove it, delete it.");
      this.stopEdit();
      this.h.edit(id, text);
      return;
    }
    if (!text && !this.files.length) return;
    const files = this.files;
    this.files = [];
    this.showFiles();
    this.text.value = "";
    this.fit();
    this.typingSince = 0; // the server ends typing when the message arrives
    this.h.send(text, files);
  }

  private signalTyping(): void {
    if (this.editing) return; // an edit is not a new message: nobody is told
    const now = Date.now();
    if (this.text.value && now - this.typingSince > TYPING_REFRESH_MS) {
      this.typingSince = now;
      this.h.typing(true);
    } else if (!this.text.value && this.typingSince) {
      this.typingSince = 0;
      this.h.typing(false);
    }
  }

  private addFiles(more: File[]): void {
    const all = [...this.files, ...more];
    const problem = filesProblem(all);
    if (problem) return this.error(problem);
    this.files = all;
    this.showFiles();
    this.text.focus();
  }

  private removeFiles(): void {
    this.files = [];
    this.showFiles();
  }

  private showFiles(): void {
    const box = $("files");
    box.hidden = !this.files.length;
    box.replaceChildren(...this.files.map((f, i) => {
      const chip = el("li", "chip");
      const x = el("button", "chip-remove", "×");
      x.type = "button";
      x.title = `Remove ${f.name}`;
      x.setAttribute("aria-label", `Remove ${f.name}`);
      x.addEventListener("click", () => {
        this.files.splice(i, 1);
        this.showFiles();
      });
      chip.append(el("span", "chip-name", f.name), el("span", "chip-size", size(f.size)), x);
      return chip;
    }));
  }

  /** The text box grows with its text, up to a few lines. */
  private fit(): void {
    this.text.style.height = "auto";
    this.text.style.height = `${Math.min(this.text.scrollHeight, 160)}px`;
  }
}
