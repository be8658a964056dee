import type { PodConfig } from "../sandbox/sandboxer.js";
import type { ProcessState, SandboxState } from "../sandbox/state-machine.js";
import type { Stdio } from "../task/task-backend.js";

/** A runc sandbox on disk (`<dir>/sandboxes/<id>.json`). Times are ISO strings. */
export interface SandboxRecord {
  id: string;
  namespace: string;
  netnsPath: string;
  pod: PodConfig | undefined;
  annotations: Record<string, string>;
  labels: Record<string, string>;
  state: SandboxState;
  createdAt: string;
  exitedAt: string | undefined;
  exitStatus: number;
  /** Why the pod stopped when nobody asked it to (its holder died...); absent after a Stop. */
  exitReason?: string;
  /** The holder's pid (0 before Start). */
  holderPid: number;
  /** Pid whose namespaces are the pod's: the holder, or its pod init with a shared pid namespace. */
  podPid: number;
  /**
   * The pod cgroup's path under every hierarchy's root (`<cgroup_parent>/<id>`),
   * made at Start and removed once the pod stopped; "" or absent: none.
   */
  cgroupPath?: string;
  /** Kuasar's `extensions.tasks` of the sandbox, as the last Update gave it (JSON text). */
  tasksExtension?: string;
  /** Whether `<pod dir>/shm` is a tmpfs we mounted. */
  shmMounted: boolean;
  /** Made for a single container without a pod: its spec's namespaces are left alone. */
  standalone?: boolean;
  /** A standalone sandbox whose container asks for a network namespace of its own (see SandboxCreateRequest.ownNetwork). */
  ownNetwork?: boolean;
  /**
   * Set (and persisted) before Start does anything, cleared when it is done: a
   * record still marked at daemon start is a Start the daemon died in.
   */
  starting?: boolean;
}

/** A container's init or exec process on disk. */
export interface ProcessRecord {
  execId: string;
  /** Key of the holder spawn that launched it (its stdin/terminal are addressed by it). */
  spawnId: string;
  pid: number;
  state: ProcessState;
  stdio: Stdio;
  exitStatus: number;
  exitedAt: string | undefined;
  /** When the process was started, to tell its journal entry from an older process with the same pid. */
  startedAt: string | undefined;
  /** OCI Process JSON of an exec. */
  process?: unknown;
}

/** A container on disk (`<dir>/containers/<id>.json`). */
export interface ContainerRecord {
  id: string;
  sandboxId: string;
  namespace: string;
  bundle: string;
  /** Whether we mounted the rootfs on `<bundle>/rootfs` (and so must unmount it). */
  rootfsMounted: boolean;
  init: ProcessRecord;
  execs: Record<string, ProcessRecord>;
  /** cgroup v1 memory dir or v2 dir of the container, read at start, for OOM detection. */
  memoryCgroup: string;
  /** The cgroup's OOM kill counter as last reported (/tasks/oom published up to it); absent: not watched. */
  oomKills?: number;
  /** Guest pid of a VM pod container's OOM watcher (`runc events` in the guest), while it runs. */
  oomWatcherPid?: number;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

/** Shape check for {@link SandboxRecord} (records from older or damaged files are refused). */
export function checkSandboxRecord(v: unknown): SandboxRecord {
  if (!isObj(v) || typeof v["id"] !== "string" || typeof v["state"] !== "string" || typeof v["holderPid"] !== "number") {
    throw new Error("not a sandbox record");
  }
  return v as unknown as SandboxRecord;
}

/** Shape check for {@link ContainerRecord}. */
export function checkContainerRecord(v: unknown): ContainerRecord {
  if (!isObj(v) || typeof v["id"] !== "string" || typeof v["sandboxId"] !== "string" || !isObj(v["init"]) || !isObj(v["execs"])) {
    throw new Error("not a container record");
  }
  return v as unknown as ContainerRecord;
}
