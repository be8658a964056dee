import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { cgroupProcs, killCgroup } from "../../src/cgroup/cgroup-kill.js";
import { isAlive } from "../../src/pod/pod.js";

/** A directory standing in for a cgroup: its `cgroup.procs` is a plain file the test writes. */
function fakeCgroup(t: TestContext, procs: number[]): string {
  const dir = mkdtempSync(join(tmpdir(), "cgroup-kill-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "cgroup.procs"), procs.map((p) => `${p}\n`).join(""));
  return dir;
}

describe("killCgroup", () => {
  it("SIGKILLs every listed process and reports the cgroup empty once it is", async (t) => {
    const children = [spawn("sleep", ["1000"]), spawn("sleep", ["1000"])];
    t.after(() => children.forEach((c) => c.kill("SIGKILL")));
    const dir = fakeCgroup(t, children.map((c) => c.pid!));
    // The kernel drops a dead member from cgroup.procs; the fake does it on exit.
    let left = children.length;
    const signals: (string | null)[] = [];
    for (const c of children) {
      c.on("exit", (_code, sig) => {
        signals.push(sig);
        if (--left === 0) writeFileSync(join(dir, "cgroup.procs"), "");
      });
    }
    assert.equal(await killCgroup(dir, 5000), true);
    assert.deepEqual(signals, ["SIGKILL", "SIGKILL"]);
    assert.deepEqual(cgroupProcs(dir), []);
  });

  it("says so when members are still listed after its time", async (t) => {
    const child = spawn("sleep", ["1000"]);
    t.after(() => child.kill("SIGKILL"));
    // The fake never drops the member: the cgroup stays non-empty (a member stuck in the kernel, say).
    const dir = fakeCgroup(t, [child.pid!]);
    assert.equal(await killCgroup(dir, 100), false);
    for (let i = 0; i < 50 && isAlive(child.pid!) && child.exitCode === null && child.signalCode === null; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(child.signalCode, "SIGKILL");
  });

  it("treats no cgroup (none recorded, or removed) as empty", async (t) => {
    assert.equal(await killCgroup(""), true);
    const dir = mkdtempSync(join(tmpdir(), "cgroup-kill-"));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    assert.equal(await killCgroup(join(dir, "gone")), true);
    assert.deepEqual(cgroupProcs(join(dir, "gone")), []);
  });
});
