import type { PodAgent } from "../holder/pod-agent.js";
import type { PodResources, SandboxCreateRequest } from "../sandbox/sandboxer.js";
import type { CgroupStats } from "../task/task-backend.js";
import type { Pod, PodJournal } from "./pod.js";
import type { SandboxRecord } from "./records.js";

/** What Sandbox Platform reports. */
export interface Platform {
  os: string;
  architecture: string;
  variant: string;
}

/**
 * How one kind makes and supervises the host side of its pods: the strategy
 * {@link PodSandboxer} (the one sandboxer skeleton) is parameterised by. A holder
 * process on the host for runc, wasm and gvisor (HolderHost), a VM booted by a
 * Hypervisor driver for vmm (VmHost). Everything else (records, the Start guard
 * and rollback, Stop with grace, supervisor loss, recovery, reconciliation,
 * Wait, Status, Update, Metrics) is the skeleton's and the same for every kind.
 *
 * The skeleton owns `pod.record`'s state; a host writes only its own fields
 * (pids, cgroup, shm, its own sub-record) and calls `save()` to persist them.
 */
export interface PodHost {
  /** What the pod's supervisor is, as a log line names it ("holder", "VM"). */
  readonly supervisorName: string;
  /** Mode of `<dir>/pods`. */
  readonly podsDirMode: number;
  /** At Create, after the common checks: refuses what this kind cannot make (missing binaries, bad cgroup parent...). */
  checkCreate(req: SandboxCreateRequest): void;
  /** Where the pod's supervisor journals exits. */
  journal(record: SandboxRecord, podDir: string): PodJournal;
  /**
   * Start, first half: makes the pod's host side and its supervisor, and returns
   * the connected agent. Records what it made as it goes (and `save()`s it) so a
   * rollback, or a daemon restarted in the middle, finds it.
   */
  launch(pod: Pod, save: () => void, signal: AbortSignal | undefined): Promise<PodAgent>;
  /** Start, second half, once the agent is attached: whatever the pod needs set up through it. */
  setUp(pod: Pod, signal: AbortSignal | undefined): Promise<void>;
  /** Called after every attach of an agent (Start, reconnect) and, after a restart, once containers are adopted. */
  attached(pod: Pod): void;
  /** Connects to the live supervisor of a pod (after a restart, a dropped connection, for a leftover). */
  connect(pod: Pod, timeoutMs: number): Promise<PodAgent>;
  /** Whether the pod's supervisor process still exists. */
  supervisorAlive(pod: Pod): boolean;
  /** Kills the pod's supervisor without asking (only if it is this pod's) and waits for it to go. */
  kill(pod: Pod): Promise<void>;
  /** Stop: asks the supervisor to kill and journal what is left and exit; kills it when it does not go in time. */
  shutdown(pod: Pod): Promise<void>;
  /** After the supervisor is gone: releases the host resources of the pod (shm, cgroup, network, relays...). Idempotent. */
  release(pod: Pod): Promise<void>;
  /** At removal, after {@link release}: removes what the pod left outside its dir. */
  discard(pod: Pod): Promise<void>;
  /**
   * At Update: the pod cgroup's resources for the pod's `res` (a VM pod's memory covers
   * its guest's RAM); may refuse a change with an error. Default: `res` as it is.
   */
  podResources?(pod: Pod, res: PodResources): PodResources;
  /** Status `info` entries of this kind (`verbose`: the details). */
  statusInfo(pod: Pod, verbose: boolean): Record<string, string>;
  /** Sandbox Metrics of a ready pod, from its running containers' stats (none: the pod's own). */
  metrics(pod: Pod, containers: CgroupStats[]): Promise<CgroupStats>;
  /** What the pod's containers run as (the host's, or the guest's). */
  platform(): Platform;
  /** What this kind found out about its host (vmm: the accelerator chosen and why), for kuasar-ctl check. */
  hostFacts?(): Record<string, string>;
  /** After recovery: whatever the kind serves besides the pods. */
  recovered(): Promise<void>;
  /** Releases in-memory resources for a daemon exit; running pods are left alone. */
  close(): Promise<void>;
  /** See Sandboxer.releaseOrphanOutputs. */
  releaseOrphanOutputs?(): Promise<void>;
}

/** The Go architecture name of a Node `process.arch`. */
export function goArch(arch: string): string {
  return arch === "x64" ? "amd64" : arch === "ia32" ? "386" : arch;
}
