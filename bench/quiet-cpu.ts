/**
 * Waiting for a quiet node between timed pod starts: the configurations run interleaved on one
 * machine, and one's pod teardown (its containerd removing snapshots, a sandbox's processes
 * exiting) otherwise runs into the next one's measurement.
 *
 * @internal benchmark, not part of the runtime
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

/** Busy and total jiffies of all CPUs so far (`/proc/stat`'s `cpu` line; idle and iowait count as not busy). */
export function cpuJiffies(stat = readFileSync("/proc/stat", "utf8")): { busy: number; total: number } {
  const line = stat.split("\n").find((l) => l.startsWith("cpu "));
  if (!line) throw new Error("/proc/stat has no cpu line");
  const f = line.trim().split(/\s+/).slice(1, 9).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  return { busy: total - idle, total };
}

/** Options of {@link waitForQuietCpu}. */
export interface QuietCpuOptions {
  /** Most of the CPUs' time that may be busy over a window, 0-1. Default 0.1. */
  readonly busyFraction: number;
  /** Length of one window, ms. Default 50 (five jiffies at HZ=100, twelve at 250). */
  readonly windowMs: number;
  /** Gives up after this long, ms. Default 2000. */
  readonly maxMs: number;
}

/** Waits until one window saw the CPUs at most `busyFraction` busy, or `maxMs` passed; true when quiet. */
export async function waitForQuietCpu(options: Partial<QuietCpuOptions> = {}): Promise<boolean> {
  const o: QuietCpuOptions = { busyFraction: 0.1, windowMs: 50, maxMs: 2000, ...options };
  const until = Date.now() + o.maxMs;
  let a = cpuJiffies();
  while (Date.now() < until) {
    await sleep(o.windowMs);
    const b = cpuJiffies();
    const total = b.total - a.total;
    if (total > 0 && (b.busy - a.busy) / total <= o.busyFraction) return true;
    a = b;
  }
  return false;
}
