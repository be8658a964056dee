/**
 * Options of one benchmark run, with the `--quick` and full presets.
 *
 * @internal benchmark, not part of the runtime
 */
import { join } from "node:path";
import { repoRoot } from "../testing/deps.js";

/** Options of {@link runBenchmark}. Every field is required here; callers pass a preset plus overrides. */
export interface BenchOptions {
  /** Which preset the run started from (recorded in the JSON). */
  readonly mode: "quick" | "full";
  /** Serial start-latency iterations per configuration (after the warm-up). Quick 10, full 50. */
  readonly serialIterations: number;
  /** Serial iterations run first and excluded from the statistics (image snapshot, page cache). Default 1. */
  readonly warmupIterations: number;
  /** Pods started at once in a parallel round (issue 6's target is about 20). Default 20. */
  readonly parallelPods: number;
  /** Parallel rounds (interleaved over the configurations); the summary is the median. Quick 2, full 3. */
  readonly parallelRounds: number;
  /** Pod counts at which management memory is read, ascending; 0 is always added. Quick [1, 10, 50], full [1, 10, 50, 200]. */
  readonly podCounts: readonly number[];
  /** Pods started concurrently while filling up to the next pod count. Default 4. */
  readonly fillConcurrency: number;
  /** Pods stopped and removed concurrently during teardown. Default 8. */
  readonly teardownConcurrency: number;
  /** Wait after reaching a pod count before the first memory snapshot, ms. Default 2000. */
  readonly settleMs: number;
  /** Memory snapshots per pod count (the median is reported). Default 3. */
  readonly memorySnapshots: number;
  /** Time between memory snapshots, ms. Default 500. */
  readonly memorySnapshotIntervalMs: number;
  /** `<shim> start` executions per shim binary (after one warm-up). Quick 20, full 100. */
  readonly shimStartIterations: number;
  /** VM section (`vmm-section.ts`): bare boots and VM pod starts each, interleaved. Quick 3, full 5. */
  readonly vmmIterations: number;
  /** VM section: pod counts at which memory is read, ascending; 0 is always added. Quick [1, 3], full [1, 3, 6]. */
  readonly vmmPodCounts: readonly number[];
  /** Deadline of each CRI call, ms. Default 120000. */
  readonly callTimeoutMs: number;
  /**
   * Configuration ids to run (see `configurations.ts`) and/or `vmm` (the VM section); empty = all.
   * The baseline always runs, except for `--only vmm` alone, which runs just the VM section. Default [].
   */
  readonly only: readonly string[];
  /** Where latest.json, latest.md and the SVG charts go. Default `<repo>/bench-results`. */
  readonly resultsDir: string;
  /** Whether a complete run rewrites the marked sections of {@link readmePaths} (`--readme`). Default false. */
  readonly updateReadme: boolean;
  /**
   * Documents whose `<!-- bench:start -->`/`<!-- bench:end -->` section is regenerated from the
   * JSON. Default `<repo>/README.md` and `<repo>/docs/benchmarks.md`.
   */
  readonly readmePaths: readonly string[];
}

const common = {
  warmupIterations: 1,
  parallelPods: 20,
  fillConcurrency: 4,
  teardownConcurrency: 8,
  settleMs: 2000,
  memorySnapshots: 3,
  memorySnapshotIntervalMs: 500,
  callTimeoutMs: 120_000,
  only: [] as readonly string[],
  updateReadme: false,
};

/** `npm run bench -- --quick`: the configurations in about 6 minutes on a 2-core machine, plus the VM section (minutes under TCG). */
export function quickBenchOptions(): BenchOptions {
  return {
    ...common,
    mode: "quick",
    serialIterations: 10,
    parallelRounds: 2,
    podCounts: [1, 10, 50],
    shimStartIterations: 20,
    vmmIterations: 3,
    vmmPodCounts: [1, 3],
    resultsDir: join(repoRoot(), "bench-results"),
    readmePaths: [join(repoRoot(), "README.md"), join(repoRoot(), "docs", "benchmarks.md")],
  };
}

/** `npm run bench`: more iterations and the 200-pod memory point. */
export function fullBenchOptions(): BenchOptions {
  return {
    ...quickBenchOptions(),
    mode: "full",
    serialIterations: 50,
    parallelRounds: 3,
    podCounts: [1, 10, 50, 200],
    shimStartIterations: 100,
    vmmIterations: 5,
    vmmPodCounts: [1, 3, 6],
  };
}

/** Merges `overrides` over the preset of `mode` and validates eagerly, naming the bad field. */
export function resolveBenchOptions(mode: "quick" | "full", overrides: Partial<BenchOptions> = {}): BenchOptions {
  const o: BenchOptions = { ...(mode === "quick" ? quickBenchOptions() : fullBenchOptions()), ...overrides };
  const positive = ["serialIterations", "parallelPods", "parallelRounds", "fillConcurrency", "teardownConcurrency", "memorySnapshots", "shimStartIterations", "vmmIterations", "callTimeoutMs"] as const;
  for (const k of positive) {
    if (!Number.isInteger(o[k]) || o[k] <= 0) throw new RangeError(`${k}: want a positive integer, got ${o[k]}`);
  }
  for (const k of ["warmupIterations", "settleMs", "memorySnapshotIntervalMs"] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 0) throw new RangeError(`${k}: want a non-negative integer, got ${o[k]}`);
  }
  for (const k of ["podCounts", "vmmPodCounts"] as const) ascendingCounts(k, o[k]);
  return o;
}

function ascendingCounts(name: string, counts: readonly number[]): void {
  if (counts.length === 0 || counts.some((n, i) => !Number.isInteger(n) || n <= 0 || (i > 0 && n <= (counts[i - 1] as number)))) {
    throw new RangeError(`${name}: want ascending positive integers, got ${JSON.stringify(counts)}`);
  }
}
