import assert from "node:assert/strict";
import { mkdirSync, rmdirSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { createPodCgroup, mountedHierarchies, removePodCgroup, type CgroupHierarchy } from "../src/cgroup/pod-cgroup.js";

/** A cgroup made for one test in every mounted hierarchy, removed after it. */
export interface TestCgroup {
  /** Its path below each hierarchy's root, without the leading slash. */
  readonly path: string;
  /** Its dir in each hierarchy. */
  readonly dirs: string[];
  /** The cgroup v2 hierarchy, when one is mounted. */
  readonly cgroup2: CgroupHierarchy | undefined;
  /** Dirs made below it, removed (last first) before it. */
  readonly below: string[];
}

/** A fresh cgroup `<prefix>-<pid>-<random>` in every hierarchy; undefined when none is mounted. */
export function testCgroup(t: TestContext, prefix: string): TestCgroup | undefined {
  const hierarchies = mountedHierarchies();
  if (hierarchies.length === 0) return undefined;
  const path = `${prefix}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const dirs = createPodCgroup(path, hierarchies);
  const below: string[] = [];
  t.after(async () => {
    for (const d of below.reverse()) rmdirSync(d);
    assert.ok(await removePodCgroup(path, hierarchies), `test cgroup ${path} removed`);
  });
  return { path, dirs, cgroup2: hierarchies.find((h) => h.version === 2), below };
}

/**
 * A cgroup v2 dir below `cg` that takes no process: a sibling made threaded leaves it "domain
 * invalid" (a write to its cgroup.procs, or a clone into it, fails with EOPNOTSUPP).
 */
export function refusingCgroup2Dir(cg: TestCgroup & { cgroup2: CgroupHierarchy }): string {
  const threaded = join(cg.cgroup2.mount, cg.path, "threaded");
  const invalid = join(cg.cgroup2.mount, cg.path, "invalid");
  for (const d of [threaded, invalid]) {
    mkdirSync(d);
    cg.below.push(d);
  }
  writeFileSync(join(threaded, "cgroup.type"), "threaded");
  return invalid;
}
