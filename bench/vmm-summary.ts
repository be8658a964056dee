/**
 * Summary of the VM section from its samples: order statistics of the floor and pod start,
 * their ratio, and the memory slopes.
 *
 * @internal benchmark, not part of the runtime
 */
import { linearFit, quantile, round } from "./stats.js";
import type { VmmFloorSample, VmmMemoryPoint, VmmSummary, VmmTemplateSummary } from "./vmm-results.js";

/** NaN (nothing measured) becomes null, like in the rest of the JSON. */
const num = (v: number, digits = 1): number | null => (Number.isFinite(v) ? round(v, digits) : null);

/** Summary of the floor boots, the pod starts (`null` = failed) and the memory points. */
export function summarizeVmm(floor: readonly VmmFloorSample[], podStartMs: readonly (number | null)[], memory: readonly VmmMemoryPoint[]): VmmSummary {
  const f = floor.flatMap((s) => (s.ok && s.boot_ms !== null ? [s.boot_ms] : []));
  const p = podStartMs.filter((v): v is number => v !== null);
  const fMedian = quantile(f, 0.5);
  const pMedian = quantile(p, 0.5);
  const last = memory.reduce<VmmMemoryPoint | undefined>((a, m) => (a === undefined || m.pods > a.pods ? m : a), undefined);
  const perPod = (v: number | undefined): number | null => (last !== undefined && last.pods > 0 && v !== undefined ? round(v, 2) : null);
  return {
    floor_ms_min: num(Math.min(...f)),
    floor_ms_median: num(fMedian),
    floor_ms_p90: num(quantile(f, 0.9)),
    pod_start_ms_min: num(Math.min(...p)),
    pod_start_ms_median: num(pMedian),
    pod_start_ms_p90: num(quantile(p, 0.9)),
    pod_start_over_floor: fMedian > 0 ? num(pMedian / fMedian, 2) : null,
    mgmt_pss_mb_per_pod: num(linearFit(memory.map((m) => [m.pods, m.mgmt_pss_mb] as const)).slope, 2),
    qemu_pss_mb_per_pod: perPod(last?.qemu_pss_mb),
    virtiofsd_pss_mb_per_pod: perPod(last?.virtiofsd_pss_mb),
  };
}

/** Summary of the template path against the same run's floor and boot-path pod starts. */
export function summarizeVmmTemplate(floor: readonly VmmFloorSample[], bootPodStartMs: readonly (number | null)[], podStartMs: readonly (number | null)[], memory: readonly VmmMemoryPoint[]): VmmTemplateSummary {
  const p = podStartMs.filter((v): v is number => v !== null);
  const boot = summarizeVmm(floor, bootPodStartMs, memory);
  const fMedian = boot.floor_ms_median;
  const bMedian = boot.pod_start_ms_median;
  const pMedian = quantile(p, 0.5);
  return {
    pod_start_ms_min: num(Math.min(...p)),
    pod_start_ms_median: num(pMedian),
    pod_start_ms_p90: num(quantile(p, 0.9)),
    pod_start_over_floor: fMedian !== null && fMedian > 0 ? num(pMedian / fMedian, 2) : null,
    pod_start_over_boot_path: bMedian !== null && bMedian > 0 ? num(pMedian / bMedian, 2) : null,
    qemu_pss_mb_per_pod: boot.qemu_pss_mb_per_pod,
    virtiofsd_pss_mb_per_pod: boot.virtiofsd_pss_mb_per_pod,
  };
}
