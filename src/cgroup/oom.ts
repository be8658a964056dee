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
  const file = oomCounterFile(dir);
  return file === undefined ? undefined : oomKillsIn(file);
}

/**
 * The file of a memory cgroup that counts its OOM kills (v2 `memory.events`, v1
 * `memory.oom_control`), found once so that a poll reads just that one (a miss costs a thrown
 * ENOENT); undefined when the dir is gone or the kernel does not count them.
 */
export function oomCounterFile(dir: string): string | undefined {
  if (!dir) return undefined;
  for (const f of ["memory.events", "memory.oom_control"]) {
    const file = join(dir, f);
    if (oomKillsIn(file) !== undefined) return file;
  }
  return undefined;
}

/** `oom_kill` of a file found by {@link oomCounterFile}; undefined once it is gone. */
export function oomKillsIn(file: string): number | undefined {
  try {
    const m = /^oom_kill (\d+)$/m.exec(readFileSync(file, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // gone, or the other version's file
  }
}

/** Whether the kernel OOM-killed something in this cgroup (v1 memory.oom_control, v2 memory.events). */
export function wasOomKilled(dir: string): boolean {
  return (oomKillCount(dir) ?? 0) > 0;
}
