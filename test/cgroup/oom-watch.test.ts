import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { oomKillCount } from "../../src/cgroup/oom.js";
import { ManualClock } from "../../testing/manual-clock.js";
import { OomWatch } from "../../src/cgroup/oom-watch.js";

function fakeMemcg(t: TestContext, file: string, kills: number): { dir: string; set: (n: number) => void } {
  const dir = mkdtempSync(join(tmpdir(), "oom-watch-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const set = (n: number) =>
    writeFileSync(join(dir, file), file === "memory.events" ? `low 0\nhigh 0\nmax 3\noom ${n}\noom_kill ${n}\n` : `oom_kill_disable 0\nunder_oom 0\noom_kill ${n}\n`);
  set(kills);
  return { dir, set };
}

describe("OomWatch", () => {
  it("reads the kill counter of v1 memory.oom_control and v2 memory.events; none for a gone cgroup", (t) => {
    assert.equal(oomKillCount(fakeMemcg(t, "memory.oom_control", 4).dir), 4);
    assert.equal(oomKillCount(fakeMemcg(t, "memory.events", 2).dir), 2);
    assert.equal(oomKillCount("/nonexistent-cgroup"), undefined);
    assert.equal(oomKillCount(""), undefined);
  });

  it("reports kills past the baseline once each, on its timer and on demand, and none after unwatch", async (t) => {
    const seen: [string, number, number][] = [];
    const clock = new ManualClock();
    const w = new OomWatch(1000, (k, kills, total) => seen.push([k, kills, total]), clock);
    t.after(() => w.close());
    const a = fakeMemcg(t, "memory.oom_control", 1);
    const b = fakeMemcg(t, "memory.events", 0);
    w.watch("a", a.dir); // the kill before watching is not reported
    w.watch("b", b.dir, 0);
    a.set(3);
    clock.advance(999);
    assert.deepEqual(seen, [], "no poll before the interval is over");
    clock.advance(1);
    assert.deepEqual(seen, [["a", 2, 3]]);
    clock.advance(1000);
    assert.deepEqual(seen, [["a", 2, 3]], "a kill is reported once");
    b.set(1);
    assert.equal(w.poll("b"), true);
    assert.deepEqual(seen.at(-1), ["b", 1, 1]);
    assert.equal(w.poll("b"), true);
    assert.equal(seen.length, 2);
    w.unwatch("a");
    w.unwatch("b");
    assert.equal(clock.timers, 0, "the poll stops with nothing watched");
    a.set(9);
    assert.equal(w.poll("a"), false);
    assert.equal(seen.length, 2);
  });

  it("polls only the counter file found at watch time", (t) => {
    const seen: number[] = [];
    const clock = new ManualClock();
    const w = new OomWatch(1000, (_k, kills) => seen.push(kills), clock);
    t.after(() => w.close());
    const a = fakeMemcg(t, "memory.oom_control", 0);
    w.watch("a", a.dir);
    writeFileSync(join(a.dir, "memory.events"), "oom_kill 7\n"); // not this cgroup's version: never read
    clock.advance(1000);
    assert.deepEqual(seen, []);
    a.set(1);
    clock.advance(1000);
    assert.deepEqual(seen, [1]);
  });

  it("reports from a persisted count: kills while nobody watched are not lost", (t) => {
    const seen: number[] = [];
    const w = new OomWatch(1000, (_k, kills) => seen.push(kills));
    t.after(() => w.close());
    const a = fakeMemcg(t, "memory.events", 5);
    w.watch("a", a.dir, 3);
    w.poll("a");
    assert.deepEqual(seen, [2]);
  });
});
