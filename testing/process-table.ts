/**
 * A snapshot of the processes visible in this pid namespace, with the memory
 * figures the benchmark needs from `/proc/<pid>/smaps_rollup`.
 *
 * @internal benchmark, not part of the runtime
 */
import { readdir, readFile, readlink } from "node:fs/promises";

/** One process as read from `/proc`. */
export interface ProcessInfo {
  /** Process id (in this pid namespace). */
  readonly pid: number;
  /** Parent process id (`/proc/<pid>/stat` field 4). */
  readonly ppid: number;
  /** Command name (`/proc/<pid>/comm`, at most 15 bytes). */
  readonly comm: string;
  /** Target of `/proc/<pid>/exe` (` (deleted)` stripped); undefined for kernel threads or when unreadable. */
  readonly exe: string | undefined;
  /** Arguments (`/proc/<pid>/cmdline`, NUL-split). */
  readonly cmdline: readonly string[];
}

/** Memory of one process from `smaps_rollup`, in KiB. */
export interface ProcessMemory {
  /** Proportional set size (`Pss:`), KiB. */
  readonly pss_kb: number;
  /** Resident set size (`Rss:`), KiB. */
  readonly rss_kb: number;
  /** Anonymous part of the PSS (`Pss_Anon:`), KiB; 0 on kernels that lack the field. */
  readonly pss_anon_kb: number;
  /** File-backed part of the PSS (`Pss_File:`), KiB; 0 on kernels that lack the field. */
  readonly pss_file_kb: number;
}

async function readProcess(pid: number): Promise<ProcessInfo | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; split after the last ')'.
    const after = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(after[1]);
    const comm = (await readFile(`/proc/${pid}/comm`, "utf8")).replace(/\n$/, "");
    const exe = await readlink(`/proc/${pid}/exe`).then(
      (p) => p.replace(/ \(deleted\)$/, ""),
      () => undefined,
    );
    const raw = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
    const cmdline = raw.split("\0").filter((s, i, a) => !(s === "" && i === a.length - 1));
    return { pid, ppid, comm, exe, cmdline };
  } catch {
    return undefined; // exited while we looked
  }
}

/** Every process currently in this pid namespace, sorted by pid (processes that exit meanwhile are left out). */
export async function listProcesses(): Promise<ProcessInfo[]> {
  const pids = (await readdir("/proc")).filter((e) => /^\d+$/.test(e)).map(Number);
  const all = await Promise.all(pids.map(readProcess));
  return all.filter((p): p is ProcessInfo => p !== undefined).sort((a, b) => a.pid - b.pid);
}

/** Parses the text of `/proc/<pid>/smaps_rollup`. */
export function parseSmapsRollup(text: string): ProcessMemory {
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, "m").exec(text);
    return m === null ? 0 : Number(m[1]);
  };
  return { pss_kb: field("Pss"), rss_kb: field("Rss"), pss_anon_kb: field("Pss_Anon"), pss_file_kb: field("Pss_File") };
}

/** Reads `/proc/<pid>/smaps_rollup`; undefined when the process is gone (or is a kernel thread). */
export async function readProcessMemory(pid: number): Promise<ProcessMemory | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/smaps_rollup`, "utf8");
    if (!/^Pss:/m.test(text)) return undefined;
    return parseSmapsRollup(text);
  } catch {
    return undefined;
  }
}
