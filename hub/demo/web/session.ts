// The signed-in user, kept in sessionStorage (this tab's, gone with it) so that a reload
// stays signed in and in the same room. A token the page got from /demo/token for a name is
// fetched again before it runs out; a pasted token is used until it expires.

export interface Session {
  token: string;
  /** The name /demo/token minted the token for; "" for a pasted token, which cannot be renewed. */
  name: string;
  userId: string;
  displayName: string;
  /** The room open last. */
  room?: string;
}

interface Claims {
  sub?: string;
  name?: string;
  exp?: number;
}

const KEY = "edgeio-demo-session";
const RENEW_BEFORE_MS = 5 * 60_000;

/** Thrown when the session cannot go on: the user must sign in again. */
export class SignedOut extends Error {}

export function load(): Session | null {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) ?? "null") as Session | null;
    if (!s?.token || !s.userId) return null;
    if (!s.name && expiresIn(s.token) <= 0) return null; // pasted and expired: sign in again
    return s;
  } catch {
    return null;
  }
}

export function save(s: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(s));
}

export function clear(): void {
  sessionStorage.removeItem(KEY);
}

/** A session for a name (a development token from /demo/token) or a pasted token. */
export async function signIn(name: string, pasted: string): Promise<Session> {
  const token = pasted || (await mint(name));
  const c = claims(token);
  if (!c.sub) throw new SignedOut("That token has no user in it (no sub claim).");
  if (pasted && expiresIn(pasted) <= 0) throw new SignedOut("That token has expired.");
  const s: Session = { token, name: pasted ? "" : name, userId: c.sub, displayName: c.name ?? c.sub };
  save(s);
  return s;
}

/** The session's token, renewed first when it runs out within five minutes. */
export async function token(s: Session): Promise<string> {
  if (expiresIn(s.token) > RENEW_BEFORE_MS) return s.token;
  if (!s.name) {
    if (expiresIn(s.token) > 0) return s.token;
    throw new SignedOut("Your sign-in has expired. Please sign in again.");
  }
  s.token = await mint(s.name);
  save(s);
  return s.token;
}

/** Renews the token in the background before it runs out, so that a reload finds it valid. */
export function keepFresh(s: Session, onSignedOut: (e: Error) => void): () => void {
  let timer: ReturnType<typeof setTimeout>;
  const plan = () => {
    const wait = Math.max(10_000, expiresIn(s.token) - RENEW_BEFORE_MS + 1000);
    timer = setTimeout(() => token(s).then(plan, (e: Error) => (e instanceof SignedOut ? onSignedOut(e) : plan())), Math.min(wait, 2 ** 31 - 1));
  };
  plan();
  return () => clearTimeout(timer);
}

async function mint(name: string): Promise<string> {
  let r: Response;
  try {
    r = await fetch(`token?name=${encodeURIComponent(name)}`, { cache: "no-store" });
  } catch {
    throw new Error("The server cannot be reached. Check the connection and try again.");
  }
  if (r.status === 403) throw new SignedOut("This server has its own key, so it does not make tokens for a name: development tokens are off. Paste a token instead.");
  if (r.status === 400) throw new SignedOut("Pick a name of 1 to 64 characters, with at least one letter or digit.");
  const body = (await r.json().catch(() => ({}))) as { token?: string };
  if (!r.ok || !body.token) throw new Error("The server could not sign you in. Try again in a moment.");
  return body.token;
}

/** The token's claims, read (not verified: the server does that). */
function claims(token: string): Claims {
  try {
    const b64 = token.split(".")[1]!.replace(/-/g, "+").replace(/_/g, "/");
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) as Claims; // names may be any UTF-8
  } catch {
    return {};
  }
}

/** Milliseconds until the token expires (a long time for a token without exp). */
function expiresIn(token: string): number {
  const exp = claims(token).exp;
  return typeof exp === "number" ? exp * 1000 - Date.now() : Number.MAX_SAFE_INTEGER;
}
