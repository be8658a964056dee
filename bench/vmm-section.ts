/**
 * The VM section of a benchmark run (`vmm` in the JSON): the vmm sandboxer's pods on stock
 * containerd 2.x (kuasard hosting runc + vmm, handler `kuasar-vmm`), kept light because each
 * pod is a micro-VM that may be software-emulated. Two paths in the same run, each on its own
 * containerd + kuasard: the boot path (every pod boots its guest) and the template path
 * (`template = true`: pods restored from a VM template, built before the timed iterations as
 * `kuasar-ctl template build` would, and reported apart). K serial pod starts of each path
 * interleaved with K bare boots of the same kernel + initrd (the floor), then memory at a few
 * pod counts, one path at a time, with QEMU and virtiofsd reported apart from the management
 * processes. Runs after the other configurations are closed, so none of their processes load
 * the machine or the snapshots.
 *
 * @internal benchmark, not part of the runtime
 */
import { statSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { silentLogger } from "../src/log/logger.js";
import { QemuDriver } from "../src/sandboxers/vmm/qemu/qemu-driver.js";
import { VmTemplates } from "../src/sandboxers/vmm/vm-templates.js";
import { containerdBinaries } from "../testing/deps.js";
import type { RunningConfiguration } from "./bench-configuration.js";
import { MAX_BENCH_NETWORKS } from "./bench-network.js";
import { kuasarDirectConfiguration, kuasarDirectKindDir, kuasarMissing } from "./kuasar-direct.js";
import { removeAllPods, startTimedPod, type PodStartContext } from "./pod-workload.js";
import { serialIteration } from "./start-latency.js";
import { quantile, round } from "./stats.js";
import { VmmFloor, vmmBenchHypervisor, vmmMissing } from "./vmm-floor.js";
import { readVmmMemory, type VmmMemoryReading } from "./vmm-memory.js";
import type { PodStartSample } from "./results.js";
import type { VmmCriPhases, VmmFloorSample, VmmMemoryPoint, VmmSection, VmmTemplatePath } from "./vmm-results.js";
import { summarizeVmm, summarizeVmmTemplate } from "./vmm-summary.js";

/** What {@link runVmmSection} needs from the run's options. */
export interface VmmSectionOptions {
  /** Floor boots and pod starts each (interleaved), after one pod-start warm-up. */
  readonly iterations: number;
  /** Pod counts of the memory phase, ascending. */
  readonly podCounts: readonly number[];
  readonly settleMs: number;
  readonly snapshots: number;
  readonly snapshotIntervalMs: number;
  readonly callTimeoutMs: number;
  readonly teardownConcurrency: number;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The section with nothing measured (prerequisites missing, or broken before any sample). */
export function emptyVmmSection(status: "not_available" | "failed", reason: string, iterations: number): VmmSection {
  const o = vmmBenchHypervisor();
  return { status, reason, accelerator: null, accelerator_reason: null, vcpus: o.vcpus, memory_mb: o.memoryInMb, iterations, teardown_error: null, summary: null, samples: { floor: [], pod_start_ms: [], pod_start_errors: [], memory: [] } };
}

/** Why the section cannot run here, or undefined. */
async function unavailable(): Promise<string | undefined> {
  try {
    containerdBinaries("2");
  } catch (err) {
    return message(err);
  }
  return (await kuasarMissing("vmm")) ?? (await vmmMissing());
}

const median = (xs: readonly number[]): number => round(quantile(xs, 0.5), 2);

/** Median of each field over the readings at one pod count. */
function memoryPoint(pods: number, rs: readonly VmmMemoryReading[]): VmmMemoryPoint {
  const last = rs[rs.length - 1] as VmmMemoryReading;
  return {
    pods,
    mgmt_pss_mb: median(rs.map((r) => r.mgmt_pss_kb / 1024)),
    qemu_pss_mb: median(rs.map((r) => r.qemu_pss_kb / 1024)),
    qemu_rss_mb: median(rs.map((r) => r.qemu_rss_kb / 1024)),
    virtiofsd_pss_mb: pods === 0 ? 0 : median(rs.map((r) => r.virtiofsd_pss_kb / 1024 / pods)),
    qemu_processes: last.qemu_processes,
    virtiofsd_processes: last.virtiofsd_processes,
  };
}

/** What the daemon logs once per pod it restored from a template (`vm-host.ts`). */
const RESTORED_MESSAGE = '"msg":"VM restored from its template"';

/** What the daemon logs once per restore, with its steps (`vm-restore.ts`). */
const RESTORE_STEPS_MESSAGE = '"msg":"guest agent answered (restored from a template)"';
/** The steps of that line, in the order they happen. */
const RESTORE_STEPS = ["spawn_ms", "qmp_ms", "state_loaded_ms", "plugged_ms", "agent_ms", "mounted_ms", "restore_ms"] as const;

/** What the daemon logs once per pod whose guest it set up after its boot or restore (`vm-host.ts`), with `setup_ms`. */
const GUEST_SETUP_MESSAGE = '"msg":"guest set up"';

/** The JSON lines of `logs` carrying `message`. */
function logLines(logs: string, message: string): Record<string, unknown>[] {
  return logs.split("\n").filter((l) => l.includes(message)).flatMap((l) => {
    try {
      return [JSON.parse(l) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

/**
 * Medians of each restore step over the lines of `logs` that report one, and of the guest
 * setup that follows (`setup_ms`, its own duration); null when none do.
 */
export function restoreSteps(logs: string): Record<string, number> | null {
  const out: Record<string, number> = {};
  for (const [message, steps] of [[RESTORE_STEPS_MESSAGE, RESTORE_STEPS], [GUEST_SETUP_MESSAGE, ["setup_ms"]]] as const) {
    const parsed = logLines(logs, message);
    for (const step of steps) {
      const xs = parsed.map((p) => p[step]).filter((v): v is number => typeof v === "number");
      if (xs.length > 0) out[step] = median(xs);
    }
  }
  return Object.keys(out).length > 0 ? out : null;
}

/** Medians of each CRI call over the successful timed pod starts; null when there were none. */
function criPhases(samples: readonly PodStartSample[]): VmmCriPhases | null {
  const ok = samples.filter((s) => s.ok);
  if (ok.length === 0) return null;
  const of = (f: (s: PodStartSample) => number | null) => {
    const xs = ok.map(f).filter((v): v is number => v !== null);
    return xs.length > 0 ? median(xs) : null;
  };
  return {
    run_pod_sandbox_ms: of((s) => s.run_pod_sandbox_ms),
    create_container_ms: of((s) => s.create_container_ms),
    start_container_ms: of((s) => s.start_container_ms),
    until_running_ms: of((s) => s.until_running_ms),
  };
}

/** One path's running containerd + kuasard and what it measured. */
interface VmmPath {
  readonly name: string;
  readonly rc: RunningConfiguration;
  readonly ctx: PodStartContext;
  readonly podMs: (number | null)[];
  /** The timed pod starts, for the CRI calls' medians. */
  readonly samples: PodStartSample[];
  readonly podErrors: string[];
  readonly memory: VmmMemoryPoint[];
  /** Pods started, warm-up and memory pods included. */
  started: number;
}

async function openPath(name: string, template: boolean, dir: string, index: number, o: VmmSectionOptions, log: (line: string) => void): Promise<VmmPath> {
  await mkdir(dir, { recursive: true });
  const rc = await kuasarDirectConfiguration("vmm", { vmmTemplate: template }).setup({ dir, index, log });
  const ctx: PodStartContext = { cri: rc.cri, runtimeHandler: rc.runtimeHandler, container: rc.container, logRoot: join(dir, "logs"), callTimeoutMs: o.callTimeoutMs };
  return { name, rc, ctx, podMs: [], samples: [], podErrors: [], memory: [], started: 0 };
}

/** Memory of `path` at each pod count (0 first), its pods left running. */
async function measureMemory(path: VmmPath, o: VmmSectionOptions, log: (line: string) => void): Promise<void> {
  const mgmtPids = path.rc.fixedPids.filter((p) => p !== path.rc.containerdPid);
  let pods = 0;
  for (const target of [0, ...o.podCounts]) {
    const t0 = performance.now();
    for (; pods < target; pods++) {
      path.started++;
      const s = await startTimedPod(path.ctx, `mem-${pods}`, false, t0);
      if (!s.ok) throw new Error(`${path.name} memory: pod ${pods + 1}: ${s.error}`);
    }
    const fillMs = Math.round(performance.now() - t0);
    await new Promise((r) => setTimeout(r, o.settleMs));
    const readings: VmmMemoryReading[] = [];
    for (let k = 0; k < o.snapshots; k++) {
      if (k > 0) await new Promise((r) => setTimeout(r, o.snapshotIntervalMs));
      readings.push(await readVmmMemory(mgmtPids));
    }
    const m = memoryPoint(target, readings);
    path.memory.push(m);
    log(`  vmm ${path.name} memory at ${target} pods (filled in ${fillMs} ms): mgmt ${m.mgmt_pss_mb} MB, QEMU ${m.qemu_pss_mb} MB PSS / ${m.qemu_rss_mb} MB RSS each, virtiofsd ${m.virtiofsd_pss_mb} MB per pod`);
  }
}

/** Removes every pod of `path`; the errors, joined, or null. */
async function removePathPods(path: VmmPath, o: VmmSectionOptions): Promise<string | null> {
  const errors = await removeAllPods(path.rc.cri, o.teardownConcurrency, o.callTimeoutMs).catch((err: unknown) => [message(err)]);
  return errors.length > 0 ? `${path.name}: ${errors.join("; ")}` : null;
}

/** How many pods the template path's daemon restored (its log says so once per pod). */
async function restoredPods(path: VmmPath): Promise<number> {
  return (await path.rc.logs()).split("\n").filter((l) => l.includes(RESTORED_MESSAGE)).length;
}

/** Runs the VM section in `dir`; never throws (a failure is the section's status). */
export async function runVmmSection(o: VmmSectionOptions, dir: string, index: number, log: (line: string) => void): Promise<VmmSection> {
  const missing = await unavailable();
  if (missing !== undefined) {
    log(`vmm: not available: ${missing}`);
    return emptyVmmSection("not_available", missing, o.iterations);
  }
  const hv = vmmBenchHypervisor();
  const floorSamples: VmmFloorSample[] = [];
  let floor: VmmFloor | undefined;
  let boot: VmmPath | undefined;
  let tpl: VmmPath | undefined;
  let tplKey: string | null = null;
  let buildMs: number | null = null;
  let tplDataMb: number | null = null;
  let restored = 0;
  let steps: Record<string, number> | null = null;
  let failure: string | null = null;
  const teardown: string[] = [];
  try {
    await mkdir(dir, { recursive: true });
    floor = await VmmFloor.open(join(dir, "f"));
    log(`vmm: accelerator ${floor.choice.accelerator} (${floor.choice.reason})`);
    boot = await openPath("boot", false, join(dir, "c"), index, o, log);
    // Any other subnet: every other configuration is closed by now.
    tpl = await openPath("template", true, join(dir, "t"), index === MAX_BENCH_NETWORKS - 1 ? index - 1 : index + 1, o, log);
    // Ahead of time, as `kuasar-ctl template build` makes it: the same store, shape and code as the daemon's.
    const size = { vcpus: hv.vcpus, memoryMb: hv.memoryInMb };
    const templates = new VmTemplates(new QemuDriver(hv.path, hv.machineType), { ...hv, template: true }, kuasarDirectKindDir(join(dir, "t"), "vmm"), silentLogger());
    const b0 = performance.now();
    const t = await templates.obtain(floor.choice.accelerator, size);
    buildMs = Math.round(performance.now() - b0);
    tplKey = t.key;
    tplDataMb = round((statSync(t.memoryFile).blocks * 512) / 2 ** 20, 1);
    log(`vmm: template ${t.key} built in ${buildMs} ms (RAM file ${tplDataMb} MB of data)`);
    // The warm-ups create the busybox snapshots and fill the page cache with the guest image.
    for (const p of [boot, tpl]) {
      p.started++;
      const warm = await serialIteration(p.ctx, 0, true);
      if (!warm.ok) throw new Error(`${p.name} warm-up pod start: ${warm.error}`);
    }
    for (let i = 0; i < o.iterations; i++) {
      // Interleaved so that whatever loads the machine weighs on all three alike.
      const f = await floor.bootOnce(i);
      floorSamples.push(f);
      const line = [`  vmm ${i}: floor ${f.boot_ms?.toFixed(0) ?? `FAILED (${f.error})`} ms`];
      for (const p of [boot, tpl]) {
        p.started++;
        const s = await serialIteration(p.ctx, i + 1, false);
        p.podMs.push(s.ok ? s.total_ms : null);
        p.samples.push(s);
        if (!s.ok) p.podErrors.push(s.error ?? "?");
        line.push(`${p.name} pod start ${s.ok ? `${s.total_ms?.toFixed(0)} ms` : `FAILED (${s.error})`}`);
      }
      log(line.join(", "));
    }
    // One path at a time: the QEMU and virtiofsd processes counted are that path's alone.
    for (const p of [boot, tpl]) {
      await measureMemory(p, o, log);
      const e = await removePathPods(p, o);
      if (e !== null) throw new Error(`teardown after the memory phase: ${e}`);
    }
    restored = await restoredPods(tpl);
    if (restored !== tpl.started) throw new Error(`template path: the daemon restored ${restored} of ${tpl.started} pods (the others booted)`);
  } catch (err) {
    failure = message(err);
    log(`vmm: FAILED: ${failure}`);
  } finally {
    for (const p of [boot, tpl]) {
      if (p === undefined) continue;
      // The numbers stand; a pod that will not go away is reported beside them.
      const e = await removePathPods(p, o);
      if (e !== null) {
        teardown.push(e);
        log(`vmm: teardown: ${e}`);
      }
      if (p === tpl && failure !== null) restored = await restoredPods(p).catch(() => restored);
      if (p === tpl) steps = restoreSteps(await p.rc.logs().catch(() => ""));
      await p.rc.close();
    }
  }
  const bootMs = boot?.podMs ?? [];
  const bootMemory = boot?.memory ?? [];
  const template: VmmTemplatePath | null =
    tpl === undefined
      ? null
      : {
          key: tplKey,
          build_ms: buildMs,
          memory_file_data_mb: tplDataMb,
          restored_pods: restored,
          started_pods: tpl.started,
          summary: tpl.podMs.length + tpl.memory.length > 0 ? summarizeVmmTemplate(floorSamples, bootMs, tpl.podMs, tpl.memory) : null,
          cri_phases_ms: criPhases(tpl.samples),
          restore_steps_ms: steps,
          samples: { pod_start_ms: tpl.podMs, pod_start_errors: tpl.podErrors, memory: tpl.memory },
        };
  return {
    status: failure === null ? "ok" : "failed",
    reason: failure,
    accelerator: floor?.choice.accelerator ?? null,
    accelerator_reason: floor?.choice.reason ?? null,
    vcpus: hv.vcpus,
    memory_mb: hv.memoryInMb,
    iterations: o.iterations,
    teardown_error: teardown.length > 0 ? teardown.join("; ") : null,
    summary: floorSamples.length + bootMs.length > 0 ? summarizeVmm(floorSamples, bootMs, bootMemory) : null,
    cri_phases_ms: boot ? criPhases(boot.samples) : null,
    template,
    samples: { floor: floorSamples, pod_start_ms: bootMs, pod_start_errors: boot?.podErrors ?? [], memory: bootMemory },
  };
}
