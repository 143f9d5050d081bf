// Exponential backoff with jitter, as socket.io-client's Manager computes it, for the retries
// the SDK makes itself (a refused CONNECT, a token that could not be fetched).

export interface BackoffOptions {
  /** First delay, ms (socket.io-client's reconnectionDelay). Default 500. */
  initialDelayMs?: number;
  /** Largest delay, ms (reconnectionDelayMax). Default 10,000. */
  maxDelayMs?: number;
  /** 0..1: each delay is moved at random by up to this share of itself (randomizationFactor). Default 0.5. */
  jitter?: number;
}

export const BACKOFF_DEFAULTS: Required<BackoffOptions> = { initialDelayMs: 500, maxDelayMs: 10_000, jitter: 0.5 };

/** The delay before retry number `attempt` (0 for the first). */
export function backoffDelay(attempt: number, o: Required<BackoffOptions>, random: () => number = Math.random): number {
  const base = Math.min(o.maxDelayMs, o.initialDelayMs * 2 ** Math.min(attempt, 30));
  const spread = base * o.jitter * (random() * 2 - 1);
  return Math.max(0, Math.min(o.maxDelayMs, Math.round(base + spread)));
}
