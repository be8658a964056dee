import { createHash } from "node:crypto";
import { join } from "node:path";
import { shortSocketPath } from "../fs/long-socket-path.js";
import type { Logger } from "../log/logger.js";
import { RecordStore } from "../sandbox/record-store.js";
import type { EventPublisher } from "../task/task-event.js";
import type { Container } from "./container.js";
import type { Pod } from "./pod.js";
import { type Clock, realClock } from "../time/clock.js";
import { checkContainerRecord, checkSandboxRecord, type ContainerRecord, type SandboxRecord } from "./records.js";

/** Options every holder-based sandboxer shares. */
export interface PodRuntimeOptions {
  /** State directory (`--dir`), e.g. `/run/kuasar-runc`. */
  dir: string;
  /** Task API address returned by Start (`ttrpc+unix://...`), served by kuasar-endpoint. */
  taskAddress: string;
  /** The pod holder executable (built by `npm run build`). */
  holderBinary: string;
  /** Size of a pod's /dev/shm tmpfs, in bytes. Default 64 MiB, as containerd's CRI. */
  shmSizeBytes: number;
  /**
   * How often what `dir` holds that no live sandbox owns is taken down, in ms
   * (also done once at start); 0 disables the periodic pass. Default 60000.
   */
  reconcileIntervalMs: number;
}

/**
 * State shared by the sandbox side (PodSandboxer) and the task side (PodTasks)
 * of one sandboxer. Each structure has one owner that alone changes it; the
 * other side only reads it.
 */
export class PodRuntime {
  /** Sandbox records on disk. Owner: PodSandboxer. */
  readonly sandboxes: RecordStore<SandboxRecord>;
  /** Container records on disk. Owner: PodTasks. */
  readonly containerRecords: RecordStore<ContainerRecord>;
  /** Pods by sandbox id. Owner: PodSandboxer. */
  readonly pods = new Map<string, Pod>();
  /** Containers by id. Owner: PodTasks. */
  readonly containers = new Map<string, Container>();

  constructor(
    readonly options: PodRuntimeOptions,
    readonly log: Logger,
    readonly events: EventPublisher,
    /** The lowest oom_score_adj this process may give a child (CAP_SYS_RESOURCE is needed to go lower). */
    readonly minOomScoreAdj: number,
    /** Time for grace periods and the reconcile interval: the real clock, a manual one in tests. */
    readonly clock: Clock = realClock,
  ) {
    this.sandboxes = new RecordStore(join(options.dir, "sandboxes"), "sandbox", checkSandboxRecord);
    this.containerRecords = new RecordStore(join(options.dir, "containers"), "container", checkContainerRecord);
  }

  /** Directory of one pod (holder socket, journal, pod files). */
  podDir(id: string): string {
    return join(this.options.dir, "pods", id);
  }

  /** A terminal's console socket: runc and runsc dial it by name, so it must fit `sun_path` whatever `dir` is. */
  consoleSocket(key: string): string {
    return shortSocketPath(join(this.options.dir, "con", `${shortHash(key)}.sock`));
  }
}

/** 16 hex chars of sha256, for short file names. */
export function shortHash(s: string): string {
  return createHash("sha256").update(s).digest("hex").slice(0, 16);
}
