import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { processTransitions, transition, type ProcessState } from "../sandbox/state-machine.js";
import type { ExitInfo } from "../task/task-backend.js";
import type { Pod } from "./pod.js";
import type { ContainerRecord, ProcessRecord } from "./records.js";

/**
 * A container in memory: its record, its pod, and whoever waits for its
 * processes. The record is owned by the task backend (PodTasks), which changes
 * a process's state only through {@link moveTo}.
 */
export class Container {
  private readonly waiters = new Map<string, ((e: ExitInfo) => void)[]>();
  /**
   * Set while Start of a process runs: its exit event waits for the start event,
   * so containerd never sees a task exit before it started.
   */
  readonly starting = new Map<string, Promise<void>>();
  /** Kill calls in progress, per process (see {@link killsReplied}). */
  private readonly kills = new Map<string, Set<Promise<void>>>();

  constructor(
    public record: ContainerRecord,
    readonly pod: Pod,
  ) {}

  get id(): string {
    return this.record.id;
  }

  /** The init (`execId` "") or an exec process; undefined when unknown. */
  process(execId: string): ProcessRecord | undefined {
    return execId ? this.record.execs[execId] : this.record.init;
  }

  /**
   * The only write of a process's state: checked against the process state
   * machine (an illegal move is FailedPrecondition and changes nothing).
   */
  moveTo(execId: string, to: ProcessState): ProcessRecord {
    const p = this.process(execId);
    if (!p) throw new RuntimeError(Code.NotFound, `exec ${execId} of container ${this.id} not found`);
    p.state = transition(processTransitions, execId ? `exec ${execId} of container ${this.id}` : `container ${this.id}`, p.state, to);
    return p;
  }

  /** Resolves when process `execId` has exited (at once if it has). */
  waitFor(execId: string, signal: AbortSignal): Promise<ExitInfo> {
    const p = this.process(execId);
    if (p && p.state === "stopped") return Promise.resolve(exitInfo(p));
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(execId) ?? [];
      const done = (e: ExitInfo) => {
        signal.removeEventListener("abort", onAbort);
        resolve(e);
      };
      const onAbort = () => {
        const l = this.waiters.get(execId);
        if (l) this.waiters.set(execId, l.filter((x) => x !== done));
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      list.push(done);
      this.waiters.set(execId, list);
    });
  }

  /** Counts `call`, a Kill of process `execId`, as in progress until it settles. */
  trackKill(execId: string, call: Promise<void>): void {
    const calls = this.kills.get(execId) ?? new Set<Promise<void>>();
    this.kills.set(execId, calls);
    calls.add(call);
    const done = () => {
      calls.delete(call);
      if (calls.size === 0 && this.kills.get(execId) === calls) this.kills.delete(execId);
    };
    call.then(done, done);
  }

  /**
   * Undefined when no Kill of `execId` is in progress; else resolves once those
   * in progress now have settled and a turn of the event loop has passed, so
   * their replies are written before whatever the caller does next.
   */
  killsReplied(execId: string): Promise<void> | undefined {
    const calls = this.kills.get(execId);
    if (!calls || calls.size === 0) return undefined;
    return Promise.allSettled([...calls]).then(() => new Promise<void>((r) => setImmediate(r)));
  }

  /** Wakes the waiters of `execId` (after its record says stopped). */
  notifyExit(execId: string): void {
    const p = this.process(execId);
    if (!p) return;
    const e = exitInfo(p);
    for (const w of this.waiters.get(execId) ?? []) w(e);
    this.waiters.delete(execId);
  }
}

/** A stopped process's exit as the Task API reports it. */
export function exitInfo(p: ProcessRecord): ExitInfo {
  return { pid: p.pid, exitStatus: p.exitStatus, exitedAt: p.exitedAt ? new Date(p.exitedAt) : new Date(0) };
}
