/**
 * Reads kuasard's phase log (`phase_log`, `src/observe/phase-log.ts`) into per-step latency
 * statistics over the serial and the parallel windows of a run: what kuasard itself spent on
 * each RPC and each step of a pod start, beside what the CRI client saw.
 *
 * @internal benchmark, not part of the runtime
 */
import { readFile } from "node:fs/promises";
import type { PhaseLogLine } from "../src/observe/phase-log.js";
import type { DaemonPhases, PhaseStat } from "./results.js";
import { quantile, round } from "./stats.js";

/** Wall-clock windows (ms since the epoch, `[from, to)`) of the run's phases. */
export interface PhaseWindows {
  readonly serial: readonly [number, number];
  readonly parallel: readonly [number, number];
}

/** The key a line is counted under. */
export function phaseKey(l: PhaseLogLine): string {
  return l.what === "pod" ? `pod ${l.phase}` : `rpc ${l.api} ${l.method}`;
}

function stats(lines: readonly PhaseLogLine[]): Record<string, PhaseStat> {
  const by = new Map<string, number[]>();
  for (const l of lines) {
    const ok = l.what === "pod" ? l.ok : l.code === 0;
    if (!ok) continue;
    const list = by.get(phaseKey(l)) ?? [];
    list.push(l.ms);
    by.set(phaseKey(l), list);
  }
  const out: Record<string, PhaseStat> = {};
  for (const [k, v] of [...by].sort(([a], [b]) => a.localeCompare(b))) {
    out[k] = { count: v.length, median_ms: round(quantile(v, 0.5), 2), p90_ms: round(quantile(v, 0.9), 2), max_ms: round(Math.max(...v), 2) };
  }
  return out;
}

/** Parses the log's text (a torn last line is skipped) into statistics per window. */
export function daemonPhases(text: string, w: PhaseWindows): DaemonPhases {
  const lines: PhaseLogLine[] = [];
  for (const raw of text.split("\n")) {
    if (raw.trim() === "") continue;
    try {
      lines.push(JSON.parse(raw) as PhaseLogLine);
    } catch {
      /* a line being written */
    }
  }
  const within = ([from, to]: readonly [number, number]) => lines.filter((l) => l.at >= from && l.at < to);
  return { serial: stats(within(w.serial)), parallel: stats(within(w.parallel)) };
}

/** {@link daemonPhases} of the file at `path`, or null when it cannot be read. */
export async function readDaemonPhases(path: string, w: PhaseWindows): Promise<DaemonPhases | null> {
  const text = await readFile(path, "utf8").catch(() => null);
  return text === null ? null : daemonPhases(text, w);
}
