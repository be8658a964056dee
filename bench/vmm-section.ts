/**
 * The VM section of a benchmark run (`vmm` in the JSON): the vmm sandboxer's pods on stock
 * containerd 2.x (kuasard hosting runc + vmm, handler `kuasar-vmm`), kept light because each
 * pod is a micro-VM that may be software-emulated: K serial pod starts interleaved with K bare
 * boots of the same kernel + initrd (the floor), then memory at a few pod counts with QEMU and
 * virtiofsd reported apart from the management processes. Runs after the other
 * configurations are closed, so none of their processes load the machine or the snapshots.
 *
 * @internal benchmark, not part of the runtime
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { containerdBinaries } from "../testing/deps.js";
import type { RunningConfiguration } from "./bench-configuration.js";
import { kuasarDirectConfiguration, kuasarMissing } from "./kuasar-direct.js";
import { removeAllPods, startTimedPod, type PodStartContext } from "./pod-workload.js";
import { serialIteration } from "./start-latency.js";
import { quantile, round } from "./stats.js";
import { VmmFloor, vmmBenchHypervisor, vmmMissing } from "./vmm-floor.js";
import { readVmmMemory, type VmmMemoryReading } from "./vmm-memory.js";
import type { VmmFloorSample, VmmMemoryPoint, VmmSection } from "./vmm-results.js";
import { summarizeVmm } from "./vmm-summary.js";

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

/** Runs the VM section in `dir`; never throws (a failure is the section's status). */
export async function runVmmSection(o: VmmSectionOptions, dir: string, index: number, log: (line: string) => void): Promise<VmmSection> {
  const missing = await unavailable();
  if (missing !== undefined) {
    log(`vmm: not available: ${missing}`);
    return emptyVmmSection("not_available", missing, o.iterations);
  }
  const floorSamples: VmmFloorSample[] = [];
  const podMs: (number | null)[] = [];
  const podErrors: string[] = [];
  const memory: VmmMemoryPoint[] = [];
  let floor: VmmFloor | undefined;
  let rc: RunningConfiguration | undefined;
  let failure: string | null = null;
  let teardownError: string | null = null;
  try {
    await mkdir(dir, { recursive: true });
    floor = await VmmFloor.open(join(dir, "f"));
    log(`vmm: accelerator ${floor.choice.accelerator} (${floor.choice.reason})`);
    const cfg = kuasarDirectConfiguration("vmm");
    await mkdir(join(dir, "c"), { recursive: true });
    rc = await cfg.setup({ dir: join(dir, "c"), index, log });
    const ctx: PodStartContext = { cri: rc.cri, runtimeHandler: rc.runtimeHandler, container: rc.container, logRoot: join(dir, "logs"), callTimeoutMs: o.callTimeoutMs };
    // The warm-up creates the busybox snapshot and fills the page cache with the guest image.
    const warm = await serialIteration(ctx, 0, true);
    if (!warm.ok) throw new Error(`warm-up pod start: ${warm.error}`);
    for (let i = 0; i < o.iterations; i++) {
      // Interleaved so that whatever loads the machine weighs on both alike.
      const f = await floor.bootOnce(i);
      floorSamples.push(f);
      const s = await serialIteration(ctx, i + 1, false);
      podMs.push(s.ok ? s.total_ms : null);
      if (!s.ok) podErrors.push(s.error ?? "?");
      log(`  vmm ${i}: floor ${f.boot_ms?.toFixed(0) ?? `FAILED (${f.error})`} ms, pod start ${s.ok ? `${s.total_ms?.toFixed(0)} ms` : `FAILED (${s.error})`}`);
    }
    const mgmtPids = rc.fixedPids.filter((p) => p !== rc?.containerdPid);
    let pods = 0;
    for (const target of [0, ...o.podCounts]) {
      const t0 = performance.now();
      for (; pods < target; pods++) {
        const s = await startTimedPod(ctx, `mem-${pods}`, false, t0);
        if (!s.ok) throw new Error(`memory: pod ${pods + 1}: ${s.error}`);
      }
      const fillMs = Math.round(performance.now() - t0);
      await new Promise((r) => setTimeout(r, o.settleMs));
      const readings: VmmMemoryReading[] = [];
      for (let k = 0; k < o.snapshots; k++) {
        if (k > 0) await new Promise((r) => setTimeout(r, o.snapshotIntervalMs));
        readings.push(await readVmmMemory(mgmtPids));
      }
      const m = memoryPoint(target, readings);
      memory.push(m);
      log(`  vmm memory at ${target} pods (filled in ${fillMs} ms): mgmt ${m.mgmt_pss_mb} MB, QEMU ${m.qemu_pss_mb} MB PSS / ${m.qemu_rss_mb} MB RSS each, virtiofsd ${m.virtiofsd_pss_mb} MB per pod`);
    }
  } catch (err) {
    failure = message(err);
    log(`vmm: FAILED: ${failure}`);
  } finally {
    if (rc !== undefined) {
      const errors = await removeAllPods(rc.cri, o.teardownConcurrency, o.callTimeoutMs).catch((err: unknown) => [message(err)]);
      if (errors.length > 0) {
        // The numbers stand; a pod that will not go away is reported beside them.
        teardownError = errors.join("; ");
        log(`vmm: teardown: ${errors.join("; ")}`);
      }
      await rc.close();
    }
  }
  const hv = vmmBenchHypervisor();
  return {
    status: failure === null ? "ok" : "failed",
    reason: failure,
    accelerator: floor?.choice.accelerator ?? null,
    accelerator_reason: floor?.choice.reason ?? null,
    vcpus: hv.vcpus,
    memory_mb: hv.memoryInMb,
    iterations: o.iterations,
    teardown_error: teardownError,
    summary: floorSamples.length + podMs.length > 0 ? summarizeVmm(floorSamples, podMs, memory) : null,
    samples: { floor: floorSamples, pod_start_ms: podMs, pod_start_errors: podErrors, memory },
  };
}
