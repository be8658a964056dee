import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import { pollOrFail, pollUntil } from "../../src/time/backoff.js";
import { ManualClock } from "../../testing/manual-clock.js";

describe("clock and bounded backoff (manual clock)", () => {
  it("a sleep ends when the clock reaches it, not before; a timeout signal fires with DeadlineExceeded", async () => {
    const clock = new ManualClock();
    let woke = false;
    const slept = clock.sleep(100).then(() => (woke = true));
    const deadline = clock.timeout(100);
    clock.advance(99);
    await Promise.resolve();
    assert.equal(woke, false);
    assert.equal(deadline.aborted, false);
    clock.advance(1);
    await slept;
    assert.equal(deadline.aborted, true);
    assert.equal((deadline.reason as RuntimeError).code, Code.DeadlineExceeded);
  });

  it("a sleep whose signal fires ends at once with the signal's reason and leaves no timer", async () => {
    const clock = new ManualClock();
    const caller = new AbortController();
    const slept = clock.sleep(60_000, caller.signal);
    caller.abort(new RuntimeError(Code.Canceled, "context canceled"));
    await assert.rejects(slept, { code: Code.Canceled });
    assert.equal(clock.timers, 0);
  });

  it("pollUntil doubles its pause up to the max and gives up (false) at the timeout", async () => {
    const clock = new ManualClock();
    const checks: number[] = [];
    const start = clock.now();
    const polled = pollUntil(() => (checks.push(clock.now() - start), false), { timeoutMs: 100, minMs: 5, maxMs: 40, clock });
    assert.equal(await clock.drive(polled), false);
    assert.deepEqual(checks, [0, 5, 15, 35, 75, 100]);
  });

  it("pollUntil is true as soon as the condition holds; pollOrFail says what did not happen in time", async () => {
    const clock = new ManualClock();
    let n = 0;
    assert.equal(await pollUntil(() => ++n === 1, { timeoutMs: 10, clock }), true);
    const failing = pollOrFail(() => false, "the cgroup did not empty", { timeoutMs: 10, clock });
    await assert.rejects(clock.drive(failing), { code: Code.DeadlineExceeded, message: /the cgroup did not empty within 10 ms/ });
  });
});
