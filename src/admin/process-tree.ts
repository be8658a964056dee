import { readdirSync, readFileSync } from "node:fs";

/** One host process as kuasar-ctl inspect shows it. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  cmdline: string;
  rssBytes: number;
}

const PAGE_BYTES = 4096;

/** A process's stat fields after its comm, and its comm; undefined once gone. */
function stat(pid: number): { ppid: number; comm: string; rssPages: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = s.lastIndexOf(")");
    const f = s.slice(close + 2).split(" ");
    return { ppid: Number(f[1]), comm: s.slice(s.indexOf("(") + 1, close), rssPages: Number(f[21]) };
  } catch {
    return undefined;
  }
}

/** `roots` and every live descendant of them (one /proc scan). */
export function processTree(roots: readonly number[]): ProcessInfo[] {
  const children = new Map<number, number[]>();
  const stats = new Map<number, NonNullable<ReturnType<typeof stat>>>();
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const st = stat(pid);
    if (!st) continue;
    stats.set(pid, st);
    const list = children.get(st.ppid);
    if (list) list.push(pid);
    else children.set(st.ppid, [pid]);
  }
  const out: ProcessInfo[] = [];
  const seen = new Set<number>();
  const queue = roots.filter((p) => p > 0 && stats.has(p));
  while (queue.length > 0) {
    const pid = queue.shift()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    const st = stats.get(pid)!;
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0+$/, "").replaceAll("\0", " ");
    } catch {
      // gone since the scan
    }
    out.push({ pid, ppid: st.ppid, comm: st.comm, cmdline, rssBytes: st.rssPages * PAGE_BYTES });
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}
