import { readFileSync, writeFileSync } from "node:fs";
import { pollUntil } from "../time/backoff.js";
import { join } from "node:path";

/** Pids listed in a cgroup's `cgroup.procs` (none when the cgroup is gone). */
export function cgroupProcs(dir: string): number[] {
  try {
    return readFileSync(join(dir, "cgroup.procs"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * SIGKILLs every process in the cgroup `dir` (a v1 controller's dir or a v2
 * group) until it is empty or `ms` passed; true when it is empty. A v2 group
 * with `cgroup.kill` (Linux 5.14) is killed by the kernel at once, forks
 * included; otherwise `cgroup.procs` is read and killed again until nothing is
 * left, so a process forked meanwhile is caught on the next round. Members
 * are the cgroup's own, whatever pid namespace they are in.
 */
export async function killCgroup(dir: string, ms = 3000): Promise<boolean> {
  if (!dir) return true;
  try {
    writeFileSync(join(dir, "cgroup.kill"), "1");
  } catch {
    /* v1, an older kernel, or gone: kill by pid below */
  }
  // Each round kills what is listed and looks again after a doubling pause: killed
  // tasks leave cgroup.procs only once the kernel tore them down, and v1 has no event for it.
  return pollUntil(() => {
    const pids = cgroupProcs(dir);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    return pids.length === 0;
  }, { timeoutMs: ms, minMs: 5, maxMs: 50 });
}
