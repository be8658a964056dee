import type { CgroupStats } from "../task/task-backend.js";

/** What runc and runsc print for `events --stats` (one JSON object a line), the part we report. */
interface StatsEvent {
  data?: {
    cpu?: { usage?: { total?: number; user?: number; kernel?: number } };
    memory?: { usage?: { usage?: number; limit?: number } };
    pids?: { current?: number; limit?: number };
  };
}

/** Maps the last `events --stats` line of an OCI runtime to cgroup-style stats in cgroup `version`. */
export function statsFromEventsOutput(text: string, version: 1 | 2): CgroupStats {
  const line = text.trim().split("\n").filter(Boolean).at(-1) ?? "{}";
  const d = (JSON.parse(line) as StatsEvent).data ?? {};
  const big = (n: number | undefined) => BigInt(Math.max(0, Math.trunc(n ?? 0)));
  return {
    version,
    cpuUsageNs: big(d.cpu?.usage?.total),
    cpuUserNs: big(d.cpu?.usage?.user),
    cpuSystemNs: big(d.cpu?.usage?.kernel),
    memoryUsageBytes: big(d.memory?.usage?.usage),
    memoryLimitBytes: big(d.memory?.usage?.limit),
    pidsCurrent: big(d.pids?.current),
    pidsLimit: big(d.pids?.limit),
  };
}
