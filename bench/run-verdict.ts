/**
 * Whether a benchmark run measured what was asked: the baseline, every configuration
 * requested (all of them when `--only` named none) and the VM section when requested. A run
 * missing any of these is a failed run: `npm run bench` exits non-zero, its results go to
 * `failed/` beside the committed ones, and README/docs are never rewritten from it.
 *
 * @internal benchmark, not part of the runtime
 */
import type { BenchResults } from "./results.js";

/** What {@link runVerdict} found. */
export interface RunVerdict {
  /** Everything requested was measured. */
  readonly ok: boolean;
  /** One line per configuration (or section) that did not run, with its reason. */
  readonly problems: readonly string[];
}

/**
 * The verdict on `results`. `requested` are the configuration ids the run was asked for (the
 * baseline is always required, even when not listed); `vmmRequested` whether the VM section was.
 */
export function runVerdict(results: BenchResults, requested: readonly string[], vmmRequested: boolean): RunVerdict {
  const problems: string[] = [];
  const baseline = results.configurations.find((c) => c.role === "baseline");
  const needed = new Set(requested);
  if (baseline !== undefined) needed.add(baseline.id);
  else if (requested.length > 0) problems.push("baseline: not in the run");
  for (const id of needed) {
    const c = results.configurations.find((x) => x.id === id);
    if (c === undefined) problems.push(`${id}: not in the run`);
    else if (c.status !== "ok") problems.push(`${c.id}: ${c.status}${c.reason !== null ? `: ${c.reason}` : ""}`);
    else if (c.summary === null) problems.push(`${c.id}: no pod started`);
  }
  if (vmmRequested) {
    const v = results.vmm;
    if (v === undefined) problems.push("vmm: not in the run");
    else if (v.status !== "ok") problems.push(`vmm: ${v.status}${v.reason !== null ? `: ${v.reason}` : ""}`);
  }
  return { ok: problems.length === 0, problems };
}
