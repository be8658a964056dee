import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import type { CgroupStats } from "../task/task-backend.js";

/** Where cgroup hierarchies are mounted. */
export const CGROUP_ROOT = "/sys/fs/cgroup";

/** One line of /proc/<pid>/cgroup: hierarchy id, controllers, path. */
export interface CgroupMembership {
  hierarchy: number;
  controllers: string[];
  path: string;
}

/** Parses /proc/<pid>/cgroup text. */
export function parseProcCgroup(text: string): CgroupMembership[] {
  return text
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => {
      const a = l.indexOf(":");
      const b = l.indexOf(":", a + 1);
      return { hierarchy: Number(l.slice(0, a)), controllers: l.slice(a + 1, b).split(",").filter(Boolean), path: l.slice(b + 1) };
    });
}

/** True when the host runs cgroup v2 only (no v1 controllers mounted). */
export function isUnifiedOnly(root = CGROUP_ROOT): boolean {
  try {
    readFileSync(join(root, "cgroup.controllers"));
    return true;
  } catch {
    return false;
  }
}

const readText = (p: string): string | undefined => {
  try {
    return readFileSync(p, "utf8").trim();
  } catch {
    return undefined;
  }
};
const readBig = (p: string): bigint => {
  const t = readText(p);
  return t === undefined || t === "max" || !/^\d+$/.test(t) ? 0n : BigInt(t);
};
const keyed = (text: string | undefined): Map<string, bigint> =>
  new Map(
    (text ?? "")
      .split("\n")
      .map((l) => l.trim().split(/\s+/))
      .filter((p) => p.length === 2 && /^\d+$/.test(p[1]!))
      .map((p) => [p[0]!, BigInt(p[1]!)]),
  );

/**
 * Reads cpu, memory and pids numbers of the cgroup(s) `pid` belongs to, on v1,
 * v2 or the hybrid layout (v1 controllers, v2 mounted at /unified). NotFound
 * when the process is gone.
 */
export function cgroupStatsOfPid(pid: number, root = CGROUP_ROOT): CgroupStats {
  const text = readText(`/proc/${pid}/cgroup`);
  if (text === undefined) throw new RuntimeError(Code.NotFound, `process ${pid} not found: no cgroup`);
  return cgroupStats(parseProcCgroup(text), root);
}

/** Reads numbers for a parsed membership (exposed for tests with a fake root). */
export function cgroupStats(members: CgroupMembership[], root = CGROUP_ROOT): CgroupStats {
  if (isUnifiedOnly(root)) {
    const path = members.find((m) => m.hierarchy === 0)?.path;
    if (path === undefined) throw new RuntimeError(Code.NotFound, "no cgroup v2 membership");
    const dir = join(root, path);
    const cpu = keyed(readText(join(dir, "cpu.stat")));
    return {
      version: 2,
      cpuUsageNs: (cpu.get("usage_usec") ?? 0n) * 1000n,
      cpuUserNs: (cpu.get("user_usec") ?? 0n) * 1000n,
      cpuSystemNs: (cpu.get("system_usec") ?? 0n) * 1000n,
      memoryUsageBytes: readBig(join(dir, "memory.current")),
      memoryLimitBytes: readBig(join(dir, "memory.max")),
      pidsCurrent: readBig(join(dir, "pids.current")),
      pidsLimit: readBig(join(dir, "pids.max")),
    };
  }
  const dirOf = (controller: string, mountName = controller): string | undefined => {
    const m = members.find((x) => x.controllers.includes(controller));
    return m ? join(root, mountName, m.path) : undefined;
  };
  const cpuacct = dirOf("cpuacct");
  const memory = dirOf("memory");
  const pids = dirOf("pids");
  const ticks = keyed(cpuacct && readText(join(cpuacct, "cpuacct.stat")));
  // cpuacct.stat is in USER_HZ (100 per second on Linux).
  const tickNs = 10_000_000n;
  return {
    version: 1,
    cpuUsageNs: cpuacct ? readBig(join(cpuacct, "cpuacct.usage")) : 0n,
    cpuUserNs: (ticks.get("user") ?? 0n) * tickNs,
    cpuSystemNs: (ticks.get("system") ?? 0n) * tickNs,
    memoryUsageBytes: memory ? readBig(join(memory, "memory.usage_in_bytes")) : 0n,
    memoryLimitBytes: memory ? readBig(join(memory, "memory.limit_in_bytes")) : 0n,
    pidsCurrent: pids ? readBig(join(pids, "pids.current")) : 0n,
    pidsLimit: pids ? readBig(join(pids, "pids.max")) : 0n,
  };
}
