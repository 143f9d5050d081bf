// What the chaos tests (docs/reliability.md, issue 13) hold honest clients' delivery to while
// something fails: their delivery p95 (send time to receive time, stock socket.io-client on
// loopback) stays within 2x of the p95 before the failure, or SLACK_MS more: a p95 of a few
// milliseconds on a shared 2-core machine doubles from scheduling alone. And every message
// that was acknowledged reaches each of them exactly once.
import assert from "node:assert/strict";

export const SLACK_MS = 20;

/** Below this many deliveries in a phase a p95 says nothing: the test fails instead. */
export const MIN_SAMPLES = 20;

/** The 95th percentile of `values` (ms). */
export function p95(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))];
}

/**
 * Asserts the p95 of the latencies `during` a failure against those `before` it (2x, or
 * SLACK_MS more), with enough samples in each; reports both as a test diagnostic.
 * Returns [p95 before, p95 during].
 */
export function assertP95Kept(t, what, before, during, { phases = ["before", "during"], min = MIN_SAMPLES } = {}) {
  const [p0, p1] = [p95(before), p95(during)];
  t.diagnostic(`${what}: delivery p95 ${p0} ms ${phases[0]} (${before.length}), ${p1} ms ${phases[1]} (${during.length})`);
  assert.ok(before.length >= min && during.length >= min,
    `${what}: too few deliveries to measure a p95 (${before.length} ${phases[0]}, ${during.length} ${phases[1]}; at least ${min} each)`);
  assert.ok(p1 <= Math.max(2 * p0, p0 + SLACK_MS),
    `${what}: delivery p95 ${p1} ms ${phases[1]} against ${p0} ms ${phases[0]} (at most 2x, or +${SLACK_MS} ms)`);
  return [p0, p1];
}

/**
 * Asserts that `got` (the message ids one client received) holds every id of `acked` exactly
 * once: none lost, none twice.
 */
export function assertEachOnce(who, got, acked) {
  const counts = new Map();
  for (const id of got) counts.set(id, (counts.get(id) || 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([id, n]) => `${id} x${n}`);
  assert.deepStrictEqual(twice, [], `${who} got messages more than once`);
  const lost = [...acked].filter((id) => !counts.has(id));
  assert.deepStrictEqual(lost, [], `${who} never got ${lost.length} of ${[...acked].length} acknowledged messages`);
}
