/**
 * The markdown report: one table with every available configuration and its ratio to the
 * baseline of the same run, the targets with their verdicts, and what did not run and why.
 * Rendered from the JSON alone, so the README section can be regenerated from it.
 *
 * @internal benchmark, not part of the runtime
 */
import { renderPhaseSection } from "./phase-report.js";
import type { BenchResults, ConfigurationResult, ConfigurationSummary } from "./results.js";
import { checkTargets, type TargetCheck } from "./targets.js";
import { checkWasmTargets, serialPhaseMedian, startToRunningMs } from "./wasm-targets.js";
import { renderVmmSection } from "./vmm-report.js";

/** Options of {@link renderMarkdown}. */
export interface MarkdownOptions {
  /** Prefix of the chart links (`""` next to the SVGs, `"bench-results/"` from the README). */
  readonly chartPrefix: string;
  /** Heading level of the report's own heading (2 = `##`). Default 2. */
  readonly headingLevel: number;
}

/** Chart files the report links to (written by `charts.ts`). */
export const CHART_FILES = {
  startCdf: "start-latency-cdf.svg",
  parallelCdf: "parallel-latency-cdf.svg",
  memory: "mgmt-memory.svg",
} as const;

type Row = { label: string; value: (s: ConfigurationSummary) => number | null; digits: number; ratio: boolean };

const fmt = (v: number | null, digits: number): string => (v === null || !Number.isFinite(v) ? "—" : v.toFixed(digits));

function rows(podCounts: readonly string[], parallelPods: number, floorMs: number | null): Row[] {
  const maxPods = podCounts[podCounts.length - 1] ?? "?";
  // Per-container figures at the first and the largest pod count: PSS shares a runtime's pages among its containers.
  const counted = [...new Set([podCounts.find((n) => n !== "0"), podCounts[podCounts.length - 1]])].filter((n): n is string => n !== undefined && n !== "0");
  return [
    { label: "serial start, median (ms)", value: (s) => s.start_ms_median, digits: 0, ratio: true },
    { label: "serial start, p90 (ms)", value: (s) => s.start_ms_p90, digits: 0, ratio: true },
    { label: "serial start, min (ms)", value: (s) => s.start_ms_min, digits: 0, ratio: true },
    { label: `${parallelPods} pods in parallel, total (ms)`, value: (s) => s.parallel_total_ms, digits: 0, ratio: true },
    { label: `${parallelPods} pods in parallel, per-pod median (ms)`, value: (s) => s.parallel_pod_ms_median, digits: 0, ratio: true },
    ...podCounts.map((n): Row => ({ label: `management PSS at ${n} pod${n === "1" ? "" : "s"} (MB)`, value: (s) => s.mgmt_pss_mb[n] ?? null, digits: 1, ratio: n !== "0" })),
    { label: "management PSS slope (MB/pod)", value: (s) => s.mgmt_pss_mb_per_pod, digits: 2, ratio: true },
    { label: "management PSS of the first pod (MB)", value: (s) => s.mgmt_pss_mb_first_pod, digits: 2, ratio: true },
    ...counted.map((n): Row => ({ label: `per-container PSS at ${n} pod${n === "1" ? "" : "s"} (MB)`, value: (s) => s.container_pss_mb[n] ?? null, digits: 2, ratio: true })),
    { label: `per-container RSS at ${maxPods} pods (MB)`, value: (s) => s.container_rss_mb[maxPods] ?? null, digits: 2, ratio: true },
    { label: "workload PSS slope (MB/pod)", value: (s) => s.workload_pss_mb_per_pod, digits: 2, ratio: true },
    { label: "all non-containerd PSS slope (MB/pod)", value: (s) => s.node_pss_mb_per_pod, digits: 2, ratio: true },
    { label: "management processes per pod", value: (s) => s.mgmt_processes_per_pod, digits: 2, ratio: false },
    { label: "workload processes per pod", value: (s) => s.workload_processes_per_pod, digits: 2, ratio: false },
    { label: "processes per pod (incl. workload)", value: (s) => s.processes_per_pod, digits: 2, ratio: false },
    { label: `containerd PSS at ${podCounts[podCounts.length - 1] ?? "?"} pods (MB)`, value: (s) => s.containerd_pss_mb[podCounts[podCounts.length - 1] ?? ""] ?? null, digits: 1, ratio: true },
    { label: `stop + remove ${podCounts[podCounts.length - 1] ?? "?"} pods (ms)`, value: (s) => s.teardown_ms, digits: 0, ratio: true },
    { label: "shim `start`, median (ms)", value: (s) => s.shim_start_ms_median, digits: 2, ratio: true },
    { label: `shim \`start\`, median minus the ${floorMs === null ? "?" : floorMs.toFixed(1)} ms spawn floor (ms)`, value: (s) => (s.shim_start_ms_median === null || floorMs === null ? null : s.shim_start_ms_median - floorMs), digits: 2, ratio: true },
  ];
}

const esc = (s: string): string => s.replace(/\|/g, "\\|");

const phaseMedian = serialPhaseMedian;

/** One row per check of a targets table. */
const targetRows = (label: string, checks: readonly TargetCheck[]): string[] =>
  checks.map((t) => `| ${esc(label)} | ${esc(t.target)} | ${esc(t.measured)} | ${t.status === "missed" ? "**missed**" : t.status} | ${esc(t.missBy ?? "")} |`);

/** Issue 17's targets for every wasm configuration whose runc peer ran (`wasm-targets.ts`). */
function wasmTargets(ran: readonly ConfigurationResult[], h: string): string[] {
  const pairs = ran.flatMap((c) => {
    const peer = ran.find((p) => p.id === c.compare_with);
    return c.wasm_engine != null && peer !== undefined ? [[c, peer] as const] : [];
  });
  if (pairs.length === 0) return [];
  const out = [`${h}# Wasm targets (issue 17)`, "", "Against the runc sandboxer on the same containerd path in the same run.", ""];
  out.push("| configuration | target | measured | verdict | missed by |", "|---|---|---|---|---|");
  for (const [c, p] of pairs) out.push(...targetRows(c.label, checkWasmTargets(c, p)));
  out.push("");
  return out;
}

/**
 * For every configuration with a `compare_with` peer that also ran (a wasm or gvisor sandboxer
 * and the runc sandboxer on the same containerd path): start latency, its CRI phases and the memory
 * per container side by side, with the ratio to the peer.
 */
function peerComparison(results: BenchResults, ran: readonly ConfigurationResult[], podCounts: readonly string[], h: string): string[] {
  const pairs = ran.flatMap((c) => {
    const peer = ran.find((p) => p.id === c.compare_with);
    return peer === undefined ? [] : [[c, peer] as const];
  });
  if (pairs.length === 0) return [];
  const maxPods = podCounts[podCounts.length - 1] ?? "?";
  const first = podCounts.find((n) => n !== "0") ?? "1";
  type PeerRow = { label: string; value: (c: ConfigurationResult) => number | null; digits: number };
  const sum = (c: ConfigurationResult): ConfigurationSummary => c.summary as ConfigurationSummary;
  const table: PeerRow[] = [
    { label: "serial start, median (ms)", value: (c) => sum(c).start_ms_median, digits: 0 },
    { label: "serial start, p90 (ms)", value: (c) => sum(c).start_ms_p90, digits: 0 },
    { label: "RunPodSandbox, median (ms)", value: (c) => phaseMedian(c, (s) => s.run_pod_sandbox_ms), digits: 0 },
    { label: "CreateContainer, median (ms)", value: (c) => phaseMedian(c, (s) => s.create_container_ms), digits: 0 },
    { label: "StartContainer, median (ms)", value: (c) => phaseMedian(c, (s) => s.start_container_ms), digits: 1 },
    { label: "StartContainer + until RUNNING, median (ms)", value: (c) => phaseMedian(c, startToRunningMs), digits: 1 },
    { label: `${String(results.options["parallelPods"])} pods in parallel, total (ms)`, value: (c) => sum(c).parallel_total_ms, digits: 0 },
    { label: `per-container PSS at ${first} pod${first === "1" ? "" : "s"} (MB)`, value: (c) => sum(c).container_pss_mb[first] ?? null, digits: 2 },
    { label: `per-container PSS at ${maxPods} pods (MB)`, value: (c) => sum(c).container_pss_mb[maxPods] ?? null, digits: 2 },
    { label: `per-container RSS at ${maxPods} pods (MB)`, value: (c) => sum(c).container_rss_mb[maxPods] ?? null, digits: 2 },
    { label: "workload PSS slope (MB/pod)", value: (c) => sum(c).workload_pss_mb_per_pod, digits: 2 },
    { label: `management PSS at ${maxPods} pods (MB)`, value: (c) => sum(c).mgmt_pss_mb[maxPods] ?? null, digits: 1 },
    { label: "management PSS slope (MB/pod)", value: (c) => sum(c).mgmt_pss_mb_per_pod, digits: 2 },
  ];
  const out: string[] = [`${h}# Same containerd path, other sandboxer`, ""];
  out.push(
    "Each pair ran in the same run on the same containerd path; the ratio is left to right. Per-container memory is the PSS " +
      "(and RSS) of the process that is the container: a runc container's own process, a wasm container's node:wasi runner " +
      "(engine node) or its fork of the pod's kuasar-wasm-host (engine wasmedge-pod; the host and each kuasar-wasm-run count as management), " +
      "a gvisor container's runsc sandbox (gVisor's sentry with its ptrace stubs; its gofers and runsc wait count as management). " +
      `PSS shares a process's pages with its peers, so one runtime's per-container PSS falls as its containers multiply (${first} vs ${maxPods} pods).`,
  );
  out.push("");
  out.push(`| metric | ${pairs.map(([c, p]) => `${esc(c.label)} | ${esc(p.label)} | ratio`).join(" | ")} |`);
  out.push(`|---|${pairs.map(() => "---:|---:|---:").join("|")}|`);
  for (const r of table) {
    const cells = pairs.map(([c, p]) => {
      const a = r.value(c);
      const b = r.value(p);
      return `${fmt(a, r.digits)} | ${fmt(b, r.digits)} | ${a !== null && b !== null && b > 0 ? `${(a / b).toFixed(2)}x` : "—"}`;
    });
    out.push(`| ${esc(r.label)} | ${cells.join(" | ")} |`);
  }
  out.push("");
  return out;
}

/** The report for `results`. */
export function renderMarkdown(results: BenchResults, options: Partial<MarkdownOptions> = {}): string {
  const o: MarkdownOptions = { chartPrefix: "", headingLevel: 2, ...options };
  const h = "#".repeat(o.headingLevel);
  const ran = results.configurations.filter((c) => c.summary !== null);
  const baseline = results.configurations.find((c) => c.role === "baseline");
  const baseSummary = baseline?.summary ?? null;
  const podCounts = [...new Set(ran.flatMap((c) => Object.keys(c.summary?.mgmt_pss_mb ?? {})))].sort((a, b) => Number(a) - Number(b));
  const parallelPods = ran[0]?.summary?.parallel_pods ?? 0;
  const out: string[] = [];
  const host = results.host;
  out.push(`${h} Benchmark: ${results.mode} run, ${results.started_at.slice(0, 10)}`);
  out.push("");
  out.push(
    `${host.cpus} CPUs (${host.cpu_model}), ${Math.round(host.mem_total_mb / 1024)} GB, kernel ${host.kernel}, Node ${host.node}; ` +
      `${String(results.options["serialIterations"])} serial iterations after ${String(results.options["warmupIterations"])} warm-up, ` +
      `${parallelPods} pods x ${String(results.options["parallelRounds"])} parallel round(s); run took ${Math.round(results.duration_s)} s. ` +
      `Ratios (in parentheses) are to the baseline of the same run; lower is better.`,
  );
  out.push("");
  // A run of the VM section alone (`--only vmm`) has no configuration column.
  const table = ran.length === 0 ? [] : rows(podCounts, parallelPods, results.spawn_floor_ms);
  if (table.length > 0) {
    out.push(`| metric | ${ran.map((c) => esc(c.label)).join(" | ")} |`);
    out.push(`|---|${ran.map(() => "---:").join("|")}|`);
  }
  for (const r of table) {
    const cells = ran.map((c) => {
      const v = r.value(c.summary as ConfigurationSummary);
      const b = baseSummary === null ? null : r.value(baseSummary);
      const ratio = r.ratio && c !== baseline && v !== null && b !== null && b > 0 ? ` (${(v / b).toFixed(2)}x)` : "";
      return `${fmt(v, r.digits)}${ratio}`;
    });
    out.push(`| ${esc(r.label)} | ${cells.join(" | ")} |`);
  }
  out.push("");

  const maxPods = podCounts[podCounts.length - 1];
  if (maxPods !== undefined) {
    out.push(`${h}# Management processes at ${maxPods} pods`);
    out.push("");
    out.push("| configuration | process | count | PSS (MB) | PSS per process (MB) |");
    out.push("|---|---|---:|---:|---:|");
    for (const c of ran) {
      const entries = Object.entries(c.summary?.mgmt_breakdown ?? {}).sort((x, y) => y[1].pss_mb - x[1].pss_mb);
      if (entries.length === 0) out.push(`| ${esc(c.label)} | (none) | 0 | 0 | |`);
      for (const [role, e] of entries) out.push(`| ${esc(c.label)} | ${esc(role)} | ${e.processes} | ${e.pss_mb.toFixed(1)} | ${(e.pss_mb / e.processes).toFixed(2)} |`);
    }
    out.push("");
  }

  out.push(...peerComparison(results, ran, podCounts, h));
  out.push(...wasmTargets(ran, h));
  out.push(...renderPhaseSection(ran, h));

  const ours = ran.filter((c) => c.role === "ours");
  if (baseline !== undefined && baseSummary !== null && ours.length > 0) {
    out.push(`${h}# Targets (issue 6)`);
    out.push("");
    out.push("| configuration | target | measured | verdict | missed by |");
    out.push("|---|---|---|---|---|");
    for (const c of ours) {
      out.push(...targetRows(c.label, checkTargets(c, baseline)));
    }
    out.push("");
  } else if (baseSummary === null) {
    out.push(`**The baseline did not run${baseline?.reason ? `: ${esc(baseline.reason)}` : ""}; no ratios or targets.**`);
    out.push("");
  }

  const notRun = results.configurations.filter((c) => c.status !== "ok");
  if (notRun.length > 0) {
    out.push(`${h}# Not measured`);
    out.push("");
    for (const c of notRun) out.push(`- ${c.label}: ${c.status === "not_available" ? "" : "**FAILED**: "}${c.reason ?? "?"}`);
    out.push("");
  }
  const partial = ran.flatMap((c) => {
    const bad = c.samples.serial.filter((s) => !s.ok).length + c.samples.parallel.reduce((a, r) => a + r.samples.filter((s) => !s.ok).length, 0);
    const shimBad = c.samples.shim_start?.samples.filter((s) => !s.ok).length ?? 0;
    return bad + shimBad > 0 ? [`- ${c.label}: ${bad} failed pod start(s), ${shimBad} failed shim start(s) (excluded from the statistics; errors in the JSON)`] : [];
  });
  if (partial.length > 0) {
    out.push(`${h}# Failed samples`);
    out.push("");
    out.push(...partial);
    out.push("");
  }
  out.push(...renderVmmSection(results.vmm, h));
  out.push(`![start latency CDF](${o.chartPrefix}${CHART_FILES.startCdf}) ![parallel start latency CDF](${o.chartPrefix}${CHART_FILES.parallelCdf}) ![management memory vs pods](${o.chartPrefix}${CHART_FILES.memory})`);
  out.push("");
  return out.join("\n");
}
