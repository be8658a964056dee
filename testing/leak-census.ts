import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { join } from "node:path";

/**
 * What a test counts to say "nothing leaked": processes, mounts, open fds of
 * resident daemons, directory entries under the state dirs, network namespaces
 * and cgroups. Take one census before a scenario and one after, then
 * {@link censusDiff} names whatever grew.
 *
 * Under `test/run.ts` every category is the run's own: processes of its pid namespace,
 * mounts of its mount namespace, /run/netns a tmpfs of its own, and cgroup hierarchies
 * mounted in its cgroup namespace, rooted at the run's cgroup (`run-cgroup.ts`). Runs beside
 * it on the machine are not counted. Outside the runner (plain `node --test`) the cgroup
 * roots are the machine's: pass `cgroupRoots: []` there.
 */
export interface Census {
  /** `pid comm` of every process in this pid namespace except the ones listed in `ignorePids`. */
  processes: string[];
  /** Mount points (from /proc/self/mountinfo). */
  mounts: string[];
  /** Per watched daemon pid: its open fd targets. */
  fds: Record<string, string[]>;
  /** Every path under the watched dirs (recursive, relative to each dir). */
  entries: string[];
  /** Files under /run/netns. */
  netns: string[];
  /** Cgroup directories under the watched cgroup roots (relative paths). */
  cgroups: string[];
}

/** What to count. */
export interface CensusScope {
  /** State dirs whose entries are counted (missing dirs count as empty). */
  dirs?: readonly string[];
  /** Daemons whose fds are counted (a dead pid counts as no fds). */
  fdPids?: readonly number[];
  /** Processes not counted (the test runner itself and its helpers). */
  ignorePids?: readonly number[];
  /** Cgroup roots to walk; default every mounted cgroup hierarchy's root (the run's cgroup under `test/run.ts`). */
  cgroupRoots?: readonly string[];
}

/** Counts everything in `scope` now. */
export function takeCensus(scope: CensusScope = {}): Census {
  const ignore = new Set([process.pid, ...(scope.ignorePids ?? [])]);
  return {
    processes: processes().filter((p) => !ignore.has(Number(p.split(" ")[0]))),
    mounts: mountPoints(),
    fds: Object.fromEntries((scope.fdPids ?? []).map((pid) => [String(pid), openFds(pid)])),
    entries: (scope.dirs ?? []).flatMap((d) => walk(d).map((e) => `${d}/${e}`)),
    netns: list("/run/netns"),
    cgroups: (scope.cgroupRoots ?? cgroupRoots()).flatMap((root) => cgroupDirs(root).map((d) => `${root}/${d}`)),
  };
}

/** Items present in `after` but not in `before`, per category; an empty object means nothing leaked. */
export function censusDiff(before: Census, after: Census): Partial<Record<keyof Census, string[]>> {
  const out: Partial<Record<keyof Census, string[]>> = {};
  const grew = (a: readonly string[], b: readonly string[]) => {
    const had = new Map<string, number>();
    for (const x of a) had.set(x, (had.get(x) ?? 0) + 1);
    return b.filter((x) => {
      const n = had.get(x) ?? 0;
      if (n > 0) {
        had.set(x, n - 1);
        return false;
      }
      return true;
    });
  };
  const put = (k: keyof Census, v: string[]) => {
    if (v.length > 0) out[k] = v;
  };
  // Process lines carry pids: compare by command name only, so a restarted daemon is not "new".
  put("processes", grew(before.processes.map(commOf), after.processes.map(commOf)));
  put("mounts", grew(before.mounts, after.mounts));
  const fdGrowth = Object.entries(after.fds).flatMap(([pid, fds]) => grew(before.fds[pid] ?? [], fds).map((f) => `${pid}: ${f}`));
  put("fds", fdGrowth);
  put("entries", grew(before.entries, after.entries));
  put("netns", grew(before.netns, after.netns));
  put("cgroups", grew(before.cgroups, after.cgroups));
  return out;
}

function commOf(line: string): string {
  return line.slice(line.indexOf(" ") + 1);
}

function processes(): string[] {
  const out: string[] = [];
  for (const e of list("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      // Zombies already dead are still a leak (nobody reaped them): count them with a marker.
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      out.push(`${e} ${comm}${state === "Z" ? " <zombie>" : ""}`);
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

function mountPoints(): string[] {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => l.split(" ")[4]!);
}

function openFds(pid: number): string[] {
  const dir = `/proc/${pid}/fd`;
  return list(dir).map((fd) => {
    try {
      // Socket and pipe inode numbers differ for every connection: count them by kind.
      return readlinkSync(join(dir, fd)).replace(/^(socket|pipe|anon_inode):.*$/, "$1");
    } catch {
      return "gone";
    }
  });
}

function walk(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  for (const e of list(dir)) {
    const rel = prefix ? `${prefix}/${e}` : e;
    out.push(rel);
    try {
      if (statSync(join(dir, e), { throwIfNoEntry: false })?.isDirectory()) out.push(...walk(join(dir, e), rel));
    } catch {
      /* vanished or unreadable */
    }
  }
  return out;
}

function cgroupRoots(): string[] {
  const roots = new Set<string>();
  for (const l of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = l.split(" ");
    const sep = f.indexOf("-");
    if (sep > 0 && (f[sep + 1] === "cgroup" || f[sep + 1] === "cgroup2")) roots.add(f[4]!);
  }
  return [...roots];
}

function cgroupDirs(root: string, prefix = "", depth = 0): string[] {
  if (depth > 8) return [];
  const out: string[] = [];
  for (const e of list(join(root, prefix))) {
    const rel = prefix ? `${prefix}/${e}` : e;
    try {
      if (!statSync(join(root, rel)).isDirectory()) continue;
    } catch {
      continue;
    }
    out.push(rel);
    out.push(...cgroupDirs(root, rel, depth + 1));
  }
  return out;
}

function list(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
