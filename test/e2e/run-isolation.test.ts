import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseProcCgroup } from "../../src/cgroup/cgroup-stats.js";
import { createPodCgroup, mountedHierarchies, removePodCgroup } from "../../src/cgroup/pod-cgroup.js";
import { assertIsolated, isolatedTmpfsDirs } from "../../testing/isolation.js";
import { censusDiff, takeCensus } from "../../testing/leak-census.js";
import { RUNNER_LEAF } from "../../testing/run-cgroup.js";

assertIsolated();

describe("run isolation: what the leak census counts belongs to this run only", () => {
  it("every cgroup hierarchy is rooted at the run's own cgroup, the runner in its leaf", () => {
    const hierarchies = mountedHierarchies();
    assert.ok(hierarchies.length > 0, "cgroup hierarchies mounted");
    // In the host's cgroup namespace these paths would be the host's (e.g. /user.slice/...).
    for (const m of parseProcCgroup(readFileSync("/proc/self/cgroup", "utf8"))) assert.equal(m.path, `/${RUNNER_LEAF}`, `hierarchy ${m.controllers.join(",") || "v2"}`);
    for (const h of hierarchies) {
      const dirs = readdirSync(h.mount, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
      assert.ok(dirs.includes(RUNNER_LEAF), `${h.mount} holds the runner leaf`);
    }
  });

  it("a pod cgroup left behind (and its process) fails the census; removed, the census is clean again", async (t) => {
    const before = takeCensus();
    // As kuasard makes a pod's under a cgroup_parent (and runc one without, at `/<id>`).
    const path = `/kubepods/leak-${randomBytes(4).toString("hex")}`;
    const dirs = createPodCgroup(path);
    const pod = spawn("sleep", ["600"], { stdio: "ignore" });
    await once(pod, "spawn"); // exec'd: its comm is sleep from now on
    t.after(async () => {
      pod.kill("SIGKILL");
      await removePodCgroup(path);
      await removePodCgroup("/kubepods");
    });
    for (const d of dirs) writeFileSync(join(d, "cgroup.procs"), String(pod.pid));
    const leaked = censusDiff(before, takeCensus());
    assert.ok(leaked.cgroups !== undefined, `the census sees the leaked cgroup: ${JSON.stringify(leaked)}`);
    for (const d of dirs) assert.ok(leaked.cgroups.includes(d), `${d} counted as leaked`);
    assert.deepEqual(leaked.processes, ["sleep"], "its process counted as leaked");

    pod.kill("SIGKILL");
    await once(pod, "exit");
    assert.equal(await removePodCgroup(path), true);
    assert.equal(await removePodCgroup("/kubepods"), true);
    assert.deepEqual(censusDiff(before, takeCensus()), {});
  });

  it("netns files, state dirs and mounts the census counts are private to the run", async () => {
    const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter(Boolean);
    for (const dir of await isolatedTmpfsDirs()) {
      assert.ok(mounts.some((l) => l.split(" ")[4] === dir && l.includes(" - tmpfs ")), `${dir} is a tmpfs of this run (not the host's)`);
    }
  });
});
