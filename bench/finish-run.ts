/**
 * What a run (or `--render`) does with its results once measured: judge them
 * (`run-verdict.ts`), write them, and say so. A complete run goes to `latest.*` in the
 * results dir and, only when `--readme` was given, into the marked sections of README.md and
 * docs/benchmarks.md. An incomplete run goes to `failed/` in the results dir, so neither the
 * committed results nor the documents ever show a run that did not measure what was asked.
 *
 * @internal benchmark, not part of the runtime
 */
import { join } from "node:path";
import type { BenchResults } from "./results.js";
import { runVerdict, type RunVerdict } from "./run-verdict.js";
import { RESULTS_MD, writeReports, writeResults, type SectionUpdate } from "./write-results.js";

/** Subdirectory of the results dir that takes an incomplete run. */
export const FAILED_RUN_DIR = "failed";

/** Subdirectory of the results dir that takes a run of some configurations (`--only` without `--out`). */
export const PARTIAL_RUN_DIR = "partial";

/** The `--only` id of the VM section. */
export const VMM_SECTION_ID = "vmm";

/** Where and whether to write. */
export interface FinishOptions {
  /** The results dir (`latest.*`, the charts). */
  readonly resultsDir: string;
  /** Rewrite the marked sections of {@link readmePaths} (`--readme`). */
  readonly updateReadme: boolean;
  readonly readmePaths: readonly string[];
  /** Whether the results are measured now (write the JSON too) or re-rendered from a file. */
  readonly fresh: boolean;
}

/** What {@link finishRun} did. */
export interface FinishedRun {
  readonly exitCode: number;
  readonly verdict: RunVerdict;
  /** The report (markdown). */
  readonly markdown: string;
  readonly files: readonly string[];
  readonly sections: readonly SectionUpdate[];
}

/** What a run was asked for, as its JSON records it: `--only` ids, else every configuration in it, plus the VM section. */
export function requestedOf(results: BenchResults): { configurations: string[]; vmm: boolean } {
  const only = Array.isArray(results.options["only"]) ? (results.options["only"] as string[]) : [];
  const configurations = only.length === 0 ? results.configurations.map((c) => c.id) : only.filter((id) => id !== VMM_SECTION_ID);
  return { configurations, vmm: only.length === 0 || only.includes(VMM_SECTION_ID) };
}

/** Judges and writes `results` (see the module comment); resolves to the exit code and what was written. */
export async function finishRun(results: BenchResults, o: FinishOptions, log: (line: string) => void): Promise<FinishedRun> {
  const asked = requestedOf(results);
  const verdict = runVerdict(results, asked.configurations, asked.vmm);
  const dir = verdict.ok ? o.resultsDir : join(o.resultsDir, FAILED_RUN_DIR);
  const docs = verdict.ok && o.updateReadme ? o.readmePaths : [];
  const written = o.fresh ? await writeResults(results, dir, docs) : await writeReports(results, dir, docs);
  for (const f of written.files) log(`bench: wrote ${f}`);
  if (!verdict.ok) {
    log(`bench: the run did not measure everything asked for:`);
    for (const p of verdict.problems) log(`bench:   ${p}`);
    log(`bench: results kept apart in ${dir}${o.updateReadme ? "; README and docs left alone" : ""}`);
  } else if (!o.updateReadme) {
    log(`bench: README and docs left alone (--readme rewrites their benchmark sections)`);
  }
  const md = join(dir, RESULTS_MD);
  for (const { path, update } of written.sections) {
    if (update === "updated" || update === "unchanged") log(`bench: ${path}: benchmark section ${update}`);
    else if (update === "no-readme") log(`bench: ${path} does not exist: the table is in ${md}`);
    else if (update === "no-markers") log(`bench: ${path} has no <!-- bench:start --> / <!-- bench:end --> markers: the table is in ${md}`);
  }
  return { exitCode: verdict.ok ? 0 : 1, verdict, ...written };
}
