import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { which } from "../fs/which.js";
import { HolderClient } from "../holder/holder-client.js";
import { startHolder } from "../holder/start-holder.js";
import type { SandboxCreateRequest, Sandboxer, SandboxStatus, SandboxUpdate } from "../sandbox/sandboxer.js";
import { sandboxTransitions, transition } from "../sandbox/state-machine.js";
import type { CgroupStats } from "../task/task-backend.js";
import { createSandboxRecord, podOf, recoverRecords, sandboxStatus, sumStats, updateSandboxRecord, waitStopped } from "./sandbox-records.js";
import { isAlive, killQuietly, Pod, waitGone } from "./pod.js";
import type { SandboxRecord } from "./records.js";
import { mountTmpfs, unmount } from "./rootfs.js";
import type { PodRuntime } from "./pod-runtime.js";
import type { PodTasks } from "./pod-tasks.js";
import { StartGuard } from "../sandbox/start-guard.js";

/** Exit status reported for processes that died with their pod holder and left no journal entry. */
const LOST_EXIT_STATUS = 255;

/**
 * A sandboxer whose pods are a holder process (namespaces + subreaper + exit
 * journal, no pause container) and whose containers an engine runs inside them
 * (runc, a WASI runner...): the Sandbox API side, shared by those sandboxers.
 */
export class PodSandboxer implements Sandboxer {
  private readonly starts = new StartGuard();

  constructor(
    readonly kind: string,
    private readonly ctx: PodRuntime,
    readonly tasks: PodTasks,
    /** Executables a pod of this kind needs, checked at Create: `[what, path or name on PATH]`. */
    private readonly requiredBinaries: readonly (readonly [string, string])[],
  ) {
    mkdirSync(join(ctx.options.dir, "pods"), { recursive: true, mode: 0o711 });
    tasks.podDied = (pod, status) => void this.engineDied(pod, status);
  }

  has(id: string): boolean {
    return this.ctx.pods.has(id);
  }

  async create(req: SandboxCreateRequest): Promise<void> {
    createSandboxRecord(this.ctx, req, () => this.checkBinaries(), (r) => this.addPod(r));
  }

  async start(id: string, signal?: AbortSignal): Promise<SandboxStatus> {
    return this.starts.run(id, () => this.startPod(id, signal));
  }

  /** Start: the holder, then the engine; rolled back whole on failure, or when the caller gave up before it was done. */
  private async startPod(id: string, signal: AbortSignal | undefined): Promise<SandboxStatus> {
    const pod = this.pod(id);
    const r = pod.record;
    transition(sandboxTransitions, `sandbox ${id}`, r.state, "ready");
    const p = r.pod;
    const hostNetwork = p?.hostNetwork ?? r.netnsPath === "";
    // A standalone container's own spec asks for its namespaces: the pod shares none.
    const hostIpc = p?.hostIpc ?? r.standalone === true;
    let holderPid = 0;
    try {
      if (!hostIpc) {
        mkdirSync(join(pod.dir, "shm"), { recursive: true, mode: 0o1777 });
        await mountTmpfs(join(pod.dir, "shm"), this.ctx.options.shmSizeBytes);
        r.shmMounted = true;
      }
      const holder = await startHolder(pod.dir, {
        binary: this.ctx.options.holderBinary,
        netns: r.netnsPath || undefined,
        newIpc: !hostIpc,
        newUts: !hostNetwork && r.standalone !== true,
        hostname: hostNetwork ? undefined : p?.hostname || undefined,
        // Like a pause container, the pod always owns a pid namespace (unless it uses the host's):
        // a container that joins "the pod's" pid namespace must never land in the host's.
        newPid: !(p?.hostPid ?? false) && r.standalone !== true,
        logFile: join(pod.dir, "holder.log"),
      }, { signal });
      holderPid = holder.pid;
      pod.attach(await HolderClient.connect(pod.dir, { signal }));
      r.holderPid = holder.pid;
      r.podPid = holder.podInitPid ?? holder.pid;
      this.ctx.sandboxes.put(id, r);
      await this.tasks.podStarted(pod);
      // A caller that is gone will not learn of this pod: undo it rather than leave it to no one.
      signal?.throwIfAborted();
      r.state = "ready";
      this.ctx.sandboxes.put(id, r);
      pod.log.info({ holder_pid: r.holderPid, pod_pid: r.podPid }, "sandbox started");
      return this.statusOf(pod, false);
    } catch (err) {
      pod.log.warn({ err }, "sandbox start failed; cleaning up");
      if (holderPid > 0) await this.tasks.podStopping(pod).catch(() => {});
      if (holderPid > 0) killQuietly(holderPid);
      await pod.detach();
      if (r.shmMounted) await unmount(join(pod.dir, "shm")).catch(() => {});
      r.shmMounted = false;
      r.holderPid = 0;
      r.podPid = 0;
      this.ctx.sandboxes.put(id, r);
      throw RuntimeError.from(err);
    }
  }

  async platform(id: string): Promise<{ os: string; architecture: string; variant: string }> {
    this.pod(id);
    return { os: "linux", architecture: goArch(process.arch), variant: "" };
  }

  async stop(id: string, timeoutSecs: number): Promise<void> {
    await this.starts.settled(id);
    await this.stopPod(this.pod(id), timeoutSecs, 0);
  }

  /** Stop: containers get SIGTERM and `timeoutSecs` to exit, then the engine and the holder go, taking the rest along. */
  private async stopPod(pod: Pod, timeoutSecs: number, exitStatus: number): Promise<void> {
    const id = pod.id;
    if (pod.record.state === "stopped") return;
    const containers = [...this.ctx.containers.values()].filter((c) => c.pod === pod && c.record.init.state !== "stopped");
    if (timeoutSecs > 0 && containers.length > 0) {
      await Promise.all(containers.map((c) => this.tasks.kill(c.id, "", 15, true).catch(() => {})));
      const deadline = AbortSignal.timeout(timeoutSecs * 1000);
      await Promise.all(containers.map((c) => c.waitFor("", deadline).catch(() => {})));
    }
    pod.stopping = true;
    await this.tasks.podStopping(pod).catch((err: unknown) => pod.log.warn({ err }, "stopping the pod's engine failed"));
    const holder = pod.client;
    if (holder) {
      // The holder SIGKILLs and reaps (journals) whatever is left, then exits.
      await holder.shutdown().catch((err: unknown) => pod.log.warn({ err }, "holder shutdown failed"));
    }
    await waitGone(pod.record.holderPid, 5000);
    if (isAlive(pod.record.holderPid)) killQuietly(pod.record.holderPid);
    await pod.detach();
    pod.replayJournalFile();
    this.tasks.abandon(pod, LOST_EXIT_STATUS);
    await this.finishStop(pod, exitStatus);
  }

  /** The engine's sandbox died under a ready pod: everything left is stopped and the pod reported exited. */
  private async engineDied(pod: Pod, exitStatus: number): Promise<void> {
    if (pod.record.state !== "ready" || pod.stopping) return;
    pod.log.warn({ exit_status: exitStatus }, "the pod's sandbox died");
    await this.stopPod(pod, 0, exitStatus).catch((err: unknown) => pod.log.error({ err }, "stopping a pod whose sandbox died failed"));
  }

  async wait(id: string, signal: AbortSignal): Promise<{ exitStatus: number; exitedAt: Date }> {
    return waitStopped(this.pod(id), signal);
  }

  async status(id: string, verbose: boolean): Promise<SandboxStatus> {
    return this.statusOf(this.pod(id), verbose);
  }

  async shutdown(id: string): Promise<void> {
    await this.starts.settled(id);
    const pod = this.pod(id);
    if (pod.record.state !== "stopped") await this.stop(id, 0);
    // Every container record of the pod is in memory (recovery adopts them all), so this removes them all.
    for (const c of [...this.ctx.containers.values()].filter((x) => x.pod === pod)) await this.tasks.remove(c);
    rmSync(pod.dir, { recursive: true, force: true });
    this.ctx.sandboxes.delete(id);
    this.ctx.pods.delete(id);
    pod.log.info("sandbox removed");
  }

  async metrics(id: string): Promise<CgroupStats> {
    const pod = this.pod(id);
    const running = [...this.ctx.containers.values()].filter((c) => c.pod === pod && c.record.init.state === "running");
    if (running.length === 0) {
      if (pod.record.state !== "ready") throw new RuntimeError(Code.FailedPrecondition, `sandbox ${id} is ${pod.record.state}`);
      return this.tasks.podStats(pod);
    }
    return sumStats(await Promise.all(running.map((c) => this.tasks.stats(c.id))));
  }

  async update(id: string, change: SandboxUpdate): Promise<void> {
    updateSandboxRecord(this.ctx, this.pod(id), change);
  }

  async recover(): Promise<void> {
    const ready = await recoverRecords(this.ctx, this.tasks, (r) => this.addPod(r), async (pod) => {
      try {
        pod.attach(await HolderClient.connect(pod.dir, { timeoutMs: 3000 }));
        pod.replayJournalFile(); // exits between the first read and the connection
        pod.log.info({ holder_pid: pod.record.holderPid }, "sandbox re-attached");
      } catch (err) {
        pod.log.warn({ err }, "pod holder gone while the daemon was down");
      }
    });
    for (const pod of this.ctx.pods.values()) {
      if (pod.record.state === "ready" && !pod.client) await this.holderGone(pod);
    }
    for (const pod of ready) {
      if (pod.record.state === "ready") await this.tasks.podRecovered(pod).catch((err: unknown) => pod.log.error({ err }, "checking the pod's engine failed"));
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.ctx.pods.values()].map((p) => p.detach()));
  }

  private addPod(record: SandboxRecord): Pod {
    const pod = new Pod(record, this.ctx.podDir(record.id), this.ctx.log.child({ sandbox_id: record.id }), (p) => void this.holderLost(p));
    pod.onExit((e) => this.tasks.handleExit(pod, e));
    this.ctx.pods.set(record.id, pod);
    return pod;
  }

  /**
   * The holder connection dropped without Stop: if the holder is dead (it is our
   * child until a restart, so give the reaper a moment) the pod stopped;
   * otherwise reconnect.
   */
  private async holderLost(pod: Pod): Promise<void> {
    await waitGone(pod.record.holderPid, 3000);
    if (pod.stopping || pod.record.state !== "ready") return;
    if (isAlive(pod.record.holderPid)) {
      try {
        pod.attach(await HolderClient.connect(pod.dir, { timeoutMs: 3000 }));
        pod.replayJournalFile();
        pod.log.warn("pod holder connection dropped; reconnected");
        return;
      } catch (err) {
        pod.log.error({ err, holder_pid: pod.record.holderPid }, "pod holder alive but unreachable");
      }
    }
    pod.log.warn({ holder_pid: pod.record.holderPid }, "pod holder died");
    await this.holderGone(pod);
  }

  /** The holder died without Stop: every process with no journaled exit is lost with it. */
  private async holderGone(pod: Pod): Promise<void> {
    if (pod.record.state === "stopped") return;
    pod.replayJournalFile();
    this.tasks.abandon(pod, LOST_EXIT_STATUS);
    await this.finishStop(pod, LOST_EXIT_STATUS);
  }

  private async finishStop(pod: Pod, exitStatus: number): Promise<void> {
    const r = pod.record;
    if (r.shmMounted) await unmount(join(pod.dir, "shm")).catch((err: unknown) => pod.log.warn({ err }, "unmounting shm failed"));
    r.shmMounted = false;
    r.state = "stopped";
    r.exitStatus = exitStatus;
    r.exitedAt = new Date().toISOString();
    this.ctx.sandboxes.put(r.id, r);
    pod.markStopped();
    pod.log.info({ exit_status: exitStatus }, "sandbox stopped");
  }

  private statusOf(pod: Pod, verbose: boolean): SandboxStatus {
    const r = pod.record;
    const info: Record<string, string> = {};
    if (verbose) {
      info["holder_pid"] = String(r.holderPid);
      info["pod_pid"] = String(r.podPid);
      info["netns"] = r.netnsPath;
      info["dir"] = pod.dir;
      info["sandboxer"] = this.kind;
      info["namespace"] = r.namespace;
    }
    return sandboxStatus(this.ctx, r, info);
  }

  private pod(id: string): Pod {
    return podOf(this.ctx, id);
  }

  private checkBinaries(): void {
    for (const [what, path] of [["kuasar-holder", this.ctx.options.holderBinary] as const, ...this.requiredBinaries]) {
      if (!which(path)) throw new RuntimeError(Code.FailedPrecondition, `${what} binary ${JSON.stringify(path)} not found or not executable`);
    }
  }
}

function goArch(arch: string): string {
  return arch === "x64" ? "amd64" : arch === "ia32" ? "386" : arch;
}

