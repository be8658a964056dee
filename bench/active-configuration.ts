/**
 * A configuration taking part in a run: its running instance, the samples collected so far,
 * and its fate. Phases call {@link ActiveConfiguration.phase}; the first error marks the
 * configuration failed (with its reason and saved logs), closes it and drops it from the
 * remaining phases, while the others carry on.
 *
 * @internal benchmark, not part of the runtime
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchConfiguration, RunningConfiguration } from "./bench-configuration.js";
import type { PodStartContext } from "./pod-workload.js";
import type { ConfigurationResult, DaemonPhases, MemoryPoint, ParallelRound, PodStartSample, ShimStartResult } from "./results.js";
import { summarize } from "./summarize.js";

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Samples of one configuration, filled phase by phase. */
export interface ConfigurationSamples {
  serial: PodStartSample[];
  parallel: ParallelRound[];
  memory: MemoryPoint[];
  memory_teardown: { pods: number; ms: number } | null;
  shim_start: ShimStartResult | null;
  /** kuasard's own timings (ours only). */
  daemon_phases: DaemonPhases | null;
}

/** See the module comment. */
export class ActiveConfiguration {
  readonly samples: ConfigurationSamples = { serial: [], parallel: [], memory: [], memory_teardown: null, shim_start: null, daemon_phases: null };
  readonly cfg: BenchConfiguration;
  readonly rc: RunningConfiguration;
  /** Where its pods start. */
  readonly ctx: PodStartContext;
  /** Its work directory. */
  readonly dir: string;
  /** How long setup took, ms. */
  readonly setupMs: number;
  readonly #log: (line: string) => void;
  #failed: { reason: string; log: string | null } | undefined;
  #closed = false;

  constructor(cfg: BenchConfiguration, rc: RunningConfiguration, ctx: PodStartContext, dir: string, setupMs: number, log: (line: string) => void) {
    this.cfg = cfg;
    this.rc = rc;
    this.ctx = ctx;
    this.dir = dir;
    this.setupMs = setupMs;
    this.#log = log;
  }

  /** Still taking part (not failed). */
  get alive(): boolean {
    return this.#failed === undefined;
  }

  /** Runs `fn` unless the configuration already failed; an error fails it (and is not rethrown). */
  async phase(name: string, fn: () => Promise<void>): Promise<void> {
    if (!this.alive) return;
    try {
      await fn();
    } catch (err) {
      await this.fail(name, err);
    }
  }

  /** Marks the configuration failed in `phase`, saves its logs outside the results dir, closes it. */
  async fail(phase: string, err: unknown): Promise<void> {
    if (!this.alive) return;
    const reason = `${phase}: ${message(err)}`;
    this.#log(`${this.cfg.label}: FAILED in ${reason}`);
    const path = join(tmpdir(), `kuasar-bench-${this.cfg.id}-${Date.now()}.log`);
    const saved = await this.rc
      .logs()
      .then((text) => writeFile(path, text))
      .then(
        () => path,
        () => null,
      );
    if (saved !== null) this.#log(`${this.cfg.label}: logs saved to ${saved}`);
    this.#failed = { reason, log: saved };
    await this.close();
  }

  /** Stops the configuration (idempotent; errors are logged). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.rc.close().catch((err: unknown) => this.#log(`${this.cfg.label}: close: ${message(err)}`));
  }

  /** The configuration's entry in the results. */
  result(parallelPods: number): ConfigurationResult {
    const counted = this.samples.serial.some((s) => s.ok && !s.warmup);
    return {
      id: this.cfg.id,
      label: this.cfg.label,
      role: this.cfg.role,
      containerd_version: this.cfg.containerdVersion,
      runtime_handler: this.rc.runtimeHandler,
      description: this.cfg.description,
      management_processes: this.cfg.managementProcesses,
      workload: this.cfg.workload,
      wasm_engine: this.cfg.wasmEngine ?? null,
      compare_with: this.cfg.compareWith,
      status: this.#failed === undefined ? "ok" : "failed",
      reason: this.#failed?.reason ?? null,
      failure_log: this.#failed?.log ?? null,
      setup_ms: this.setupMs,
      summary: counted ? summarize(this.samples, parallelPods) : null,
      samples: this.samples,
    };
  }
}

/** The result of a configuration that never came up. */
export function idleResult(cfg: BenchConfiguration, status: "not_available" | "failed", reason: string): ConfigurationResult {
  return {
    id: cfg.id,
    label: cfg.label,
    role: cfg.role,
    containerd_version: cfg.containerdVersion,
    runtime_handler: "",
    description: cfg.description,
    management_processes: cfg.managementProcesses,
    workload: cfg.workload,
    wasm_engine: cfg.wasmEngine ?? null,
    compare_with: cfg.compareWith,
    status,
    reason,
    failure_log: null,
    setup_ms: null,
    summary: null,
    samples: { serial: [], parallel: [], memory: [], memory_teardown: null, shim_start: null, daemon_phases: null },
  };
}
