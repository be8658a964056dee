import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { which } from "../fs/which.js";
import { HolderClient } from "../holder/holder-client.js";
import type { PodAgent } from "../holder/pod-agent.js";
import { startHolder } from "../holder/start-holder.js";
import { makeRecordedPodCgroup, podCgroupPath, removePodCgroup } from "../cgroup/pod-cgroup.js";
import { podSysctlsToApply } from "../sandbox/pod-sysctls-applied.js";
import type { SandboxCreateRequest } from "../sandbox/sandboxer.js";
import type { CgroupStats } from "../task/task-backend.js";
import { isHolderOf, recordedHolderPids } from "./leftover-pod.js";
import { EXIT_JOURNAL, isAlive, killQuietly, waitGone, type Pod, type PodJournal } from "./pod.js";
import { goArch, type Platform, type PodHost } from "./pod-host.js";
import type { PodRuntime } from "./pod-runtime.js";
import type { SandboxRecord } from "./records.js";
import { mountsBelow, unmount } from "./rootfs.js";
import { sumStats } from "./sandbox-records.js";
import type { SandboxTasks } from "./sandbox-tasks.js";

/** How long the holder gets to exit after a shutdown or a kill, in ms. */
const HOLDER_EXIT_MS = 5000;

/**
 * The host side of a runc, wasm or gvisor pod: a kuasar-holder process
 * (namespaces, subreaper, exit journal; no pause container) in the pod's cgroup,
 * with the pod's /dev/shm, supervised over its control socket.
 */
export class HolderHost implements PodHost {
  readonly supervisorName = "holder";
  readonly podsDirMode = 0o700;

  constructor(
    private readonly ctx: PodRuntime,
    private readonly tasks: SandboxTasks,
    /** Executables a pod of this kind needs besides the holder, checked at Create: `[what, path or name on PATH]`. */
    private readonly requiredBinaries: readonly (readonly [string, string])[],
    /** What the kind found out about the host (gVisor's platform and network probe), for kuasar-ctl check. */
    private readonly facts: () => Record<string, string> = () => ({}),
  ) {}

  hostFacts(): Record<string, string> {
    return this.facts();
  }

  checkCreate(req: SandboxCreateRequest): void {
    this.tasks.checkPodSysctls(req.pod?.sysctls ?? {});
    podCgroupPath(req.pod?.cgroupParent ?? "", req.id); // a bad cgroup_parent is refused here, before anything is made
    for (const [what, path] of [["kuasar-holder", this.ctx.options.holderBinary] as const, ...this.requiredBinaries]) {
      if (!which(path)) throw new RuntimeError(Code.FailedPrecondition, `${what} binary ${JSON.stringify(path)} not found or not executable`);
    }
  }

  journal(_record: SandboxRecord, podDir: string): PodJournal {
    return { path: join(podDir, EXIT_JOURNAL), clockSkewMs: 1000 };
  }

  /** The pod's shm, its cgroup, then the holder in them; each recorded before the next is made. */
  async launch(pod: Pod, save: () => void, signal: AbortSignal | undefined): Promise<PodAgent> {
    const r = pod.record;
    const p = r.pod;
    const hostNetwork = p?.hostNetwork ?? r.netnsPath === "";
    // A standalone container's own spec asks for its namespaces: the pod shares none.
    const hostIpc = p?.hostIpc ?? r.standalone === true;
    if (!hostIpc) {
      // The tmpfs is 1777 for the pod's users; the pod dir above it (0700) keeps host users out.
      mkdirSync(join(pod.dir, "shm"), { recursive: true, mode: 0o700 });
      // The holder mounts it (no mount(8) spawned per pod); recorded first, as "maybe mounted".
      r.shmMounted = true;
      save();
    }
    const cgroups = this.makePodCgroup(pod, save);
    const holder = await startHolder(pod.dir, {
      binary: this.ctx.options.holderBinary,
      netns: r.netnsPath || undefined,
      newIpc: !hostIpc,
      newUts: !hostNetwork && r.standalone !== true,
      hostname: hostNetwork ? undefined : p?.hostname || undefined,
      // Validated at Create.
      sysctls: this.tasks.holderSetsPodSysctls ? podSysctlsToApply(p) : {},
      cgroups,
      shm: hostIpc ? undefined : { dir: join(pod.dir, "shm"), sizeBytes: this.ctx.options.shmSizeBytes },
      // Like a pause container, the pod always owns a pid namespace (unless it uses the host's):
      // a container that joins "the pod's" pid namespace must never land in the host's.
      newPid: !(p?.hostPid ?? false) && r.standalone !== true,
      logFile: join(pod.dir, "holder.log"),
    }, { signal });
    r.holderPid = holder.pid;
    r.podPid = holder.podInitPid ?? holder.pid;
    save();
    return HolderClient.connect(pod.dir, { signal });
  }

  async setUp(): Promise<void> {}

  attached(): void {}

  connect(pod: Pod, timeoutMs: number): Promise<PodAgent> {
    return HolderClient.connect(pod.dir, { timeoutMs });
  }

  supervisorAlive(pod: Pod): boolean {
    return isAlive(pod.record.holderPid);
  }

  /** Kills the recorded holder, and the one the pod dir names (a Start may have died before recording it), if they are this pod's. */
  async kill(pod: Pod): Promise<void> {
    const { holderPid: recorded } = recordedHolderPids(pod.dir);
    for (const pid of new Set([pod.record.holderPid, recorded])) if (pid > 0 && isHolderOf(pid, pod.dir)) killQuietly(pid);
    await waitGone(pod.record.holderPid, HOLDER_EXIT_MS);
  }

  async shutdown(pod: Pod): Promise<void> {
    // The holder SIGKILLs and reaps (journals) whatever is left, then exits.
    await pod.client?.shutdown().catch((err: unknown) => pod.log.warn({ err }, "holder shutdown failed"));
    await waitGone(pod.record.holderPid, HOLDER_EXIT_MS);
    if (isAlive(pod.record.holderPid)) killQuietly(pod.record.holderPid);
  }

  /** Unmounts the pod's shm and removes its cgroup (killing what is left in it). */
  async release(pod: Pod): Promise<void> {
    const r = pod.record;
    // A holder that exited unmounted it; one that died (or never mounted it) left at most this.
    const shm = join(pod.dir, "shm");
    if (r.shmMounted && mountsBelow(shm).includes(shm)) await unmount(shm).catch((err: unknown) => pod.log.warn({ err }, "unmounting shm failed"));
    r.shmMounted = false;
    const path = r.cgroupPath;
    if (!path) return;
    if (!(await removePodCgroup(path))) pod.log.warn({ cgroup: path }, "pod cgroup could not be removed");
    else delete r.cgroupPath;
  }

  async discard(): Promise<void> {}

  statusInfo(pod: Pod, verbose: boolean): Record<string, string> {
    const engine = this.tasks.podInfo(pod);
    return verbose ? { ...engine, holder_pid: String(pod.record.holderPid), pod_pid: String(pod.record.podPid) } : engine;
  }

  async metrics(pod: Pod, containers: CgroupStats[]): Promise<CgroupStats> {
    return containers.length === 0 ? this.tasks.podStats(pod) : sumStats(containers);
  }

  platform(): Platform {
    return { os: "linux", architecture: goArch(process.arch), variant: "" };
  }

  async recovered(): Promise<void> {}

  async close(): Promise<void> {}

  /** Makes the pod cgroup with the pod's limits; the dirs the holder joins. */
  private makePodCgroup(pod: Pod, save: () => void): string[] {
    const dirs = makeRecordedPodCgroup(pod.record, save);
    if (dirs.length > 0) pod.log.debug({ cgroup: pod.record.cgroupPath }, "pod cgroup made");
    return dirs;
  }
}
