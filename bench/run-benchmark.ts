/**
 * One benchmark run, in the calling process (which must be inside the isolation, see
 * `bench-main.ts`).
 *
 * Every available configuration is set up first and stays up for the whole run; the
 * latency phases are then **interleaved**: serial iteration i runs once per configuration
 * (in an order rotated by i) before iteration i+1, likewise the parallel rounds and the shim
 * `start` executions. Whatever else loads the machine then weighs on every configuration
 * alike, which is what makes the ratios to the baseline meaningful on a shared 2-core host.
 * Memory is measured one configuration at a time, while the others have no pods, and each
 * snapshot leaves out the other configurations' containerd and daemons. The VM section
 * (`vmm-section.ts`) runs last, once every configuration is closed.
 *
 * @internal benchmark, not part of the runtime
 */
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { cpus, release, totalmem } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ActiveConfiguration, idleResult } from "./active-configuration.js";
import { readDaemonPhases } from "./daemon-phases.js";
import type { BenchConfiguration } from "./bench-configuration.js";
import { MAX_BENCH_NETWORKS } from "./bench-network.js";
import type { BenchOptions } from "./bench-options.js";
import { measureManagementMemory } from "./management-memory.js";
import { removeAllPods } from "./pod-workload.js";
import { keepLogs } from "../testing/kuasard.js";
import { listProcesses } from "../testing/process-table.js";
import { BENCH_SCHEMA, type BenchResults, type ConfigurationResult, type ShimStartSample } from "./results.js";
import { measureSpawnFloor, shimStartArgv, shimStartOnce } from "./shim-start-latency.js";
import { waitForQuietCpu } from "./quiet-cpu.js";
import { parallelRound, serialIteration } from "./start-latency.js";
import { quantile, round } from "./stats.js";
import type { VmmSection } from "./vmm-results.js";
import { runVmmSection, type VmmSectionOptions } from "./vmm-section.js";

/**
 * Parent of each run's tmpfs dirs: kuasard's default state dir, a private tmpfs inside the
 * run's isolation (`testing/isolation.ts`), which nothing else inside uses.
 */
const BENCH_RUN_PARENT = "/run/kuasar";

const vmmSectionOptions = (o: BenchOptions): VmmSectionOptions => ({
  iterations: o.vmmIterations,
  podCounts: o.vmmPodCounts,
  settleMs: o.settleMs,
  snapshots: o.memorySnapshots,
  snapshotIntervalMs: o.memorySnapshotIntervalMs,
  callTimeoutMs: o.callTimeoutMs,
  teardownConcurrency: o.teardownConcurrency,
});

async function cpuModel(): Promise<string> {
  const text = await readFile("/proc/cpuinfo", "utf8").catch(() => "");
  return /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? cpus()[0]?.model ?? "unknown";
}

/** `list` rotated left by `by`. */
function rotate<T>(list: readonly T[], by: number): T[] {
  if (list.length === 0) return [];
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Brings up every available configuration; the others get their final result at once. */
async function setUp(configurations: readonly BenchConfiguration[], options: BenchOptions, workDir: string, runRoot: string, log: (line: string) => void) {
  const idle = new Map<string, ConfigurationResult>();
  const active: ActiveConfiguration[] = [];
  for (const [index, cfg] of configurations.entries()) {
    const unavailable = await cfg.availability();
    if (unavailable !== undefined) {
      log(`${cfg.label}: ${unavailable}`);
      idle.set(cfg.id, idleResult(cfg, "not_available", unavailable));
      continue;
    }
    const dir = join(workDir, String(index));
    const runDir = join(runRoot, String(index));
    await mkdir(dir, { recursive: true });
    await mkdir(runDir, { recursive: true });
    log(`${cfg.label}: setting up`);
    const t0 = performance.now();
    try {
      const rc = await cfg.setup({ dir, runDir, index, log });
      const ctx = { cri: rc.cri, runtimeHandler: rc.runtimeHandler, container: rc.container, logRoot: join(dir, "logs"), callTimeoutMs: options.callTimeoutMs };
      active.push(new ActiveConfiguration(cfg, rc, ctx, dir, Math.round(performance.now() - t0), log));
    } catch (err) {
      log(`${cfg.label}: setup FAILED: ${message(err)}`);
      idle.set(cfg.id, idleResult(cfg, "failed", `setup: ${message(err)}`));
    }
  }
  return { idle, active };
}

/** Runs `configurations` (baseline first) with `options`, then the VM section when `withVmm`. */
export async function runBenchmark(configurations: readonly BenchConfiguration[], options: BenchOptions, log: (line: string) => void, withVmm = true): Promise<BenchResults> {
  if (configurations.length > MAX_BENCH_NETWORKS) throw new RangeError(`at most ${MAX_BENCH_NETWORKS} configurations per run`);
  const startedAt = new Date();
  const t0 = performance.now();
  const before = new Set((await listProcesses()).map((p) => p.pid));
  // Short: containerd's and our socket paths live below it (108-byte limit).
  const workDir = await mkdtemp("/tmp/kb-");
  // Node state on tmpfs as on a node (/run), the rest on disk: see SetupContext.runDir.
  const runRoot = await mkdtemp(join(BENCH_RUN_PARENT, "kb-"));
  let spawnFloor: number | null = null;
  const { idle, active } = await setUp(configurations, options, workDir, runRoot, log);
  const alive = (): ActiveConfiguration[] => active.filter((a) => a.alive);
  try {
    spawnFloor = round(quantile(await measureSpawnFloor(options.shimStartIterations), 0.5), 3);

    const serialTotal = options.warmupIterations + options.serialIterations;
    log(`serial start: ${options.serialIterations} iterations (+${options.warmupIterations} warm-up), interleaved over ${alive().length} configurations`);
    // Wall-clock marks windowing kuasard's phase logs: counted serial iterations, then the parallel rounds.
    let serialFrom = Date.now();
    // Each timed start begins on a quiet node: not in the previous configuration's teardown.
    let noisy = 0;
    for (let i = 0; i < serialTotal; i++) {
      if (i === options.warmupIterations) serialFrom = Date.now();
      for (const a of rotate(alive(), i)) {
        await a.phase("serial start", async () => {
          if (!(await waitForQuietCpu())) noisy++;
          const s = await serialIteration(a.ctx, i, i < options.warmupIterations);
          a.samples.serial.push(s);
          if (!s.ok) log(`  ${a.cfg.label}: serial ${i} FAILED: ${s.error}`);
          if (i === serialTotal - 1 && a.samples.serial.every((x) => x.warmup || !x.ok)) throw new Error(`every pod start failed, first: ${a.samples.serial.find((x) => !x.ok)?.error}`);
        });
      }
    }
    if (noisy > 0) log(`  ${noisy} serial start(s) began on a node still busy after 2 s`);
    for (const a of alive()) log(`  ${a.cfg.label}: serial median ${quantile(a.samples.serial.filter((s) => s.ok && !s.warmup).map((s) => s.total_ms as number), 0.5).toFixed(0)} ms`);

    const parallelFrom = Date.now();
    log(`parallel start: ${options.parallelRounds} round(s) of ${options.parallelPods} pods`);
    for (let r = 0; r < options.parallelRounds; r++) {
      for (const a of rotate(alive(), r)) {
        await a.phase("parallel start", async () => {
          await waitForQuietCpu();
          const round = await parallelRound(a.ctx, r, options.parallelPods, options.teardownConcurrency);
          a.samples.parallel.push(round);
          const failed = round.samples.filter((s) => !s.ok);
          for (const s of failed) log(`  ${a.cfg.label}: ${s.name} FAILED: ${s.error}`);
          log(`  ${a.cfg.label}: round ${r}: ${round.total_ms === null ? `${failed.length} failed` : `${round.total_ms.toFixed(0)} ms`}`);
        });
      }
    }

    const windows = { serial: [serialFrom, parallelFrom], parallel: [parallelFrom, Date.now()] } as const;
    for (const a of alive()) {
      if (a.rc.phaseLog !== undefined) a.samples.daemon_phases = await readDaemonPhases(a.rc.phaseLog, windows);
    }

    for (const a of alive()) {
      await a.phase("management memory", async () => {
        const podCounts = options.podCounts.filter((n) => n <= (a.cfg.maxMemoryPods ?? Infinity));
        const skipped = options.podCounts.filter((n) => !podCounts.includes(n));
        log(`${a.cfg.label}: memory at ${podCounts.join(", ")} pods${skipped.length > 0 ? ` (not ${skipped.join(", ")}: at most ${a.cfg.maxMemoryPods} on this host)` : ""}`);
        const others = active.filter((o) => o !== a).flatMap((o) => o.rc.fixedPids);
        let pods = 0;
        try {
          a.samples.memory = await measureManagementMemory(a.rc, a.ctx, {
            podCounts,
            fillConcurrency: options.fillConcurrency,
            settleMs: options.settleMs,
            snapshots: options.memorySnapshots,
            snapshotIntervalMs: options.memorySnapshotIntervalMs,
            excludedPids: new Set([...before, ...others]),
            log,
          });
          pods = a.samples.memory[a.samples.memory.length - 1]?.pods ?? 0;
        } finally {
          const t = performance.now();
          const errors = await removeAllPods(a.rc.cri, options.teardownConcurrency, options.callTimeoutMs);
          const ms = Math.round(performance.now() - t);
          if (pods > 0 && errors.length === 0) a.samples.memory_teardown = { pods, ms };
          log(`  ${a.cfg.label}: teardown in ${ms} ms${errors.length > 0 ? `, ${errors.length} errors` : ""}`);
          if (errors.length > 0) throw new Error(`teardown: ${errors.join("; ")}`);
        }
      });
    }

    const launchers = alive().filter((a) => a.rc.shimLauncher !== undefined);
    log(`shim start: ${options.shimStartIterations} (+1 warm-up) per launcher, interleaved over ${launchers.length}`);
    const shimSamples = new Map<ActiveConfiguration, ShimStartSample[]>();
    for (const a of launchers) {
      const l = a.rc.shimLauncher!;
      const list: ShimStartSample[] = [];
      shimSamples.set(a, list);
      a.samples.shim_start = { binary: l.binary, argv: shimStartArgv(l, "k8s.io", "<id>"), samples: list };
    }
    for (let i = 0; i < options.shimStartIterations + 1; i++) {
      for (const a of rotate(launchers, i)) {
        await a.phase("shim start", async () => {
          shimSamples.get(a)?.push(await shimStartOnce(a.rc.shimLauncher!, i, i === 0, { dir: join(a.dir, "shim-start") }));
        });
      }
    }
  } finally {
    for (const a of active) await a.close();
    for (const d of [workDir, runRoot]) keepLogs(d);
    await rm(workDir, { recursive: true, force: true }).catch(() => {});
    await rm(runRoot, { recursive: true, force: true }).catch(() => {});
  }
  let vmm: VmmSection | undefined;
  if (withVmm) {
    // After every other configuration is closed: VMs alone on the machine, nothing else in the snapshots.
    log(`VM section: ${options.vmmIterations} floor boots and pod starts, memory at ${options.vmmPodCounts.join(", ")} VM pods`);
    const vmmDir = await mkdtemp("/tmp/kv-");
    try {
      const index = Math.min(configurations.length, MAX_BENCH_NETWORKS - 1);
      vmm = await runVmmSection(vmmSectionOptions(options), vmmDir, index, log);
    } finally {
      keepLogs(vmmDir);
      await rm(vmmDir, { recursive: true, force: true }).catch(() => {});
    }
  }
  const results = configurations.map((cfg) => idle.get(cfg.id) ?? (active.find((a) => a.cfg === cfg) as ActiveConfiguration).result(options.parallelPods));
  for (const c of results) {
    if (c.summary !== null) log(`${c.label}: ${c.status}: start median ${c.summary.start_ms_median} ms, ${c.summary.parallel_pods} parallel ${c.summary.parallel_total_ms} ms, mgmt slope ${c.summary.mgmt_pss_mb_per_pod} MB/pod`);
  }
  return {
    schema: BENCH_SCHEMA,
    mode: options.mode,
    started_at: startedAt.toISOString(),
    finished_at: new Date().toISOString(),
    duration_s: round((performance.now() - t0) / 1000, 1),
    host: { kernel: release(), cpus: cpus().length, cpu_model: await cpuModel(), mem_total_mb: Math.round(totalmem() / 2 ** 20), node: process.version },
    options: { ...options },
    spawn_floor_ms: spawnFloor,
    configurations: results,
    ...(vmm !== undefined ? { vmm } : {}),
  };
}
