/**
 * Derives a configuration's summary numbers from its raw samples (warm-ups and failed
 * samples excluded).
 *
 * @internal benchmark, not part of the runtime
 */
import type { ConfigurationSummary, CriPhaseMedians, DaemonPhases, MemoryPoint, ParallelRound, PodStartSample, ShimStartResult } from "./results.js";
import { distribution, linearFit, quantile, round } from "./stats.js";

const orNull = (v: number, digits = 2): number | null => (Number.isFinite(v) ? round(v, digits) : null);

function byPods(points: readonly MemoryPoint[], f: (p: MemoryPoint) => number, digits = 2): Record<string, number> {
  return Object.fromEntries(points.map((p) => [String(p.pods), round(f(p), digits)]));
}

function slope(points: readonly MemoryPoint[], f: (p: MemoryPoint) => number, digits: number): number | null {
  return orNull(linearFit(points.filter((p) => p.pods >= 1).map((p) => [p.pods, f(p)] as const)).slope, digits);
}

function breakdown(point: MemoryPoint | undefined): Record<string, { processes: number; pss_mb: number }> {
  const out: Record<string, { processes: number; pss_mb: number }> = {};
  const last = point?.snapshots[point.snapshots.length - 1];
  for (const p of last?.processes ?? []) {
    if (p.class !== "management" || p.role === null) continue;
    const e = (out[p.role] ??= { processes: 0, pss_mb: 0 });
    e.processes += 1;
    e.pss_mb += p.pss_kb / 1024;
  }
  for (const e of Object.values(out)) e.pss_mb = round(e.pss_mb, 2);
  return out;
}

/** Median of each CRI phase over the counted samples. */
export function criPhaseMedians(samples: readonly PodStartSample[]): CriPhaseMedians {
  const counted = samples.filter((s) => s.ok && !s.warmup);
  const median = (f: (s: PodStartSample) => number | null) => orNull(quantile(counted.map(f).filter((v): v is number => v !== null), 0.5), 1);
  return {
    run_pod_sandbox_ms: median((s) => s.run_pod_sandbox_ms),
    create_container_ms: median((s) => s.create_container_ms),
    start_container_ms: median((s) => s.start_container_ms),
    until_running_ms: median((s) => s.until_running_ms),
  };
}

/** Summary of one configuration's samples. */
export function summarize(samples: {
  serial: readonly PodStartSample[];
  parallel: readonly ParallelRound[];
  memory: readonly MemoryPoint[];
  memory_teardown: { pods: number; ms: number } | null;
  shim_start: ShimStartResult | null;
  daemon_phases?: DaemonPhases | null;
}, parallelPods: number): ConfigurationSummary {
  const serial = distribution(samples.serial.filter((s) => !s.warmup && s.ok).map((s) => s.total_ms as number));
  const rounds = samples.parallel.map((r) => r.total_ms).filter((t): t is number => t !== null);
  const perPod = samples.parallel.flatMap((r) => r.samples.filter((s) => s.ok).map((s) => s.total_ms as number));
  const mem = samples.memory;
  const zero = mem.find((p) => p.pods === 0);
  const one = mem.find((p) => p.pods === 1);
  const withPods = mem.filter((p) => p.pods >= 1);
  const shim = samples.shim_start?.samples.filter((s) => !s.warmup && s.ok).map((s) => s.ms) ?? [];
  return {
    start_ms_min: orNull(serial.min, 1),
    start_ms_median: orNull(serial.median, 1),
    start_ms_p90: orNull(serial.p90, 1),
    start_ms_max: orNull(serial.max, 1),
    parallel_pods: parallelPods,
    parallel_total_ms: orNull(quantile(rounds, 0.5), 1),
    parallel_pod_ms_median: orNull(quantile(perPod, 0.5), 1),
    mgmt_pss_mb: byPods(mem, (p) => p.mgmt_pss_mb),
    mgmt_pss_mb_per_pod: slope(mem, (p) => p.mgmt_pss_mb, 3),
    mgmt_pss_mb_first_pod: zero !== undefined && one !== undefined ? round(one.mgmt_pss_mb - zero.mgmt_pss_mb, 2) : null,
    containerd_pss_mb: byPods(mem, (p) => p.containerd_pss_mb),
    container_pss_mb: byPods(withPods, (p) => p.container_pss_mb, 3),
    container_rss_mb: byPods(withPods, (p) => p.container_rss_mb, 3),
    workload_pss_mb_per_pod: slope(mem, (p) => p.workload_pss_mb, 3),
    node_pss_mb_per_pod: slope(mem, (p) => p.mgmt_pss_mb + p.workload_pss_mb + p.other_pss_mb, 3),
    mgmt_processes: byPods(mem, (p) => p.mgmt_processes, 0),
    mgmt_processes_per_pod: slope(mem, (p) => p.mgmt_processes, 2),
    workload_processes_per_pod: slope(mem, (p) => p.workload_processes, 2),
    processes_per_pod: slope(mem, (p) => p.processes, 2),
    mgmt_breakdown: breakdown(mem[mem.length - 1]),
    teardown_ms: samples.memory_teardown?.ms ?? null,
    shim_start_ms_median: samples.shim_start === null ? null : orNull(quantile(shim, 0.5), 2),
    shim_start_ms_p90: samples.shim_start === null ? null : orNull(quantile(shim, 0.9), 2),
    phases_ms: { serial: criPhaseMedians(samples.serial), parallel: criPhaseMedians(samples.parallel.flatMap((r) => r.samples)) },
    daemon_phases: samples.daemon_phases ?? null,
  };
}
