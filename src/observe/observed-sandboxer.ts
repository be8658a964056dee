import type { Logger } from "../log/logger.js";
import type { Inventory, SandboxCreateRequest, Sandboxer, SandboxStatus, SandboxUpdate } from "../sandbox/sandboxer.js";
import type { CgroupStats, TaskBackend } from "../task/task-backend.js";
import { announcePhase } from "../diagnostics/pod-phase-channel.js";

/**
 * A sandboxer whose pod lifecycle is visible: one info line per event (created,
 * started, stopped, removed) with sandbox_id, kind and duration_ms, and each
 * phase's duration announced for the metrics. Every path that drives pods
 * (Sandbox API, shim bridge, kuasar-io fork) goes through it.
 */
export class ObservedSandboxer implements Sandboxer {
  readonly releaseOrphanOutputs?: () => Promise<void>;

  constructor(
    readonly inner: Sandboxer,
    private readonly log: Logger,
  ) {
    if (inner.releaseOrphanOutputs) this.releaseOrphanOutputs = () => inner.releaseOrphanOutputs!();
  }

  get kind(): string {
    return this.inner.kind;
  }

  get tasks(): TaskBackend {
    return this.inner.tasks;
  }

  has(id: string): boolean {
    return this.inner.has(id);
  }

  create(req: SandboxCreateRequest): Promise<void> {
    return this.timed(req.id, "create", "pod created", () => this.inner.create(req));
  }

  start(id: string, signal?: AbortSignal): Promise<SandboxStatus> {
    return this.timed(id, "start", "pod started", () => this.inner.start(id, signal));
  }

  stop(id: string, timeoutSecs: number): Promise<void> {
    return this.timed(id, "stop", "pod stopped", () => this.inner.stop(id, timeoutSecs));
  }

  shutdown(id: string): Promise<void> {
    return this.timed(id, "remove", "pod removed", () => this.inner.shutdown(id));
  }

  platform(id: string) {
    return this.inner.platform(id);
  }

  wait(id: string, signal: AbortSignal) {
    return this.inner.wait(id, signal);
  }

  status(id: string, verbose: boolean): Promise<SandboxStatus> {
    return this.inner.status(id, verbose);
  }

  metrics(id: string): Promise<CgroupStats> {
    return this.inner.metrics(id);
  }

  update(id: string, change: SandboxUpdate): Promise<void> {
    return this.inner.update(id, change);
  }

  debugExec(id: string, containerId: string | undefined, argv: string[], timeoutMs: number) {
    return this.inner.debugExec(id, containerId, argv, timeoutMs);
  }

  hostFacts(): Record<string, string> {
    return this.inner.hostFacts?.() ?? {};
  }

  inventory(): Inventory {
    return this.inner.inventory();
  }

  recover(): Promise<void> {
    return this.inner.recover();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  private async timed<T>(id: string, phase: string, event: string, run: () => Promise<T>): Promise<T> {
    const started = process.hrtime.bigint();
    const ms = () => Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10;
    try {
      const out = await run();
      announcePhase(this.kind, phase, started, true);
      this.log.info({ sandbox_id: id, kind: this.kind, duration_ms: ms() }, event);
      return out;
    } catch (err) {
      announcePhase(this.kind, phase, started, false);
      this.log.warn({ sandbox_id: id, kind: this.kind, duration_ms: ms(), err }, `${event.replace("pod ", "pod not ")}`);
      throw err;
    }
  }
}
