import type { HolderExit } from "../holder/holder-protocol.js";
import type { PodAgent } from "../holder/pod-agent.js";
import type { Logger } from "../log/logger.js";
import type { CgroupStats, CheckpointSpec, CreateTaskSpec, Stdio } from "../task/task-backend.js";
import type { TaskEvent } from "../task/task-event.js";
import type { Container } from "./container.js";
import type { OciSpec } from "./oci-spec.js";
import type { Pod } from "./pod.js";
import type { ProcessRecord } from "./records.js";
import type { ExecOutcome } from "../process/run-captured.js";

/** What a runtime gets to launch a container's init process. */
export interface InitLaunch {
  id: string;
  spec: CreateTaskSpec;
  oci: OciSpec;
  pod: Pod;
  holder: PodAgent;
  stdio: Stdio;
  /** Supervisor spawn key of the init process (its stdin and terminal are addressed by it). */
  spawnId: string;
  /** `<bundle>/rootfs`, mounted. */
  rootfs: string;
  log: Logger;
  /** The caller's deadline or cancel: what the launch waits on ends with it (Create then undoes the launch). */
  signal: AbortSignal | undefined;
}

/** What a launched init is. */
export interface LaunchedInit {
  /** Host pid whose exit is the init's; 0 when only known at Start (see {@link ContainerOps.initLaunched}). */
  pid: number;
  /** The container's memory cgroup on the host ("" when none is visible: a guest's, gVisor's). */
  memoryCgroup: string;
  /** Extra log fields. */
  fields: Record<string, unknown>;
}

/**
 * What the task backend (PodTasks, owner of all container state) lets a runtime
 * do to that state: the only ways a runtime changes a record.
 */
export interface ContainerOps {
  readonly log: Logger;
  /** The lowest oom_score_adj this daemon may give a process. */
  readonly minOomScoreAdj: number;
  /** Every container of `pod`. */
  containersOf(pod: Pod): Container[];
  /** The init's host process, known only at Start (gVisor's waiter): recorded, and an exit already reported applied. */
  initLaunched(c: Container, pid: number, startedAt: Date): void;
  /**
   * An init with no host process of its own ended, as its engine reports it (a
   * gVisor container, from its sandbox): it ends as a supervisor-reported exit does.
   */
  initExited(c: Container, status: number, at: Date): void;
  /** A process ended without an exit from the supervisor (a failed launch, a container dropped before it ran). */
  markExited(c: Container, execId: string, status: number, at: Date): void;
  /** Publishes a task event of `c`. */
  publish(c: Container, event: TaskEvent): void;
  /** A console socket path for a terminal keyed `key`, its dir made and no stale socket in it. */
  consoleSocketFor(key: string): Promise<string>;
  /** SIGKILLs whatever is left in a container's cgroup. */
  killContainerCgroup(c: Container): Promise<void>;
  /** Persists a record after the runtime wrote its own fields in it (a watcher's pid). */
  save(c: Container): void;
  /** The runtime's own watcher saw `kills` OOM kills in a running container (a guest's): /tasks/oom. */
  oomKilledLive(containerId: string, kills: number): void;
}

/**
 * How a container runs in a pod of one kind: the per-kind part of the Task API
 * (runc on the host, a WASI runner, runsc in the pod's gVisor sandbox, runc in a
 * VM's guest). The task backend (PodTasks) does everything else, the same for
 * every kind: records and their state machine, Create's rollback, exits, Wait,
 * Kill's error mapping, Delete, events, OOM watching, adoption after a restart.
 * Methods get containers already looked up and their state already checked.
 */
export interface ContainerRuntime {
  /** Whether the pod's supervisor sets pod sysctls in the pod's namespaces (false for an engine with a kernel of its own). */
  readonly holderSetsPodSysctls: boolean;
  /** Whether the pod's supervisor shares the host's mount namespace, so it mounts the rootfs (false for a VM guest's agent). */
  readonly holderMountsRootfs: boolean;
  /** When set, exec is refused with Unimplemented and this reason. */
  readonly execUnsupported?: string;
  /** At sandbox Create: refuses pod sysctls this engine cannot set. */
  checkPodSysctls?(sysctls: Readonly<Record<string, string>>): void;

  /** After the pod's supervisor is up, before Start returns: what the engine's pods need (gVisor's sandbox). */
  podStarted?(pod: Pod, signal?: AbortSignal): Promise<void>;
  /** Before the pod's supervisor shuts down: stops what {@link podStarted} started. */
  podStopping?(pod: Pod): Promise<void>;
  /** After a restart re-attached a ready pod: checks what the engine left running. */
  podRecovered?(pod: Pod): Promise<void>;
  /** The supervisor died: kills every process the engine started for the pod. Default: each container's cgroup. */
  podLost?(pod: Pod): Promise<void>;
  /** Status `info` entries of a pod this engine adds. Default: none. */
  podInfo?(pod: Pod): Record<string, string>;
  /** Sandbox Metrics of a pod with no running container. Default: the supervisor's cgroup. */
  podStats?(pod: Pod): Promise<CgroupStats>;
  /** The sandboxer is closing (the daemon stops; pods keep running): ends what the engine runs for the node, not for a pod. */
  close?(): Promise<void>;

  /** When {@link checkpoint} is absent: why Checkpoint is Unimplemented for this kind. */
  readonly checkpointUnsupported?: string;
  /** Saves a running or paused container to `spec.path` (which containerd made); it runs on unless `spec.exit`. */
  checkpoint?(c: Container, spec: CheckpointSpec, signal?: AbortSignal): Promise<void>;

  /** Refuses what this engine cannot do for a container (a checkpoint to restore it from, a terminal...). */
  checkCreate(spec: CreateTaskSpec, stdio: Stdio): void;
  /**
   * Create's work that does not need the container's rootfs (files the engine's runner will
   * open), run while the rootfs is mounted, before {@link launchInit}; undone by {@link undoLaunch}.
   */
  prepareLaunch?(id: string, pod: Pod): Promise<void>;
  /** Creates the container's init, not running yet, in a pod whose rootfs is mounted. */
  launchInit(l: InitLaunch): Promise<LaunchedInit>;
  /** Undoes a launch that failed half-way (engine state, files). */
  undoLaunch(id: string, pod: Pod): Promise<void>;
  /** Lets a created init run (the engine's start); `signal` (the caller's deadline or cancel) stops the engine's command. */
  startInit(c: Container, signal?: AbortSignal): Promise<void>;
  /** After the init was marked running, before Start returns (its exit waits for this): a watcher of the engine's own. */
  initRunning?(c: Container): Promise<void>;
  /** Before an init's exit (`status`) is published: ends what {@link initRunning} started. */
  initExiting?(c: Container, status: number): Promise<void>;
  /** Launches a registered exec (`signal`: the caller's deadline or cancel); on a launch that ran and failed, or was abandoned, it marks the exec exited before throwing. */
  startExec?(c: Container, execId: string, p: ProcessRecord, signal?: AbortSignal): Promise<{ pid: number; startedAt: Date }>;
  /** Delivers `signal` to the init (every process of the container with `all`). */
  signalInit(c: Container, signal: number, all: boolean): Promise<void>;
  /** Delivers `signal` to a running exec. Default: through the pod's supervisor. */
  signalExec?(c: Container, p: ProcessRecord, signal: number): Promise<void>;
  /** Kills every process of a container whose init exited (its execs may outlive it). */
  killAll(c: Container): Promise<void>;
  /** Before Delete removes a container that was created but never started. */
  dropCreated?(c: Container): Promise<void>;
  /** Pids of a running container as its engine lists them. */
  ps(c: Container): Promise<number[]>;
  /** Which exec each listed pid belongs to. Default: the running execs' recorded pids. */
  execOfPids?(c: Container): Map<number, string>;
  freeze(c: Container): Promise<void>;
  thaw(c: Container): Promise<void>;
  /** Applies new resources to a container that has not stopped. */
  update(c: Container, resources: unknown): Promise<void>;
  /** Stats of a container that has not stopped. */
  stats(c: Container): Promise<CgroupStats>;
  /** Removes what an exec's launch left (files, relays) once it is deleted. */
  removeExecFiles(c: Container, execId: string): void;
  /** Removes what the engine keeps for a container (Delete, and a pod's Shutdown); the backend removes the rest. */
  remove(c: Container): Promise<void>;

  /** Whether a container that died of SIGKILL was killed for memory. Default: its memory cgroup says so. */
  oomKilled?(c: Container): boolean;
  /** A promise when the engine relays a process's output itself and must see it through before the exit is recorded. */
  outputFlushed?(c: Container, execId: string): Promise<void> | undefined;
  /**
   * Sees every exit the pod's supervisor reports before the backend does: returns the
   * exit to apply (maybe with the engine's own status), or undefined when it was the
   * engine's own (gVisor's sandbox process).
   */
  exitReported?(pod: Pod, e: HolderExit, process: { container: Container; execId: string } | undefined): HolderExit | undefined;
  /**
   * Runs `argv` for an operator's `kuasar-ctl exec` in container `c` of `pod` (or the
   * pod itself when `c` is undefined). Absent: the kind has no way in (FailedPrecondition).
   */
  debugExec?(pod: Pod, c: Container | undefined, argv: string[], timeoutMs: number): Promise<ExecOutcome>;
  /** A file where the init's waiter prints the container's status as `runsc wait` does (see ExitSource.waiterResult). */
  waiterResultFile?(c: Container): string;
  /** A container recovered after a restart, before its exits are replayed. */
  adopted?(c: Container): void;
}
