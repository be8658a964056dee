import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { PodAgent } from "../holder/pod-agent.js";
import { parseJournal, type HolderExit } from "../holder/holder-protocol.js";
import type { Logger } from "../log/logger.js";
import { type Clock, realClock } from "../time/clock.js";
import { pollUntil } from "../time/backoff.js";
import type { SandboxRecord } from "./records.js";
import { Code } from "../errors/code.js";
import type { RuntimeError } from "../errors/runtime-error.js";

/** Name of the holder's exit journal inside the pod dir. */
export const EXIT_JOURNAL = "exits";

/** What the sandboxer that owns a pod learns from it. */
export interface PodListener {
  /** The connection to the pod's supervisor dropped without Stop asking for it. */
  supervisorLost(pod: Pod): void;
  /**
   * Something the pod cannot live without died under it (gVisor's runsc sandbox), with this
   * status; its processes still running end with `processStatus` (unknown, 255, by default).
   */
  sandboxDied(pod: Pod, exitStatus: number, processStatus?: number): void;
}

/** Where a pod's supervisor journals exits, and how far its clock may trail ours. */
export interface PodJournal {
  /** The supervisor's exit journal (a VM's agent writes it through the pod's shared directory). */
  path: string;
  /**
   * How far the supervisor's clock may be behind ours, in ms, when an exit is matched to a
   * process started at a given time. A holder on this host shares our clock; a VM guest
   * sets its clock from the RTC, to the second, with no NTP.
   */
  clockSkewMs: number;
}

/**
 * A pod in memory: its record, the connection to its supervisor (holder or guest
 * agent), and every exit the supervisor reported (live events, or its journal
 * after a restart). The record is owned by the sandboxer skeleton (PodSandboxer),
 * which alone writes it; the exits are owned here.
 */
export class Pod {
  private holder: PodAgent | undefined;
  /** Set while Stop shuts the holder down on purpose, so its exit is not taken for a crash. */
  stopping = false;
  private readonly exitsByPid = new Map<number, HolderExit[]>();
  private readonly listeners = new Set<(e: HolderExit) => void>();
  private stoppedWaiters: (() => void)[] = [];

  constructor(
    public record: SandboxRecord,
    /** The pod's own directory: holder socket, journal, pod files, shm. */
    readonly dir: string,
    readonly log: Logger,
    private readonly owner: PodListener,
    /** Where its supervisor journals exits. */
    readonly journal: PodJournal = { path: join(dir, EXIT_JOURNAL), clockSkewMs: 1000 },
  ) {}

  /** See {@link PodJournal.clockSkewMs}. */
  get clockSkewMs(): number {
    return this.journal.clockSkewMs;
  }

  /** Reports that something the pod cannot live without died (its owner ends the pod). */
  sandboxDied(exitStatus: number, processStatus?: number): void {
    this.owner.sandboxDied(this, exitStatus, processStatus);
  }

  get id(): string {
    return this.record.id;
  }

  /** The connected holder; Unavailable-style errors are the caller's to raise when absent. */
  get client(): PodAgent | undefined {
    return this.holder;
  }

  /** Takes a connected holder client: listens for exits and for the holder going away. */
  attach(holder: PodAgent): void {
    this.holder = holder;
    holder.on("exit", (e) => this.recordExit(e));
    holder.on("close", (reason?: RuntimeError) => {
      if (this.holder !== holder) return;
      // Internal: the peer broke the protocol, or handling what it sent failed (not a holder or VM that went away).
      if (reason?.code === Code.Internal) this.log.error({ err: reason }, "holder connection ended by an error");
      this.holder = undefined;
      if (!this.stopping) this.owner.supervisorLost(this);
    });
  }

  /** Drops the holder connection (the holder keeps running). */
  async detach(): Promise<void> {
    const h = this.holder;
    this.holder = undefined;
    await h?.close().catch(() => {});
  }

  /** Subscribes to every exit reported from now on. */
  onExit(listener: (e: HolderExit) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The exit of `pid` that happened at or after `since` (a pid can be reused by
   * a later process of the pod), or undefined while it runs.
   */
  exitOf(pid: number, since: Date | undefined): HolderExit | undefined {
    const list = this.exitsByPid.get(pid);
    if (!list) return undefined;
    const floor = (since?.getTime() ?? 0) - this.clockSkewMs; // journal times are the holder's clock
    return list.find((e) => e.exitedAt.getTime() >= floor);
  }

  /** Loads the journal from disk (works whether or not the holder is alive). */
  replayJournalFile(): void {
    let text: string;
    try {
      text = readFileSync(this.journal.path, "utf8");
    } catch {
      return;
    }
    for (const e of parseJournal(text)) this.recordExit(e);
  }

  /** Resolves once {@link markStopped} ran. */
  stopped(): Promise<void> {
    if (this.record.state === "stopped") return Promise.resolve();
    return new Promise((r) => this.stoppedWaiters.push(r));
  }

  /** Wakes everyone waiting for the pod to stop. */
  markStopped(): void {
    for (const w of this.stoppedWaiters.splice(0)) w();
  }

  /** Keeps `e` and tells the listeners, once per exit (events and journal replays overlap). */
  private recordExit(e: HolderExit): void {
    const list = this.exitsByPid.get(e.pid) ?? [];
    if (list.some((x) => x.seconds === e.seconds && x.nanos === e.nanos)) return; // already known
    list.push(e);
    this.exitsByPid.set(e.pid, list);
    for (const l of this.listeners) l(e);
  }
}

/** True when a process with this pid exists (it may be a zombie). */
export function isAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Sends `signal` (default SIGKILL) to `pid` if it still exists (pid <= 0 is nobody). */
export function killQuietly(pid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  if (pid <= 0) return;
  try {
    process.kill(pid, signal);
  } catch {
    /* gone */
  }
}

/**
 * Waits until `pid` is gone or `ms` passed; true when it is gone. Polled with a
 * bounded backoff: the pid is not our child (a holder, a VMM from before a
 * restart), so no 'exit' event comes, and Node has no pidfd to wait on.
 */
export async function waitGone(pid: number, ms: number, clock: Clock = realClock): Promise<boolean> {
  return pollUntil(() => !isAlive(pid), { timeoutMs: ms, minMs: 5, maxMs: 50, clock });
}
