import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CGROUP_ROOT, parseProcCgroup } from "./cgroup-stats.js";

/** cgroup dir holding the memory numbers of `pid` (v1 memory controller, or the v2 group). */
export function memoryCgroupOf(pid: number): string {
  try {
    const m = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, "utf8"));
    const v1 = m.find((x) => x.controllers.includes("memory"));
    if (v1) return join(CGROUP_ROOT, "memory", v1.path);
    const v2 = m.find((x) => x.hierarchy === 0);
    return v2 ? join(CGROUP_ROOT, v2.path) : "";
  } catch {
    return "";
  }
}

/**
 * The kernel's count of OOM kills in a memory cgroup: `oom_kill` of v1
 * `memory.oom_control` or of v2 `memory.events`; undefined when the dir is gone
 * or the kernel does not count them.
 */
export function oomKillCount(dir: string): number | undefined {
  if (!dir) return undefined;
  for (const f of ["memory.events", "memory.oom_control"]) {
    try {
      const m = /^oom_kill (\d+)$/m.exec(readFileSync(join(dir, f), "utf8"));
      if (m) return Number(m[1]);
    } catch {
      /* gone, or the other version's file */
    }
  }
  return undefined;
}

/** Whether the kernel OOM-killed something in this cgroup (v1 memory.oom_control, v2 memory.events). */
export function wasOomKilled(dir: string): boolean {
  return (oomKillCount(dir) ?? 0) > 0;
}
