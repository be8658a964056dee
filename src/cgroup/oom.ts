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

/** Whether the kernel OOM-killed something in this cgroup (v1 memory.oom_control, v2 memory.events). */
export function wasOomKilled(dir: string): boolean {
  if (!dir) return false;
  for (const f of ["memory.oom_control", "memory.events"]) {
    try {
      const m = /oom_kill (\d+)/.exec(readFileSync(join(dir, f), "utf8"));
      if (m && Number(m[1]) > 0) return true;
    } catch {
      /* gone or not this version */
    }
  }
  return false;
}
