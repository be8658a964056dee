import type { CgroupStats, TaskBackend } from "../task/task-backend.js";
import type { SandboxState } from "./state-machine.js";
import type { ExecOutcome } from "../process/run-captured.js";

/** The parts of a CRI pod config a sandboxer acts on (decoded by the adapter, no protobuf here). */
export interface PodConfig {
  name: string;
  namespace: string;
  uid: string;
  attempt: number;
  hostname: string;
  logDirectory: string;
  dns: { servers: string[]; searches: string[]; options: string[] };
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** CRI cgroup parent of the pod (cgroupfs path or systemd slice). */
  cgroupParent: string;
  /** Network namespace mode NODE: the pod uses the host network. */
  hostNetwork: boolean;
  /** PID namespace mode NODE. */
  hostPid: boolean;
  /** IPC namespace mode NODE. */
  hostIpc: boolean;
  /** PID namespace mode POD: containers share one pid namespace. */
  sharedPid: boolean;
  sysctls: Record<string, string>;
  /**
   * Sysctls the container runtime adds on its own, not the pod (containerd 2.x's
   * `enable_unprivileged_ports`/`enable_unprivileged_icmp` defaults in a pause spec):
   * set where the engine sets pod sysctls, left out where it cannot, as runsc's own shim does.
   */
  runtimeSysctls?: Record<string, string>;
  /** Pod-level limits (CRI `linux.resources`, falling back to none). */
  resources: PodResources;
  privileged: boolean;
}

/** Pod-level resources; 0 means unset. */
export interface PodResources {
  cpuPeriod: number;
  cpuQuota: number;
  cpuShares: number;
  memoryLimitBytes: number;
}

/** What Create hands a sandboxer. */
export interface SandboxCreateRequest {
  id: string;
  /** containerd namespace (from the `containerd-namespace` header or the sandbox labels). */
  namespace: string;
  /** CNI network namespace created by containerd; "" for host-network pods. */
  netnsPath: string;
  /** Undefined when the caller sent no CRI config (ctr, the shim bridge). */
  pod: PodConfig | undefined;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  /**
   * A sandbox made for one container that came without a pod (`ctr run` through
   * the shim bridge): the container's own spec decides its namespaces.
   */
  standalone: boolean;
  /**
   * A standalone sandbox whose container's spec asks for a new network namespace
   * (`ctr run` without `--net-host`): a kind with a network stack of its own
   * (gVisor) gives it one with only loopback, as runc gives the container one.
   */
  ownNetwork?: boolean;
}

/** A sandbox as Start and Status report it. */
export interface SandboxStatus {
  id: string;
  state: SandboxState;
  /** A live host pid whose /proc/<pid>/ns/* are the pod's namespaces; 0 once stopped. */
  pid: number;
  createdAt: Date;
  exitedAt: Date | undefined;
  exitStatus: number;
  /** Task API endpoint for containerd, e.g. `ttrpc+unix:///run/kuasar-runc/task.sock`. */
  taskAddress: string;
  /** Task API version at `taskAddress` (3 = containerd.task.v3.Task, used directly by containerd 2.x). */
  taskApiVersion: number;
  labels: Record<string, string>;
  /** Verbose details for PodSandboxStatus info. */
  info: Record<string, string>;
}

/** One isolation technology (runc, wasm, vmm, gvisor): sandboxes plus the tasks inside them. */
export interface Sandboxer {
  /** Kind, e.g. "runc". */
  readonly kind: string;
  /** Containers of every sandbox of this kind, for the Task API. */
  readonly tasks: TaskBackend;
  /** Whether a sandbox with this id exists. */
  has(id: string): boolean;
  /**
   * Once kuasard serves again after a start: lets go of container outputs held open across the
   * restart that no live process writes any more (sandboxers that relay output themselves).
   */
  releaseOrphanOutputs?(): Promise<void>;
  create(req: SandboxCreateRequest): Promise<void>;
  /**
   * Starts a created sandbox. When `signal` fires before it is done (the caller's deadline
   * or cancel), everything it did is undone and it fails with the signal's reason. One Start
   * of a sandbox at a time (FailedPrecondition); Stop and Shutdown wait for it.
   */
  start(id: string, signal?: AbortSignal): Promise<SandboxStatus>;
  platform(id: string): Promise<{ os: string; architecture: string; variant: string }>;
  /** Stops every container (TERM, then KILL after `timeoutSecs`; 0 = at once) and the sandbox. */
  stop(id: string, timeoutSecs: number): Promise<void>;
  /** Resolves when the sandbox has stopped. */
  wait(id: string, signal: AbortSignal): Promise<{ exitStatus: number; exitedAt: Date }>;
  status(id: string, verbose: boolean): Promise<SandboxStatus>;
  /** Removes everything of a stopped sandbox; NotFound afterwards. */
  shutdown(id: string): Promise<void>;
  metrics(id: string): Promise<CgroupStats>;
  /** Applies changed fields of the sandbox (resources, Kuasar's `extensions.tasks`). */
  update(id: string, change: SandboxUpdate): Promise<void>;
  /** Reloads records and re-attaches to live pods after a daemon restart. */
  recover(): Promise<void>;
  /** Releases in-memory resources for a daemon exit; running pods are left alone. */
  close(): Promise<void>;
  /** What this sandboxer holds now, for operators (kuasar-ctl, metrics); read from memory, no I/O. */
  inventory(): Inventory;
  /** What this sandboxer found out about its host (vmm: the accelerator it chose and why), for kuasar-ctl check. */
  hostFacts?(): Record<string, string>;
  /**
   * Runs `argv` inside a pod (container `containerId`, or the pod when undefined) for an
   * operator's `kuasar-ctl exec`: FailedPrecondition where the kind has no way in (wasm).
   */
  debugExec(id: string, containerId: string | undefined, argv: string[], timeoutMs: number): Promise<ExecOutcome>;
}

/** Fields of a sandbox Update that a sandboxer acts on. */
export interface SandboxUpdate {
  fields: string[];
  labels: Record<string, string>;
  /** Pod-level resources, when the update carries them (applied to the pod cgroup). */
  resources: PodResources | undefined;
  /** Kuasar's `extensions.tasks` (JSON `{"tasks":[...]}`), when the update carries it: kept, as Kuasar keeps it. */
  tasksExtension: string | undefined;
}

/** One sandbox as operators see it. */
export interface InventorySandbox {
  id: string;
  namespace: string;
  state: SandboxState;
  /** The pod's pid (holder or pod init); 0 when not running. */
  pid: number;
  createdAt: string;
  exitedAt: string | undefined;
  /** The pod's own directory (holder socket, logs, journal). */
  dir: string;
  netns: string;
  /** The pod cgroup under each hierarchy's root, or "" for none. */
  cgroupPath: string;
}

/** One container as operators see it. */
export interface InventoryContainer {
  id: string;
  sandboxId: string;
  state: string;
  pid: number;
  startedAt: string | undefined;
  exitStatus: number;
  execs: number;
  /** The container's cgroup (v1 memory dir or v2 dir), or "" when unknown (wasm, VM pods). */
  cgroup: string;
}

/** Everything a sandboxer holds. */
export interface Inventory {
  sandboxes: InventorySandbox[];
  containers: InventoryContainer[];
}
