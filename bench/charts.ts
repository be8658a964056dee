/**
 * The report's charts, from the JSON alone: serial start-latency CDF and parallel per-pod
 * latency CDF per configuration, and management PSS against the pod count.
 *
 * @internal benchmark, not part of the runtime
 */
import { CHART_FILES } from "./markdown-report.js";
import type { BenchResults, PodStartSample } from "./results.js";
import { lineChart, type ChartSeries } from "./svg-chart.js";

/** Step points of the empirical CDF of `values`: (v_i, i/n), starting at (v_0, 0). */
export function cdfPoints(values: readonly number[]): [number, number][] {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return [];
  return [[s[0] as number, 0], ...s.map((v, i): [number, number] => [v, (i + 1) / s.length])];
}

const totals = (samples: readonly PodStartSample[]): number[] => samples.filter((s) => s.ok && !s.warmup).map((s) => s.total_ms as number);

/** File name -> SVG text of every chart. */
export function renderCharts(results: BenchResults): Map<string, string> {
  const ran = results.configurations.filter((c) => c.status === "ok" || c.summary !== null);
  const dashed = (role: string): boolean => role === "reference";
  const subtitle = `${results.mode} run ${results.started_at.slice(0, 16).replace("T", " ")} UTC, ${results.host.cpus} CPUs, kernel ${results.host.kernel}`;
  const out = new Map<string, string>();
  const serial: ChartSeries[] = ran.map((c) => ({ name: c.label, points: cdfPoints(totals(c.samples.serial)), step: true, dashed: dashed(c.role) }));
  out.set(
    CHART_FILES.startCdf,
    lineChart(serial, { title: "Pod start latency, serial (RunPodSandbox → container RUNNING)", subtitle, xLabel: "latency (ms)", yLabel: "fraction of pods", yMin: 0, yMax: 1 }),
  );
  const parallel: ChartSeries[] = ran.map((c) => ({ name: c.label, points: cdfPoints(c.samples.parallel.flatMap((r) => totals(r.samples))), step: true, dashed: dashed(c.role) }));
  const pods = ran[0]?.summary?.parallel_pods ?? 0;
  out.set(
    CHART_FILES.parallelCdf,
    lineChart(parallel, { title: `Pod start latency, ${pods} pods at once (per pod)`, subtitle, xLabel: "latency (ms)", yLabel: "fraction of pods", yMin: 0, yMax: 1 }),
  );
  const memory: ChartSeries[] = ran.map((c) => ({ name: c.label, points: c.samples.memory.map((p): [number, number] => [p.pods, p.mgmt_pss_mb]), markers: true, dashed: dashed(c.role) }));
  out.set(
    CHART_FILES.memory,
    lineChart(memory, { title: "Management memory (summed PSS) vs running pods", subtitle, xLabel: "pods running", yLabel: "management PSS (MB)" }),
  );
  return out;
}
