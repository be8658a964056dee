/**
 * Management memory: with 0, then each of the requested pod counts running, the summed PSS
 * (`/proc/<pid>/smaps_rollup`) of the configuration's management processes, containerd's
 * own PSS, the workload (each container's own process: a runc container's process, a wasm
 * container's runner) in sum and per container, and everything else, read a few times after
 * a settle period.
 *
 * @internal benchmark, not part of the runtime
 */
import { performance } from "node:perf_hooks";
import type { RunningConfiguration } from "./bench-configuration.js";
import { mapLimit } from "./map-limit.js";
import { startTimedPod, type PodStartContext } from "./pod-workload.js";
import { listProcesses, readProcessMemory } from "../testing/process-table.js";
import type { MemoryPoint, MemorySnapshot, ProcessClass, ProcessSample } from "./results.js";
import { quantile } from "./stats.js";

/** Options of {@link measureManagementMemory}. */
export interface ManagementMemoryOptions {
  /** Ascending pod counts (0 is measured first in any case). */
  readonly podCounts: readonly number[];
  /** Pods started at once while filling. */
  readonly fillConcurrency: number;
  /** Wait after reaching a count, ms. */
  readonly settleMs: number;
  /** Snapshots per count. */
  readonly snapshots: number;
  /** Between snapshots, ms. */
  readonly snapshotIntervalMs: number;
  /** Pids that existed before the configuration was set up (left out of every snapshot). */
  readonly excludedPids: ReadonlySet<number>;
  readonly log: (line: string) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One reading of every process but the benchmark's own and the pre-existing ones. */
export async function memorySnapshot(rc: RunningConfiguration, excluded: ReadonlySet<number>, at: number): Promise<MemorySnapshot> {
  const own = new Set([1, process.pid, process.ppid]);
  const procs = (await listProcesses()).filter((p) => !own.has(p.pid) && !excluded.has(p.pid));
  const samples = await Promise.all(
    procs.map(async (p): Promise<ProcessSample | undefined> => {
      const m = await readProcessMemory(p.pid);
      if (m === undefined) return undefined;
      if (p.pid === rc.containerdPid) return { pid: p.pid, ppid: p.ppid, comm: p.comm, class: "containerd", role: null, ...m };
      const workload = rc.workloadRole(p);
      const role = workload ?? rc.managementRole(p);
      const cls: ProcessClass = workload !== undefined ? "workload" : role !== undefined ? "management" : "other";
      return { pid: p.pid, ppid: p.ppid, comm: p.comm, class: cls, role: role ?? null, ...m };
    }),
  );
  const processes = samples.filter((s): s is ProcessSample => s !== undefined);
  const sum = (c: ProcessClass): number => processes.filter((p) => p.class === c).reduce((a, p) => a + p.pss_kb, 0);
  const count = (c: ProcessClass): number => processes.filter((p) => p.class === c).length;
  const workload = processes.filter((p) => p.class === "workload");
  const median = (values: number[]): number => (values.length === 0 ? 0 : quantile(values, 0.5));
  return {
    at_ms: Math.round(at),
    mgmt_pss_kb: sum("management"),
    containerd_pss_kb: sum("containerd"),
    workload_pss_kb: sum("workload"),
    container_pss_kb: median(workload.map((p) => p.pss_kb)),
    container_rss_kb: median(workload.map((p) => p.rss_kb)),
    other_pss_kb: sum("other"),
    mgmt_processes: count("management"),
    workload_processes: count("workload"),
    other_processes: count("other"),
    processes,
  };
}

async function readPoint(rc: RunningConfiguration, o: ManagementMemoryOptions, pods: number, fillMs: number): Promise<MemoryPoint> {
  await sleep(o.settleMs);
  const t0 = performance.now();
  const snapshots: MemorySnapshot[] = [];
  for (let i = 0; i < o.snapshots; i++) {
    if (i > 0) await sleep(o.snapshotIntervalMs);
    snapshots.push(await memorySnapshot(rc, o.excludedPids, performance.now() - t0));
  }
  const mb = (f: (s: MemorySnapshot) => number): number => Math.round((quantile(snapshots.map(f), 0.5) / 1024) * 1000) / 1000;
  const last = snapshots[snapshots.length - 1] as MemorySnapshot;
  for (let i = 0; i < snapshots.length - 1; i++) snapshots[i] = { ...(snapshots[i] as MemorySnapshot), processes: [] };
  return {
    pods,
    fill_ms: Math.round(fillMs),
    mgmt_pss_mb: mb((s) => s.mgmt_pss_kb),
    containerd_pss_mb: mb((s) => s.containerd_pss_kb),
    workload_pss_mb: mb((s) => s.workload_pss_kb),
    container_pss_mb: mb((s) => s.container_pss_kb),
    container_rss_mb: mb((s) => s.container_rss_kb),
    other_pss_mb: mb((s) => s.other_pss_kb),
    mgmt_processes: last.mgmt_processes,
    workload_processes: last.workload_processes,
    processes: last.mgmt_processes + last.workload_processes + last.other_processes,
    snapshots,
  };
}

/**
 * Reads memory with no pod, then fills up to each pod count and reads again. Leaves the
 * pods running (the caller tears down). Throws if a pod fails to start: a memory point with
 * fewer pods than it claims would be wrong.
 */
export async function measureManagementMemory(rc: RunningConfiguration, ctx: PodStartContext, o: ManagementMemoryOptions): Promise<MemoryPoint[]> {
  const points: MemoryPoint[] = [await readPoint(rc, o, 0, 0)];
  o.log(`  memory @0 pods: mgmt ${points[0]?.mgmt_pss_mb} MB`);
  let running = 0;
  for (const target of o.podCounts) {
    const t0 = performance.now();
    const names = Array.from({ length: target - running }, (_, i) => `mem-${running + i}`);
    const started = await mapLimit(names, o.fillConcurrency, (name) => startTimedPod(ctx, name, false, t0));
    const failed = started.filter((s) => !s.ok);
    if (failed.length > 0) throw new Error(`memory: ${failed.length} of ${names.length} pods failed to start on the way to ${target}: ${failed[0]?.error}`);
    running = target;
    const point = await readPoint(rc, o, target, performance.now() - t0);
    points.push(point);
    o.log(
      `  memory @${target} pods: mgmt ${point.mgmt_pss_mb} MB (${point.mgmt_processes} processes), per container ${point.container_pss_mb} MB PSS (${point.workload_processes} workload processes), containerd ${point.containerd_pss_mb} MB, filled in ${point.fill_ms} ms`,
    );
  }
  return points;
}
