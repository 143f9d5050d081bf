// The demo page's start: the session kept from before a reload, or the sign-in form (a name,
// for which the server makes a development token, or a pasted token), then the chat.
// ?parser=msgpack speaks socket.io-msgpack-parser instead of JSON.

import { Chat } from "./chat.js";
import { $ } from "./dom.js";
import * as session from "./session.js";

const parser = new URLSearchParams(location.search).get("parser") === "msgpack" ? "msgpack" : "json";
const NOTICE = "edgeio-demo-notice";

$("nobundle").hidden = true;

/** Ends the session: the page starts again at the sign-in form, saying why. */
function signOut(why: string): void {
  session.clear();
  sessionStorage.setItem(NOTICE, why);
  location.reload();
}

const kept = session.load();
if (kept) {
  new Chat(kept, parser, signOut);
} else {
  $("login").hidden = false;
  $("login-error").textContent = sessionStorage.getItem(NOTICE) ?? "";
  sessionStorage.removeItem(NOTICE);
  $("name").focus();
}

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  void signIn();
});

async function signIn(): Promise<void> {
  const button = $<HTMLButtonElement>("login-btn");
  const error = $("login-error");
  const name = $<HTMLInputElement>("name").value.trim();
  const pasted = $<HTMLTextAreaElement>("token").value.trim();
  error.textContent = "";
  if (!name && !pasted) {
    error.textContent = "Type your name first.";
    return;
  }
  button.disabled = true;
  button.textContent = "Signing in…";
  try {
    new Chat(await session.signIn(name, pasted), parser, signOut);
  } catch (e) {
    error.textContent = (e as Error).message;
    if (/development tokens are off/.test((e as Error).message)) ($("token-box") as HTMLDetailsElement).open = true;
  } finally {
    button.disabled = false;
    button.textContent = "Sign in";
  }
}
