/**
 * A small benchmark results document for the bench's unit tests: the baseline and one of
 * ours, each with one measured pod start unless said otherwise.
 */
import type { BenchConfiguration } from "../../bench/bench-configuration.js";
import { idleResult } from "../../bench/active-configuration.js";
import { BENCH_SCHEMA, type BenchResults, type ConfigurationResult, type PodStartSample } from "../../bench/results.js";
import { summarize } from "../../bench/summarize.js";

const config = (id: string, role: "baseline" | "ours"): BenchConfiguration => ({
  id,
  label: id,
  role,
  containerdVersion: role === "baseline" ? "1.7" : "2",
  description: id,
  managementProcesses: "test",
  workload: "test",
  compareWith: null,
  availability: async () => undefined,
  setup: () => Promise.reject(new Error("not in unit tests")),
});

const pod = (name: string, total: number): PodStartSample => ({
  name,
  warmup: false,
  ok: true,
  error: null,
  offset_ms: 0,
  run_pod_sandbox_ms: total / 2,
  create_container_ms: total / 4,
  start_container_ms: total / 4,
  until_running_ms: 0,
  total_ms: total,
  pod_sandbox_id: name,
  container_id: name,
});

/** A configuration that measured one pod start of `totalMs`. */
export function measured(id: string, role: "baseline" | "ours", totalMs: number): ConfigurationResult {
  const samples = { serial: [pod(`${id}-0`, totalMs)], parallel: [], memory: [], memory_teardown: null, shim_start: null };
  return { ...idleResult(config(id, role), "not_available", ""), status: "ok", reason: null, runtime_handler: "h", setup_ms: 1, summary: summarize(samples, 20), samples };
}

/** A configuration that did not run. */
export function notRun(id: string, role: "baseline" | "ours", status: "not_available" | "failed", reason: string): ConfigurationResult {
  return idleResult(config(id, role), status, reason);
}

/** A results document of `configurations`, as a run with `--only only` (no VM section unless `only` names it) wrote it. */
export function results(configurations: ConfigurationResult[], only: readonly string[] = configurations.map((c) => c.id)): BenchResults {
  return {
    schema: BENCH_SCHEMA,
    mode: "quick",
    started_at: "2026-01-01T00:00:00.000Z",
    finished_at: "2026-01-01T00:01:00.000Z",
    duration_s: 60,
    host: { kernel: "test", cpus: 2, cpu_model: "test", mem_total_mb: 1024, node: "v20" },
    options: { only: [...only] },
    spawn_floor_ms: 1,
    configurations,
  };
}
