import type { CgroupStats } from "../../task/task-backend.js";

/**
 * A container's cgroup v2 numbers read inside the guest (crun has no `runc events --stats`):
 * a shell in the guest finds the cgroup of the container's init, `pid` in the guest, and
 * prints `key value` lines; {@link parseGuestCgroupDump} maps them. Exits 3 when the process
 * (and so its cgroup) is gone.
 */
export function guestCgroupStatsArgv(pid: number): string[] {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new Error(`guest pid ${pid} is not a pid`);
  const script = [
    `p=$(sed -n 's/^0:://p' /proc/${pid}/cgroup 2>/dev/null) && [ -n "$p" ] && cd "/sys/fs/cgroup$p" || exit 3`,
    "cat cpu.stat",
    "for f in memory.current memory.max pids.current pids.max; do echo \"$f $(cat $f 2>/dev/null)\"; done",
  ].join("\n");
  return ["/bin/sh", "-c", script];
}

/** Exit status of {@link guestCgroupStatsArgv} when the process is gone. */
export const GUEST_CGROUP_GONE = 3;

/** Maps the dump of {@link guestCgroupStatsArgv}; a missing or `max` value is 0. */
export function parseGuestCgroupDump(text: string): CgroupStats {
  const kv = new Map<string, bigint>();
  for (const line of text.split("\n")) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v && /^\d+$/.test(v)) kv.set(k, BigInt(v));
  }
  const n = (k: string) => kv.get(k) ?? 0n;
  return {
    version: 2,
    cpuUsageNs: n("usage_usec") * 1000n,
    cpuUserNs: n("user_usec") * 1000n,
    cpuSystemNs: n("system_usec") * 1000n,
    memoryUsageBytes: n("memory.current"),
    memoryLimitBytes: n("memory.max"),
    pidsCurrent: n("pids.current"),
    pidsLimit: n("pids.max"),
  };
}
