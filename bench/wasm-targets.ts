/**
 * Issue 17's targets for a wasm configuration, checked against the runc sandboxer on the same
 * containerd path in the same run (its `compare_with` peer): start latency as ratios to the
 * peer, per-container memory as absolute limits (a runc container's process shares busybox's
 * pages, so a ratio to it would say little).
 *
 * @internal benchmark, not part of the runtime
 */
import type { ConfigurationResult, PodStartSample } from "./results.js";
import { quantile } from "./stats.js";
import { ratioTarget, type TargetCheck } from "./targets.js";

/** The targets as stated in issue 17. */
export const WASM_TARGETS = {
  startContainerRatio: 0.3,
  serialStartRatio: 0.7,
  containerPssMbAt50: 1.5,
  containerRssMb: 8,
} as const;

/** Median of one CRI phase (or sum of phases) over the counted serial samples of `c`, ms; null when none. */
export function serialPhaseMedian(c: ConfigurationResult, f: (s: PodStartSample) => number | null): number | null {
  const v = quantile(
    c.samples.serial.filter((s) => s.ok && !s.warmup).map((s) => f(s) as number),
    0.5,
  );
  return Number.isFinite(v) ? v : null;
}

/** StartContainer plus ContainerStatus until RUNNING of one sample, ms. */
export const startToRunningMs = (s: PodStartSample): number | null =>
  s.start_container_ms === null || s.until_running_ms === null ? null : s.start_container_ms + s.until_running_ms;

function limitTarget(key: TargetCheck["key"], target: string, value: number | null | undefined, limit: number): TargetCheck {
  if (value === null || value === undefined) return { key, target, measured: "not measured", status: "not measured", missBy: null };
  const measured = `${value.toFixed(2)} MB`;
  return value <= limit
    ? { key, target, measured, status: "met", missBy: null }
    : { key, target, measured, status: "missed", missBy: `${(value - limit).toFixed(2)} MB over (+${((value / limit - 1) * 100).toFixed(0)}%)` };
}

/** Checks issue 17's targets for `wasm` against `runc` (the runc sandboxer on the same path, same run). */
export function checkWasmTargets(wasm: ConfigurationResult, runc: ConfigurationResult): TargetCheck[] {
  const t = WASM_TARGETS;
  const maxPods = Object.keys(wasm.summary?.container_rss_mb ?? {})
    .map(Number)
    .sort((a, b) => a - b)
    .at(-1);
  return [
    ratioTarget(
      "wasm_start_container",
      `StartContainer + until RUNNING median <= ${t.startContainerRatio}x the runc sandboxer's`,
      serialPhaseMedian(wasm, startToRunningMs),
      serialPhaseMedian(runc, startToRunningMs),
      t.startContainerRatio,
      "ms",
    ),
    ratioTarget(
      "wasm_serial_start",
      `serial pod start median <= ${t.serialStartRatio}x the runc sandboxer's`,
      wasm.summary?.start_ms_median ?? null,
      runc.summary?.start_ms_median ?? null,
      t.serialStartRatio,
      "ms",
    ),
    limitTarget("wasm_container_pss_50", `per-container PSS at 50 pods <= ${t.containerPssMbAt50} MB`, wasm.summary?.container_pss_mb["50"], t.containerPssMbAt50),
    limitTarget(
      "wasm_container_rss",
      `per-container RSS${maxPods === undefined ? "" : ` at ${maxPods} pods`} <= ${t.containerRssMb} MB`,
      maxPods === undefined ? null : wasm.summary?.container_rss_mb[String(maxPods)],
      t.containerRssMb,
    ),
  ];
}
