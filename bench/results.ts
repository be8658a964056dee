/**
 * The JSON document `npm run bench` writes (`bench-results/latest.json`): every raw sample
 * plus a per-configuration summary. Field names are snake_case and carry their unit
 * (`_ms` milliseconds, `_kb` KiB as in /proc, `_mb` MiB = 1024 KiB). A number that could
 * not be measured is `null`. Documented for readers in `docs/benchmarks.md`.
 *
 * @internal benchmark, not part of the runtime
 */

import type { VmmSection } from "./vmm-results.js";

/** Value of {@link BenchResults.schema}; bumped on an incompatible change. */
export const BENCH_SCHEMA = "kuasar-ts/bench/v2";

/** What a configuration is compared as: the baseline (ratios are to it), one of ours, or a reference point without targets. */
export type ConfigurationRole = "baseline" | "ours" | "reference";

/** `ok`: measured; `not_available`: not built yet (never skipped silently); `failed`: it exists but broke (see `reason`). */
export type ConfigurationStatus = "ok" | "not_available" | "failed";

/** One pod start: RunPodSandbox + CreateContainer + StartContainer + ContainerStatus until RUNNING. */
export interface PodStartSample {
  /** Pod name (CRI metadata). */
  readonly name: string;
  /** Warm-up iterations are recorded but excluded from every statistic. */
  readonly warmup: boolean;
  readonly ok: boolean;
  /** Error message when `ok` is false. */
  readonly error: string | null;
  /** Start of this pod relative to the start of its phase (serial run / parallel round), ms. */
  readonly offset_ms: number;
  readonly run_pod_sandbox_ms: number | null;
  readonly create_container_ms: number | null;
  readonly start_container_ms: number | null;
  /** From StartContainer's reply until ContainerStatus said RUNNING (usually one call), ms. */
  readonly until_running_ms: number | null;
  /** The whole start latency, ms: the sum of the four phases. */
  readonly total_ms: number | null;
  readonly pod_sandbox_id: string | null;
  readonly container_id: string | null;
}

/** One round of P pods started at once. */
export interface ParallelRound {
  readonly round: number;
  readonly pods: number;
  /** From the first RunPodSandbox call to the last container RUNNING, ms (null if any pod failed). */
  readonly total_ms: number | null;
  /** StopPodSandbox + RemovePodSandbox of the round's pods afterwards (`teardownConcurrency` at a time), ms. */
  readonly teardown_ms: number;
  readonly samples: readonly PodStartSample[];
}

/**
 * What a process counts as in the memory figures: management (shims, our daemons and
 * holders), containerd, workload (a pod's container process: the runc container's own
 * process, or a wasm container's runner), or other (pause, anything else).
 */
export type ProcessClass = "management" | "containerd" | "workload" | "other";

/** One process in a memory snapshot. Processes of the benchmark itself (pid 1, tini, the worker, ctr) are not listed. */
export interface ProcessSample {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  readonly class: ProcessClass;
  /** For management and workload processes, which one ("kuasard (runc-sandboxer)", "kuasar-endpoint", "kuasar-holder", "containerd-shim-runc-v2", "container process (busybox sleep)", "wasm runner (node:wasi)", ...); else null. */
  readonly role: string | null;
  readonly pss_kb: number;
  readonly rss_kb: number;
  readonly pss_anon_kb: number;
  readonly pss_file_kb: number;
}

/** One reading of every process's `smaps_rollup`. */
export interface MemorySnapshot {
  /** Time since the pod count was reached (after the settle time), ms. */
  readonly at_ms: number;
  /** Summed PSS of the management processes, KiB. */
  readonly mgmt_pss_kb: number;
  /** PSS of the containerd daemon, KiB. */
  readonly containerd_pss_kb: number;
  /** Summed PSS of the workload processes (one per container), KiB. */
  readonly workload_pss_kb: number;
  /** Median PSS of one workload process, KiB (0 with no pod). */
  readonly container_pss_kb: number;
  /** Median RSS of one workload process, KiB (0 with no pod). */
  readonly container_rss_kb: number;
  /** Summed PSS of everything else (pause, runc leftovers), KiB. */
  readonly other_pss_kb: number;
  readonly mgmt_processes: number;
  readonly workload_processes: number;
  readonly other_processes: number;
  /** Every process counted, in the last snapshot of each {@link MemoryPoint} only (empty in the others, to keep the file small). */
  readonly processes: readonly ProcessSample[];
}

/** Memory with `pods` pods running (each one workload container). */
export interface MemoryPoint {
  readonly pods: number;
  /** Time it took to go from the previous pod count to this one, ms. */
  readonly fill_ms: number;
  /** Median over the snapshots of the management PSS, MiB. */
  readonly mgmt_pss_mb: number;
  /** Median over the snapshots of containerd's PSS, MiB. */
  readonly containerd_pss_mb: number;
  /** Median over the snapshots of the workload processes' summed PSS, MiB. */
  readonly workload_pss_mb: number;
  /** Median over the snapshots of the per-container PSS (median over the workload processes), MiB. */
  readonly container_pss_mb: number;
  /** Median over the snapshots of the per-container RSS (median over the workload processes), MiB. */
  readonly container_rss_mb: number;
  /** Median over the snapshots of the other processes' PSS, MiB. */
  readonly other_pss_mb: number;
  /** Management processes (last snapshot). */
  readonly mgmt_processes: number;
  /** Workload processes (last snapshot); one per pod when every container runs. */
  readonly workload_processes: number;
  /** Management + workload + other processes (last snapshot). */
  readonly processes: number;
  readonly snapshots: readonly MemorySnapshot[];
}

/** One `<shim> ... start` execution, timed from spawn to exit with stdout closed. */
export interface ShimStartSample {
  readonly warmup: boolean;
  readonly ok: boolean;
  readonly ms: number;
  /** What it printed (trimmed), or the error. */
  readonly output: string;
}

/** The `start` latency of a configuration's shim binary. */
export interface ShimStartResult {
  /** Absolute path of the binary executed. */
  readonly binary: string;
  /** argv after the binary (containerd 1.7's exact form, protocols.md §3.2). */
  readonly argv: readonly string[];
  readonly samples: readonly ShimStartSample[];
}

/** One step's latency over a window, ms. */
export interface PhaseStat {
  readonly count: number;
  readonly median_ms: number;
  readonly p90_ms: number;
  readonly max_ms: number;
}

/** Medians of the CRI calls of one pod start as the client saw them, ms (null: none counted). */
export interface CriPhaseMedians {
  readonly run_pod_sandbox_ms: number | null;
  readonly create_container_ms: number | null;
  readonly start_container_ms: number | null;
  readonly until_running_ms: number | null;
}

/**
 * What kuasard itself timed (its `phase_log`, fed by the pod-phase and RPC diagnostics
 * channels), by window: keys are `pod <phase>` (`pod start`, `pod start.holder`, ...) and
 * `rpc <api> <method>` (`rpc task Create`, `rpc sandbox CreateSandbox`, ...).
 */
export interface DaemonPhases {
  readonly serial: Readonly<Record<string, PhaseStat>>;
  readonly parallel: Readonly<Record<string, PhaseStat>>;
}

/** The numbers the report and README use; MB = MiB. Pod-count keyed records use the count as a string key. */
export interface ConfigurationSummary {
  /** Serial start latency over the non-warm-up iterations, ms. */
  readonly start_ms_min: number | null;
  readonly start_ms_median: number | null;
  readonly start_ms_p90: number | null;
  readonly start_ms_max: number | null;
  /** How many pods each parallel round started. */
  readonly parallel_pods: number;
  /** Median over the rounds of the parallel wall time, ms. */
  readonly parallel_total_ms: number | null;
  /** Median of the per-pod latencies inside the parallel rounds, ms. */
  readonly parallel_pod_ms_median: number | null;
  /** Management PSS at each measured pod count (including 0), MiB. */
  readonly mgmt_pss_mb: Readonly<Record<string, number>>;
  /** Least-squares slope of `mgmt_pss_mb` over the pod counts >= 1, MiB per pod. */
  readonly mgmt_pss_mb_per_pod: number | null;
  /** `mgmt_pss_mb` at 1 pod minus at 0 pods, MiB. */
  readonly mgmt_pss_mb_first_pod: number | null;
  /** containerd's own PSS at each pod count, MiB. */
  readonly containerd_pss_mb: Readonly<Record<string, number>>;
  /** PSS of one container's process(es) (median over the workload processes) at each pod count >= 1, MiB. */
  readonly container_pss_mb: Readonly<Record<string, number>>;
  /** RSS of one container's process(es) at each pod count >= 1, MiB (shared pages counted in full). */
  readonly container_rss_mb: Readonly<Record<string, number>>;
  /** Slope of the workload processes' summed PSS over the pod counts >= 1: what one more container costs itself, MiB per pod. */
  readonly workload_pss_mb_per_pod: number | null;
  /** Slope of management + workload + other PSS (everything but containerd and the benchmark), MiB per pod. */
  readonly node_pss_mb_per_pod: number | null;
  /** Management processes at each pod count. */
  readonly mgmt_processes: Readonly<Record<string, number>>;
  /** Slope of the management process count over pod counts >= 1. */
  readonly mgmt_processes_per_pod: number | null;
  /** Slope of the workload process count (1 when each container is one process). */
  readonly workload_processes_per_pod: number | null;
  /** Slope of all processes but containerd's and the benchmark's (includes the one workload process per pod). */
  readonly processes_per_pod: number | null;
  /** Management PSS by role at the largest pod count (last snapshot): process count and summed PSS, MiB. */
  readonly mgmt_breakdown: Readonly<Record<string, { readonly processes: number; readonly pss_mb: number }>>;
  /** Stopping and removing the pods of the largest memory point, ms (null if not reached). */
  readonly teardown_ms: number | null;
  /** Median `start` latency of the configuration's shim binary, ms (null: no shim on this path). */
  readonly shim_start_ms_median: number | null;
  readonly shim_start_ms_p90: number | null;
  /** The CRI phases of a pod start, serial and parallel (absent in files written before they were summarized). */
  readonly phases_ms?: { readonly serial: CriPhaseMedians; readonly parallel: CriPhaseMedians };
  /** What kuasard timed inside (ours only; null for stock configurations; absent in older files). */
  readonly daemon_phases?: DaemonPhases | null;
}

/** Everything measured for one configuration. */
export interface ConfigurationResult {
  /** Stable id, e.g. `baseline-runc-v2-ctrd17`. */
  readonly id: string;
  /** Human label used in tables and charts. */
  readonly label: string;
  readonly role: ConfigurationRole;
  /** `"1.7"` or `"2"`. */
  readonly containerd_version: string;
  /** CRI runtime handler the pods name. */
  readonly runtime_handler: string;
  /** What is running, in one sentence. */
  readonly description: string;
  /** Names of the management processes counted, in words. */
  readonly management_processes: string;
  /** The container each pod runs and which process is its per-container memory, in words. */
  readonly workload: string;
  /** The wasm engine (`wasm_engine`) of a wasm configuration, else null (absent in files written before it was recorded). */
  readonly wasm_engine?: string | null;
  /** Id of the configuration it is compared with on the same containerd path (a wasm configuration names the runc sandboxer's), or null. */
  readonly compare_with: string | null;
  readonly status: ConfigurationStatus;
  /** Why it is not available or failed; null when ok. */
  readonly reason: string | null;
  /** Where the logs of a failed configuration were saved (outside the results dir); null otherwise. */
  readonly failure_log: string | null;
  /** containerd + daemons up, images imported, ms. */
  readonly setup_ms: number | null;
  readonly summary: ConfigurationSummary | null;
  readonly samples: {
    readonly serial: readonly PodStartSample[];
    readonly parallel: readonly ParallelRound[];
    readonly memory: readonly MemoryPoint[];
    /** StopPodSandbox + RemovePodSandbox of every pod after the memory phase (`teardownConcurrency` at a time). */
    readonly memory_teardown: { readonly pods: number; readonly ms: number } | null;
    readonly shim_start: ShimStartResult | null;
    /** kuasard's own timings (`phase_log`), ours only; absent in older files. */
    readonly daemon_phases?: DaemonPhases | null;
  };
}

/** The top-level document. */
export interface BenchResults {
  readonly schema: typeof BENCH_SCHEMA;
  readonly mode: "quick" | "full";
  /** ISO 8601 times of the run. */
  readonly started_at: string;
  readonly finished_at: string;
  /** Wall time of the worker (inside the namespaces), s. */
  readonly duration_s: number;
  readonly host: {
    readonly kernel: string;
    readonly cpus: number;
    readonly cpu_model: string;
    readonly mem_total_mb: number;
    readonly node: string;
  };
  /** The options the run used (see `bench-options.ts`). */
  readonly options: Readonly<Record<string, unknown>>;
  /** Median time to spawn `/bin/true` and see it exit from the benchmark process: the floor under every shim `start`, ms. */
  readonly spawn_floor_ms: number | null;
  readonly configurations: readonly ConfigurationResult[];
  /** VM pods of the vmm sandboxer (`vmm-results.ts`); absent in files written before the section existed or when `--only` left it out. */
  readonly vmm?: VmmSection;
}
