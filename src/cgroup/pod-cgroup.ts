import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join, posix } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { unescapeMountPath } from "../fs/mountinfo.js";
import type { PodConfig, PodResources } from "../sandbox/sandboxer.js";
import { pollUntil } from "../time/backoff.js";
import { cgroupProcs, killCgroup } from "./cgroup-kill.js";

/**
 * The cgroup of a pod's own processes (its holder and pod init), named as
 * containerd names a pause container's under the CRI `cgroup_parent`:
 * `<parent>/<sandbox id>` with cgroupfs, and under the slice's path with a
 * systemd parent (`kubepods-burstable-pod1.slice`). Containers get theirs from
 * runc beside it. One dir per mounted hierarchy: every v1 controller (and
 * `name=systemd`) plus the v2 mount, so the v2-only and hybrid layouts both work.
 */

/** One mounted cgroup hierarchy. */
export interface CgroupHierarchy {
  /** Mount point, e.g. `/sys/fs/cgroup/memory` or `/sys/fs/cgroup`. */
  mount: string;
  version: 1 | 2;
  /** v1 controllers (and `name=...`) of the mount; empty for v2. */
  controllers: string[];
}

/** The cgroup hierarchies mounted here, from /proc/self/mountinfo (only mounts of a hierarchy's root). */
export function mountedHierarchies(mountinfo = readFileSync("/proc/self/mountinfo", "utf8")): CgroupHierarchy[] {
  const out: CgroupHierarchy[] = [];
  for (const line of mountinfo.split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-");
    if (sep < 0 || f[3] !== "/") continue;
    const fstype = f[sep + 1];
    const mount = unescapeMountPath(f[4] ?? "");
    if (fstype === "cgroup2") out.push({ mount, version: 2, controllers: [] });
    else if (fstype === "cgroup") {
      const known = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids", "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc"];
      const controllers = (f[sep + 3] ?? "").split(",").filter((o) => known.includes(o) || o.startsWith("name="));
      out.push({ mount, version: 1, controllers });
    }
  }
  return out;
}

/**
 * The pod cgroup's path (relative to every hierarchy's root) for CRI's
 * `cgroup_parent`; "" when there is none. A parent naming a systemd slice is
 * expanded as systemd lays slices out (`a-b-c.slice` under `a.slice/a-b.slice`).
 */
export function podCgroupPath(parent: string, sandboxId: string): string {
  if (!parent) return "";
  if (parent.endsWith(".slice") && !parent.includes("/")) return posix.join(sliceDir(parent), `kuasar-${sandboxId}`);
  const p = posix.normalize(`/${parent}`);
  if (parent.split("/").includes("..") || parent.includes("\0") || parent.includes(":")) {
    throw new RuntimeError(Code.InvalidArgument, `cgroup_parent ${JSON.stringify(parent)}: want an absolute cgroupfs path or a systemd slice name`);
  }
  return posix.join(p, sandboxId);
}

/** `kubepods-burstable-pod1.slice` → `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice`. */
export function sliceDir(slice: string): string {
  const name = slice.slice(0, -".slice".length);
  if (name === "" || name === "-") return "/";
  if (name.startsWith("-") || name.endsWith("-") || name.includes("--") || name.includes("/")) {
    throw new RuntimeError(Code.InvalidArgument, `cgroup_parent ${JSON.stringify(slice)}: not a valid systemd slice name`);
  }
  const parts = name.split("-");
  return "/" + parts.map((_p, i) => `${parts.slice(0, i + 1).join("-")}.slice`).join("/");
}

/** The pod cgroup's dir in every hierarchy. */
export function podCgroupDirs(path: string, hierarchies = mountedHierarchies()): string[] {
  return path ? hierarchies.map((h) => join(h.mount, path)) : [];
}

/** The part of a pod's record its cgroup is made from and recorded in. */
export interface PodCgroupRecord {
  id: string;
  pod: PodConfig | undefined;
  cgroupPath?: string;
}

/**
 * Makes the pod cgroup under CRI's cgroup_parent, its path recorded and saved
 * first (so whatever undoes this Start removes it), with the pod's limits as
 * `hostLimits` turns them into the cgroup's; the dirs to start in, [] without
 * a cgroup_parent.
 */
export function makeRecordedPodCgroup(r: PodCgroupRecord, save: () => void, hostLimits: (res: PodResources) => PodResources = (res) => res): string[] {
  const path = podCgroupPath(r.pod?.cgroupParent ?? "", r.id);
  if (!path) return [];
  r.cgroupPath = path;
  save();
  const dirs = createPodCgroup(path);
  const res = r.pod?.resources;
  if (res && (res.memoryLimitBytes > 0 || res.cpuQuota !== 0 || res.cpuPeriod > 0 || res.cpuShares > 0)) applyPodResources(path, hostLimits(res));
  return dirs;
}

/**
 * Makes the pod cgroup in every hierarchy (and the parents missing, as runc
 * does); a v1 cpuset dir gets its parent's cpus and mems, without which no
 * process may join it. Returns the dirs the holder joins. Undone on failure.
 */
export function createPodCgroup(path: string, hierarchies = mountedHierarchies()): string[] {
  const made: string[] = [];
  try {
    for (const h of hierarchies) {
      const dir = join(h.mount, path);
      let at = h.mount;
      for (const part of path.split("/").filter(Boolean)) {
        const parent = at;
        if (h.version === 2) enableControllers(parent);
        at = join(at, part);
        try {
          mkdirSync(at);
          if (at === dir) made.push(at);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
          continue;
        }
        if (h.controllers.includes("cpuset")) for (const f of ["cpuset.cpus", "cpuset.mems"]) writeFileSync(join(at, f), readFileSync(join(parent, f), "utf8").trim() || "\n");
      }
    }
  } catch (err) {
    for (const d of made) rmdirQuietly(d);
    throw RuntimeError.from(err, Code.FailedPrecondition);
  }
  return hierarchies.map((h) => join(h.mount, path));
}

/** v2 controllers a pod's limits use, delegated down the path as runc does for its containers. */
const V2_CONTROLLERS = ["cpu", "cpuset", "memory", "pids", "io"];

/**
 * Enables in a v2 dir's subtree the controllers it has (so its children can be
 * limited); a dir that cannot (processes in it, a threaded tree) is left as it is.
 */
function enableControllers(dir: string): void {
  try {
    const have = readFileSync(join(dir, "cgroup.controllers"), "utf8").split(/\s+/).filter((c) => V2_CONTROLLERS.includes(c));
    const on = readFileSync(join(dir, "cgroup.subtree_control"), "utf8").split(/\s+/);
    const missing = have.filter((c) => !on.includes(c));
    if (missing.length > 0) writeFileSync(join(dir, "cgroup.subtree_control"), missing.map((c) => `+${c}`).join(" "));
  } catch {
    /* not ours to change: limits then fail with a clear error when asked for */
  }
}

/** Kills whatever is left in the pod cgroup and removes its dirs (never the parent, which is kubelet's). True when all went. */
export async function removePodCgroup(path: string, hierarchies = mountedHierarchies()): Promise<boolean> {
  let all = true;
  for (const dir of podCgroupDirs(path, hierarchies)) {
    if (cgroupProcs(dir).length > 0) await killCgroup(dir);
    // rmdir is EBUSY until the kernel has torn the killed tasks down; nothing announces that.
    const gone = await pollUntil(() => rmdirQuietly(dir), { timeoutMs: 1000, minMs: 5, maxMs: 50 });
    if (!gone) all = false;
  }
  return all;
}

/** Removes an empty cgroup dir; false while it cannot (EBUSY: the kernel has not released the last exited member). */
function rmdirQuietly(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ENOENT";
  }
}

/**
 * Applies pod-level limits to the pod cgroup: memory, CPU quota/period and
 * shares (weight on v2); 0 leaves a limit as it is. The v2 dir is used only
 * where its controller is enabled, the v1 dirs otherwise.
 */
export function applyPodResources(path: string, r: PodResources, hierarchies = mountedHierarchies()): void {
  if (!path) throw new RuntimeError(Code.FailedPrecondition, "the pod has no cgroup (no cgroup_parent): resources cannot be applied");
  const v1 = (controller: string) => hierarchies.find((h) => h.version === 1 && h.controllers.includes(controller));
  const v2 = hierarchies.find((h) => h.version === 2);
  const v2Has = (controller: string): boolean => {
    if (!v2) return false;
    try {
      return readFileSync(join(v2.mount, path, "cgroup.controllers"), "utf8").split(/\s+/).includes(controller);
    } catch {
      return false;
    }
  };
  const write = (dir: string, file: string, value: string) => {
    try {
      writeFileSync(join(dir, file), value);
    } catch (err) {
      throw new RuntimeError(Code.FailedPrecondition, `pod cgroup ${path}: writing ${file}=${value}: ${(err as Error).message}`, { cause: err });
    }
  };
  const mem = v1("memory");
  if (r.memoryLimitBytes > 0) {
    if (mem) write(join(mem.mount, path), "memory.limit_in_bytes", String(r.memoryLimitBytes));
    else if (v2Has("memory")) write(join(v2!.mount, path), "memory.max", String(r.memoryLimitBytes));
    else throw new RuntimeError(Code.FailedPrecondition, `pod cgroup ${path}: no memory controller`);
  }
  const cpu = v1("cpu");
  if (r.cpuQuota !== 0 || r.cpuPeriod > 0 || r.cpuShares > 0) {
    if (cpu) {
      const dir = join(cpu.mount, path);
      if (r.cpuPeriod > 0) write(dir, "cpu.cfs_period_us", String(r.cpuPeriod));
      if (r.cpuQuota !== 0) write(dir, "cpu.cfs_quota_us", String(r.cpuQuota));
      if (r.cpuShares > 0) write(dir, "cpu.shares", String(r.cpuShares));
    } else if (v2Has("cpu")) {
      const dir = join(v2!.mount, path);
      if (r.cpuQuota !== 0 || r.cpuPeriod > 0) write(dir, "cpu.max", `${r.cpuQuota > 0 ? r.cpuQuota : "max"} ${r.cpuPeriod > 0 ? r.cpuPeriod : 100000}`);
      if (r.cpuShares > 0) write(dir, "cpu.weight", String(sharesToWeight(r.cpuShares)));
    } else throw new RuntimeError(Code.FailedPrecondition, `pod cgroup ${path}: no cpu controller`);
  }
}

/** CFS shares (2..262144) to a v2 weight (1..10000), as runc converts them. */
export function sharesToWeight(shares: number): number {
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

/** The pod cgroup's memory limit in bytes (v1 or v2), or undefined when unlimited or unknown. */
export function podMemoryLimit(path: string, hierarchies = mountedHierarchies()): number | undefined {
  const mem = hierarchies.find((h) => h.version === 1 && h.controllers.includes("memory"));
  const file = mem ? join(mem.mount, path, "memory.limit_in_bytes") : join(hierarchies.find((h) => h.version === 2)?.mount ?? "/", path, "memory.max");
  try {
    const t = readFileSync(file, "utf8").trim();
    return /^\d+$/.test(t) ? Number(t) : undefined;
  } catch {
    return undefined;
  }
}
