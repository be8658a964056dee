import type { HolderExit } from "../holder/holder-protocol.js";
import type { CgroupStats, TaskBackend } from "../task/task-backend.js";
import type { Container } from "./container.js";
import type { Pod } from "./pod.js";
import type { ExecOutcome } from "../process/run-captured.js";

/**
 * What the sandboxer skeleton asks of the Task API side of its kind: the pod's
 * engine hooks, and the container state it must end or adopt with the pod.
 */
export interface SandboxTasks extends TaskBackend {
  /** Whether the pod's supervisor sets the pod's sysctls (false for an engine with a kernel of its own). */
  readonly holderSetsPodSysctls: boolean;
  /** At Create: refuses pod sysctls this engine cannot set. */
  checkPodSysctls(sysctls: Readonly<Record<string, string>>): void;
  /** After the pod's supervisor is up, before Start returns: starts what the engine's pods need. */
  podStarted(pod: Pod, signal?: AbortSignal): Promise<void>;
  /** Before the pod's supervisor shuts down: stops what {@link podStarted} started. */
  podStopping(pod: Pod): Promise<void>;
  /** The sandboxer closes (the daemon stops; pods keep running): node-wide processes of the engine end. */
  close(): Promise<void>;
  /** After a daemon restart re-attached a ready pod: checks what the engine left running. */
  podRecovered(pod: Pod): Promise<void>;
  /** The pod's supervisor died without Stop: kills every process the engine started for the pod. */
  podLost(pod: Pod): Promise<void>;
  /** Status `info` entries the engine adds for a pod (what gVisor's sandbox runs with, and why). */
  podInfo(pod: Pod): Record<string, string>;
  /** Sandbox Metrics of a pod with no running container. */
  podStats(pod: Pod): Promise<CgroupStats>;
  /** Marks every process of `pod` with no recorded exit as stopped with `status`. */
  abandon(pod: Pod, status: number, reason: string): void;
  /** Registers a container recovered after a restart. */
  adopt(c: Container): void;
  /** Every exit the pod's supervisor reports (live or replayed). */
  handleExit(pod: Pod, e: HolderExit): void;
  /** `kuasar-ctl exec`: runs `argv` in container `c` of `pod` (or the pod), the kind's way in; FailedPrecondition where there is none. */
  debugExec(pod: Pod, c: Container | undefined, argv: string[], timeoutMs: number): Promise<ExecOutcome>;
  /** Removes what a container left behind (Delete, and a pod's Shutdown). */
  remove(c: Container): Promise<void>;
}
