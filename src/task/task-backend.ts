import type { ExitSource } from "./exit-source.js";
import type { ProcessState } from "./process-state.js";

/** A rootfs mount as containerd passes it (`containerd.types.Mount`). */
export interface MountSpec {
  type: string;
  source: string;
  target: string;
  options: string[];
}

/** Stdio of a process: FIFO paths (or `file://`/`binary://` URIs); "" = not wanted. */
export interface Stdio {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** Everything Create hands over for a container's init process. */
export interface CreateTaskSpec {
  containerId: string;
  bundle: string;
  rootfs: MountSpec[];
  stdio: Stdio;
  checkpoint: string;
  /** containerd namespace the task lives in (for events). */
  namespace: string;
  /**
   * The sandbox to run in, when the caller knows it (the shim bridge). Otherwise
   * the backend reads containerd's `<bundle>/sandbox` file or the CRI annotation.
   */
  sandboxId?: string;
  /** containerd's runtime options for the task (`CreateTaskRequest.options`), undecoded. */
  options?: { typeUrl: string; value: Uint8Array };
  /** The caller's deadline or cancel: fired before the task is made, everything done is undone. */
  signal?: AbortSignal;
}

/** An exec process to register (not start). `process` is the OCI runtime-spec Process JSON. */
export interface ExecSpec {
  containerId: string;
  execId: string;
  stdio: Stdio;
  process: unknown;
}

/**
 * What Checkpoint asks for (`CheckpointTaskRequest` with runc's `CheckpointOptions`):
 * containerd makes `path` (its own temporary dir, or the caller's `image_path`) and
 * tars what the runtime leaves there into its content store.
 */
export interface CheckpointSpec {
  /** Directory the checkpoint image goes to (`CheckpointTaskRequest.path`). */
  path: string;
  /** Stop the container once it is saved (`CheckpointOptions.exit`); otherwise it runs on. */
  exit: boolean;
}

/** A process as State reports it. `execId` is "" for a container's init. */
export interface ProcessStatus {
  containerId: string;
  execId: string;
  bundle: string;
  pid: number;
  state: ProcessState;
  stdio: Stdio;
  exitStatus: number;
  exitedAt: Date | undefined;
}

/** How a process ended. */
export interface ExitInfo {
  pid: number;
  exitStatus: number;
  exitedAt: Date;
}

/** cgroup numbers of a container, for Stats/Metrics. */
export interface CgroupStats {
  version: 1 | 2;
  cpuUsageNs: bigint;
  cpuUserNs: bigint;
  cpuSystemNs: bigint;
  memoryUsageBytes: bigint;
  memoryLimitBytes: bigint;
  pidsCurrent: bigint;
  pidsLimit: bigint;
}

/**
 * What a sandboxer implements so containerd can drive containers through the
 * Task API (`containerd.task.v2/v3.Task`). Domain types only: the ttrpc adapter
 * (task-service.ts) converts. Every method throws RuntimeError with the right
 * code (NotFound for unknown ids, FailedPrecondition for wrong states).
 */
export interface TaskBackend {
  /** Whether a container with this id exists. */
  has(containerId: string): boolean;
  create(spec: CreateTaskSpec): Promise<{ pid: number }>;
  /** `signal`: the caller's deadline or cancel, which stops the engine's start command (the task stays created). */
  start(containerId: string, execId: string, signal?: AbortSignal): Promise<{ pid: number }>;
  delete(containerId: string, execId: string): Promise<ExitInfo>;
  exec(spec: ExecSpec): Promise<void>;
  state(containerId: string, execId: string): Promise<ProcessStatus>;
  kill(containerId: string, execId: string, signal: number, all: boolean): Promise<void>;
  wait(containerId: string, execId: string, signal: AbortSignal): Promise<ExitInfo>;
  pids(containerId: string): Promise<{ pid: number; execId: string }[]>;
  pause(containerId: string): Promise<void>;
  resume(containerId: string): Promise<void>;
  /** Saves the container's state to `spec.path` (Unimplemented where the kind cannot). */
  checkpoint(containerId: string, spec: CheckpointSpec, signal?: AbortSignal): Promise<void>;
  closeIO(containerId: string, execId: string, stdin: boolean): Promise<void>;
  resizePty(containerId: string, execId: string, width: number, height: number): Promise<void>;
  /** `resources` is the OCI LinuxResources JSON. */
  update(containerId: string, resources: unknown, annotations: Record<string, string>): Promise<void>;
  stats(containerId: string): Promise<CgroupStats>;
  /** The init pid of a container (0 if unknown), and the pid serving the task API. */
  connect(containerId: string): Promise<{ taskPid: number; serverPid: number }>;
  /** containerd no longer needs this container's task connection; never stops the server. */
  shutdown(containerId: string): Promise<void>;
  /** Where the container's exit is recorded on disk (for a reader that is not this daemon); undefined when nowhere. */
  exitSource?(containerId: string): ExitSource | undefined;
}
