import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { mountedHierarchies, type CgroupHierarchy } from "../src/cgroup/pod-cgroup.js";
import { parseProcCgroup } from "../src/cgroup/cgroup-stats.js";

/**
 * The leaf (under the run's cgroup) the runner and everything it starts live in. The run's
 * cgroup itself stays free of processes, so pods' cgroups can sit beside the leaf even on v2
 * (no processes in a cgroup whose children have controllers enabled).
 */
export const RUNNER_LEAF = "runner";

/**
 * One test run's cgroup: a directory `kuasar-run-<pid>-<n>` under the runner's own cgroup in
 * every mounted hierarchy (each v1 controller and the cgroup2 mount). The run enters it before
 * `unshare --cgroup`, so inside, every hierarchy's root is this directory: what runc, runsc and
 * kuasard make there (pods with or without cgroup_parent) and what the leak census walks belong
 * to this run only, invisible to a run beside it.
 */
export interface RunCgroup {
  /** Host paths of the run's directory, one per hierarchy. */
  dirs: string[];
  /** Their `cgroup.procs` files: writing a pid there moves that process into the run. */
  procsFiles: string[];
}

/** Makes the run's cgroup (outside the namespaces). Throws, saying which hierarchy, if it cannot. */
export function createRunCgroup(name = `kuasar-run-${process.pid}-${Date.now().toString(36)}`): RunCgroup {
  const own = parseProcCgroup(readFileSync("/proc/self/cgroup", "utf8"));
  const dirs: string[] = [];
  try {
    for (const h of mountedHierarchies()) {
      const member = own.find((m) => sameHierarchy(h, m.controllers));
      if (member === undefined) continue; // mounted but not ours (e.g. a hierarchy of another namespace)
      const dir = join(h.mount, member.path, name);
      mkdirSync(dir);
      dirs.push(dir);
      if (h.controllers.includes("cpuset")) inheritCpuset(dir);
    }
  } catch (err) {
    removeRunCgroupNow(dirs);
    throw new Error(`test: cannot make the run's cgroup ${name}: ${(err as Error).message}`, { cause: err });
  }
  return { dirs, procsFiles: dirs.map((d) => join(d, "cgroup.procs")) };
}

/**
 * Inside the namespaces (pid 1, private mounts, own cgroup namespace): mounts every cgroup
 * hierarchy afresh, so its root is the run's cgroup, and moves pid 1 into {@link RUNNER_LEAF}.
 */
export function enterRunCgroup(): void {
  for (const h of inheritedHierarchies()) {
    const opts = h.version === 2 ? [] : ["-o", (h.controllers.every((c) => c.startsWith("name=")) ? ["none", ...h.controllers] : h.controllers).join(",")];
    // The same hierarchy cannot be mounted on top of itself (EBUSY): take the inherited one away first.
    execFileSync("umount", [h.mount]);
    execFileSync("mount", ["-t", h.version === 2 ? "cgroup2" : "cgroup", ...opts, h.version === 2 ? "cgroup2" : "cgroup", h.mount]);
    const leaf = join(h.mount, RUNNER_LEAF);
    mkdirSync(leaf);
    if (h.controllers.includes("cpuset")) inheritCpuset(leaf);
    writeFileSync(join(leaf, "cgroup.procs"), String(process.pid));
  }
}

/**
 * The hierarchies mounted before the cgroup namespace was made: their mountinfo root is now
 * relative to the namespace's root (`/../..`), which {@link mountedHierarchies} skips.
 */
function inheritedHierarchies(): CgroupHierarchy[] {
  const lines = readFileSync("/proc/self/mountinfo", "utf8").split("\n");
  return mountedHierarchies(lines.map((l) => l.split(" ").map((f, i) => (i === 3 ? "/" : f)).join(" ")).join("\n"));
}

/**
 * Removes the run's cgroup and whatever is left below it (pods' cgroups a failed test left),
 * once the processes in it are gone: the kernel kills them when the run's pid 1 exits, but
 * they leave their cgroups a moment later. Returns the directories it could not remove.
 */
export async function removeRunCgroup(run: RunCgroup, timeoutMs = 10_000): Promise<string[]> {
  const until = Date.now() + timeoutMs;
  while (run.dirs.some((d) => populated(d)) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  return removeRunCgroupNow(run.dirs);
}

function removeRunCgroupNow(dirs: readonly string[]): string[] {
  const left: string[] = [];
  const rm = (dir: string): void => {
    for (const e of list(dir)) if (e.isDirectory()) rm(join(dir, e.name));
    try {
      rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") left.push(dir);
    }
  };
  for (const d of dirs) rm(d);
  return left;
}

/** Whether any process is in `dir` or below it. */
function populated(dir: string): boolean {
  if (!existsSync(dir)) return false;
  if (readFileSync(join(dir, "cgroup.procs"), "utf8").trim() !== "") return true;
  return list(dir).some((e) => e.isDirectory() && populated(join(dir, e.name)));
}

function list(dir: string) {
  try {
    return readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

/** A new v1 cpuset cgroup has no CPUs and no memory nodes (nothing can join it): take the parent's. */
function inheritCpuset(dir: string): void {
  for (const f of ["cpuset.cpus", "cpuset.mems"]) writeFileSync(join(dir, f), readFileSync(join(dir, "..", f), "utf8").trim() || "\n");
}

function sameHierarchy(h: CgroupHierarchy, controllers: readonly string[]): boolean {
  if (h.version === 2) return controllers.length === 0;
  return controllers.length === h.controllers.length && h.controllers.every((c) => controllers.includes(c));
}
