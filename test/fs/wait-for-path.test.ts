import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import { waitForPath } from "../../src/fs/wait-for-path.js";
import { ManualClock } from "../../testing/manual-clock.js";

describe("waitForPath (inotify, no polling)", () => {
  const tmp = (t: { after(fn: () => void): void }) => {
    const dir = mkdtempSync("/tmp/wait-path-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };

  it("resolves when the path is made, and when it is renamed into place", async (t) => {
    const dir = tmp(t);
    const clock = new ManualClock(); // never advanced: only the file's arrival can end these waits
    const made = waitForPath(join(dir, "sock"), { timeoutMs: 1000, clock });
    const moved = waitForPath(join(dir, "ipid"), { timeoutMs: 1000, clock });
    writeFileSync(join(dir, "sock"), "");
    writeFileSync(join(dir, "ipid.new"), "42");
    renameSync(join(dir, "ipid.new"), join(dir, "ipid"));
    await Promise.all([made, moved]);
    assert.equal(clock.timers, 0);
  });

  it("resolves at once for a path already there", async (t) => {
    const dir = tmp(t);
    writeFileSync(join(dir, "x"), "");
    await waitForPath(join(dir, "x"), { timeoutMs: 0 });
  });

  it("fails with DeadlineExceeded when the clock passes the timeout, and with the signal's reason when it fires", async (t) => {
    const dir = tmp(t);
    const clock = new ManualClock();
    const late = waitForPath(join(dir, "never"), { timeoutMs: 500, clock });
    clock.advance(500);
    await assert.rejects(late, { code: Code.DeadlineExceeded, message: /did not appear within 500 ms/ });
    const writerGone = new AbortController();
    const hopeless = waitForPath(join(dir, "never"), { timeoutMs: 500, clock, signal: writerGone.signal });
    writerGone.abort(new RuntimeError(Code.Internal, "the writer exited"));
    await assert.rejects(hopeless, { code: Code.Internal, message: /the writer exited/ });
    assert.equal(clock.timers, 0);
  });
});
