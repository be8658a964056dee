import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { pino } from "pino";
import { SANDBOX_OOM_MATCH_MS, SANDBOX_OOM_POLL_MS, SandboxOomTracker } from "../../../src/sandboxers/gvisor/sandbox-oom.js";
import { ManualClock } from "../../../testing/manual-clock.js";

/** A v1 memory cgroup dir whose oom_kill counter the test sets. */
function fakeCgroup(t: { after(fn: () => void): void }): { dir: string; kills(n: number): void } {
  const dir = mkdtempSync("/tmp/gv-oom-");
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kills = (n: number) => writeFileSync(join(dir, "memory.oom_control"), `oom_kill_disable 0\nunder_oom 0\noom_kill ${n}\n`);
  kills(2); // kills from before the watch are not counted
  return { dir, kills };
}

describe("SandboxOomTracker", () => {
  it("gives a kill in the pod's cgroup to the next container that fails, once; a clean exit takes none", (t) => {
    const clock = new ManualClock();
    const cg = fakeCgroup(t);
    const oom = new SandboxOomTracker(pino({ level: "silent" }), clock);
    t.after(() => oom.close());
    oom.watchPod("p1", cg.dir);
    assert.equal(oom.claim("p1", "a", 1), 0, "no kill yet");
    cg.kills(3);
    clock.advance(SANDBOX_OOM_POLL_MS);
    assert.equal(oom.claim("p1", "a", 0), 0, "a clean exit is not an OOM");
    assert.equal(oom.claim("p1", "b", 1), 1, "the failed end takes the kill");
    assert.equal(oom.claim("p1", "c", 1), 0, "only once");
  });

  it("sees a kill not polled yet at the exit; a kill older than the match window goes to nobody", (t) => {
    const clock = new ManualClock();
    const cg = fakeCgroup(t);
    const oom = new SandboxOomTracker(pino({ level: "silent" }), clock);
    t.after(() => oom.close());
    oom.watchPod("p1", cg.dir);
    cg.kills(4);
    assert.equal(oom.claim("p1", "a", 1), 2, "read at the exit itself");
    cg.kills(5);
    clock.advance(SANDBOX_OOM_POLL_MS);
    clock.advance(SANDBOX_OOM_MATCH_MS + 1);
    assert.equal(oom.claim("p1", "b", 1), 0, "too old to be this end's cause");
    oom.unwatchPod("p1");
    cg.kills(9);
    assert.equal(oom.claim("p1", "c", 1), 0, "an unwatched pod has none");
  });

  it("gives the sandbox's own end the recent kills (read at the end itself), then stops watching the pod", (t) => {
    const clock = new ManualClock();
    const cg = fakeCgroup(t);
    const oom = new SandboxOomTracker(pino({ level: "silent" }), clock);
    t.after(() => oom.close());
    oom.watchPod("p1", cg.dir);
    cg.kills(3);
    assert.equal(oom.sandboxEnded("p1"), 1, "the kill not polled yet is the sandbox's");
    cg.kills(4);
    clock.advance(SANDBOX_OOM_POLL_MS);
    assert.equal(oom.claim("p1", "a", 1), 0, "the pod is no longer watched");
    oom.watchPod("p2", cg.dir);
    cg.kills(5);
    clock.advance(SANDBOX_OOM_POLL_MS);
    clock.advance(SANDBOX_OOM_MATCH_MS + 1);
    assert.equal(oom.sandboxEnded("p2"), 0, "a kill older than the window is not the sandbox's cause");
    assert.equal(oom.sandboxEnded("p3"), 0, "an unknown pod has none");
  });
});
