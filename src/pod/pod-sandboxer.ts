import { runCaptured, type ExecOutcome } from "../process/run-captured.js";
import { podInventory } from "../pod/pod-inventory.js";
import type { Inventory } from "../sandbox/sandboxer.js";
import { chmodSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { explainFullDisk } from "../fs/disk-full.js";
import { which } from "../fs/which.js";
import { HolderClient } from "../holder/holder-client.js";
import { startHolder } from "../holder/start-holder.js";
import type { SandboxCreateRequest, Sandboxer, SandboxStatus, SandboxUpdate } from "../sandbox/sandboxer.js";
import { sandboxTransitions, transition } from "../sandbox/state-machine.js";
import { podSysctlsToApply } from "../sandbox/pod-sysctls-applied.js";
import type { CgroupStats } from "../task/task-backend.js";
import { createSandboxRecord, podOf, recoverRecords, sandboxStatus, sumStats, updateSandboxRecord, waitStopped } from "./sandbox-records.js";
import { isAlive, killQuietly, Pod, waitGone } from "./pod.js";
import type { SandboxRecord } from "./records.js";
import { mountTmpfs, unmount, unmountBelow } from "./rootfs.js";
import { isHolderOf, podDirIds, recordedHolderPids, rederivedRecord } from "./leftover-pod.js";
import type { PodRuntime } from "./pod-runtime.js";
import type { PodTasks } from "./pod-tasks.js";
import { StartGuard } from "../sandbox/start-guard.js";
import { logPodLost } from "./pod-lost.js";
import { announcePhase } from "../diagnostics/pod-phase-channel.js";
import { applyPodResources, createPodCgroup, podCgroupPath, removePodCgroup } from "../cgroup/pod-cgroup.js";

/** Exit status of a pod whose holder (or engine sandbox) died, and of processes lost with it whose fate is unknown. */
const LOST_EXIT_STATUS = 255;
/** Exit status of a process of a pod whose holder died, with no journaled exit: SIGKILLed, by us or with the pod's pid namespace. */
const KILLED_WITH_HOLDER_STATUS = 137;

/**
 * A sandboxer whose pods are a holder process (namespaces + subreaper + exit
 * journal, no pause container) and whose containers an engine runs inside them
 * (runc, a WASI runner...): the Sandbox API side, shared by those sandboxers.
 */
export class PodSandboxer implements Sandboxer {
  private readonly starts = new StartGuard();
  /** Sandboxes the previous daemon created and nobody has started since the restart. */
  private readonly notStartedSinceRestart = new Set<string>();
  private reconcileTimer: NodeJS.Timeout | undefined;
  private reconciling = false;
  /** Pods re-derived only to be taken down: their stop is not persisted. */
  private readonly leftovers = new WeakSet<Pod>();
  /** Pods being ended because their holder died, by id. */
  private readonly ending = new Map<string, Promise<void>>();

  constructor(
    readonly kind: string,
    private readonly ctx: PodRuntime,
    readonly tasks: PodTasks,
    /** Executables a pod of this kind needs, checked at Create: `[what, path or name on PATH]`. */
    private readonly requiredBinaries: readonly (readonly [string, string])[],
    /** Shown in every Status of this kind (e.g. which OCI runtime runs its containers, and why). */
    private readonly statusInfo: Readonly<Record<string, string>> = {},
  ) {
    // 0700: nothing of a pod (its files, its /dev/shm) is reachable by host users.
    const pods = join(ctx.options.dir, "pods");
    mkdirSync(pods, { recursive: true, mode: 0o700 });
    chmodSync(pods, 0o700); // a dir made by an older version was 0711
    tasks.podDied = (pod, status) => void this.engineDied(pod, status);
  }

  has(id: string): boolean {
    return this.ctx.pods.has(id);
  }

  async create(req: SandboxCreateRequest): Promise<void> {
    createSandboxRecord(this.ctx, req, () => {
      this.tasks.checkPodSysctls(req.pod?.sysctls ?? {});
      podCgroupPath(req.pod?.cgroupParent ?? "", req.id); // a bad cgroup_parent is refused here, before anything is made
      this.checkBinaries();
    }, (r) => this.addPod(r));
  }

  async start(id: string, signal?: AbortSignal): Promise<SandboxStatus> {
    return this.starts.run(id, () => this.startPod(id, signal));
  }

  /** Start: the holder, then the engine; rolled back whole on failure, or when the caller gave up before it was done. */
  private async startPod(id: string, signal: AbortSignal | undefined): Promise<SandboxStatus> {
    const pod = this.pod(id);
    const r = pod.record;
    transition(sandboxTransitions, `sandbox ${id}`, r.state, "ready");
    if (r.starting) throw new RuntimeError(Code.FailedPrecondition, `sandbox ${id}: already starting`);
    this.notStartedSinceRestart.delete(id);
    const p = r.pod;
    const hostNetwork = p?.hostNetwork ?? r.netnsPath === "";
    // A standalone container's own spec asks for its namespaces: the pod shares none.
    const hostIpc = p?.hostIpc ?? r.standalone === true;
    let holderPid = 0;
    try {
      // Persisted before anything is made: a daemon that dies from here on finds this Start to roll back.
      r.starting = true;
      this.ctx.sandboxes.put(id, r);
      if (!hostIpc) {
        // The tmpfs is 1777 for the pod's users; the pod dir above it (0700) keeps host users out.
        mkdirSync(join(pod.dir, "shm"), { recursive: true, mode: 0o700 });
        await mountTmpfs(join(pod.dir, "shm"), this.ctx.options.shmSizeBytes);
        r.shmMounted = true;
      }
      const cgroups = this.makePodCgroup(pod);
      let phaseStarted = process.hrtime.bigint();
      const holder = await startHolder(pod.dir, {
        binary: this.ctx.options.holderBinary,
        netns: r.netnsPath || undefined,
        newIpc: !hostIpc,
        newUts: !hostNetwork && r.standalone !== true,
        hostname: hostNetwork ? undefined : p?.hostname || undefined,
        // Validated at Create.
        sysctls: this.tasks.holderSetsPodSysctls ? podSysctlsToApply(p) : {},
        cgroups,
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
      announcePhase(this.kind, "start.holder", phaseStarted, true);
      phaseStarted = process.hrtime.bigint();
      await this.tasks.podStarted(pod);
      announcePhase(this.kind, "start.engine", phaseStarted, true);
      // A caller that is gone will not learn of this pod: undo it rather than leave it to no one.
      signal?.throwIfAborted();
      r.state = "ready";
      delete r.starting;
      this.ctx.sandboxes.put(id, r);
      pod.log.info({ holder_pid: r.holderPid, pod_pid: r.podPid }, "sandbox started");
      return this.statusOf(pod, false);
    } catch (err) {
      // containerd forgets a sandbox whose Start failed and never shuts it down: leave nothing.
      pod.log.warn({ err }, "sandbox start failed; removing it");
      r.state = "created";
      pod.stopping = true;
      if (holderPid > 0) await this.tasks.podStopping(pod).catch(() => {});
      await pod.detach();
      const { holderPid: recorded } = recordedHolderPids(pod.dir);
      for (const pid of [holderPid, recorded]) if (pid > 0 && (pid === holderPid || isHolderOf(pid, pod.dir))) killQuietly(pid);
      await waitGone(holderPid, 5000);
      await this.discard(pod).catch((e: unknown) => pod.log.error({ err: e }, "removing a sandbox whose start failed failed"));
      throw explainFullDisk(err, this.ctx.options.dir);
    }
  }

  /**
   * Makes the pod cgroup under CRI's cgroup_parent (recorded first, so whatever
   * undoes this Start removes it) with the pod's limits; the dirs the holder joins.
   */
  private makePodCgroup(pod: Pod): string[] {
    const r = pod.record;
    const path = podCgroupPath(r.pod?.cgroupParent ?? "", r.id);
    if (!path) return [];
    r.cgroupPath = path;
    this.ctx.sandboxes.put(r.id, r);
    const dirs = createPodCgroup(path);
    const res = r.pod?.resources;
    if (res && (res.memoryLimitBytes > 0 || res.cpuQuota !== 0 || res.cpuPeriod > 0 || res.cpuShares > 0)) applyPodResources(path, res);
    pod.log.debug({ cgroup: path }, "pod cgroup made");
    return dirs;
  }

  /** Removes the pod cgroup (killing what is left in it): the holder and its pod init are gone by now. */
  private async dropPodCgroup(pod: Pod): Promise<void> {
    const path = pod.record.cgroupPath;
    if (!path) return;
    if (!(await removePodCgroup(path))) pod.log.warn({ cgroup: path }, "pod cgroup could not be removed");
    else delete pod.record.cgroupPath;
  }

  async debugExec(id: string, containerId: string | undefined, argv: string[], timeoutMs: number): Promise<ExecOutcome> {
    const pod = this.pod(id);
    if (pod.record.state !== "ready") throw new RuntimeError(Code.FailedPrecondition, `sandbox ${id} is ${pod.record.state}`);
    if (argv.length === 0) throw new RuntimeError(Code.InvalidArgument, "exec: a command is required");
    const running = [...this.ctx.containers.values()].filter((c) => c.pod === pod && c.record.init.state === "running");
    const c = containerId === undefined ? running[0] : running.find((x) => x.id === containerId);
    if (containerId !== undefined && !c) throw new RuntimeError(Code.NotFound, `container ${containerId}: no running container of that id in sandbox ${id}`);
    return runCaptured(this.tasks.debugExecArgv(pod, c, argv), timeoutMs);
  }

  inventory(): Inventory {
    return podInventory(this.ctx);
  }

  async platform(id: string): Promise<{ os: string; architecture: string; variant: string }> {
    this.pod(id);
    return { os: "linux", architecture: goArch(process.arch), variant: "" };
  }

  async stop(id: string, timeoutSecs: number): Promise<void> {
    await this.starts.settled(id);
    const pod = this.pod(id);
    await this.ending.get(id); // a pod whose holder died is being ended: Stop finds it stopped
    await this.stopPod(pod, timeoutSecs, 0);
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
    this.tasks.abandon(pod, LOST_EXIT_STATUS, "gone with the pod's holder at Stop, no exit journaled");
    await this.finishStop(pod, exitStatus);
  }

  /** The engine's sandbox died under a ready pod: everything left is stopped and the pod reported exited. */
  private async engineDied(pod: Pod, exitStatus: number): Promise<void> {
    if (pod.record.state !== "ready" || pod.stopping) return;
    pod.log.warn({ exit_status: exitStatus }, "the pod's sandbox died");
    await this.stopPod(pod, 0, exitStatus).catch((err: unknown) => pod.log.error({ err }, "stopping a pod whose sandbox died failed"));
    logPodLost(pod, this.kind, "engine sandbox died");
  }

  async wait(id: string, signal: AbortSignal): Promise<{ exitStatus: number; exitedAt: Date }> {
    return waitStopped(this.pod(id), signal);
  }

  async status(id: string, verbose: boolean): Promise<SandboxStatus> {
    return this.statusOf(this.pod(id), verbose);
  }

  /**
   * Removes the sandbox and everything it left; a sandbox that is not (or no
   * longer) known succeeds after removing whatever is left under its id, so a
   * Shutdown retried after a crash is idempotent.
   */
  async shutdown(id: string): Promise<void> {
    await this.starts.settled(id);
    let pod = this.ctx.pods.get(id);
    if (!pod) {
      pod = this.leftoverOf(id);
      if (!pod) return;
      await this.attachLeftover(pod);
    }
    if (pod.record.state !== "stopped") await this.stopPod(pod, 0, 0);
    // Every container record of the pod is in memory (recovery adopts them all), so this removes them all.
    for (const c of [...this.ctx.containers.values()].filter((x) => x.pod === pod)) await this.tasks.remove(c);
    await this.discard(pod);
    pod.log.info("sandbox removed");
  }

  /** Unmounts and removes the pod dir, then the record (and a quarantined one), then forgets the pod. */
  private async discard(pod: Pod): Promise<void> {
    await unmountBelow(pod.dir);
    await this.dropPodCgroup(pod);
    rmSync(pod.dir, { recursive: true, force: true });
    this.ctx.sandboxes.delete(pod.id);
    rmSync(join(this.ctx.sandboxes.dir, `${pod.id}.json.damaged`), { force: true });
    if (this.ctx.pods.get(pod.id) === pod) this.ctx.pods.delete(pod.id);
    this.notStartedSinceRestart.delete(pod.id);
    pod.markStopped();
  }

  /** A pod re-derived from what is left under `id` (its dir, a quarantined record), or undefined when nothing is. */
  private leftoverOf(id: string): Pod | undefined {
    const dir = this.ctx.podDir(id);
    if (!existsSync(dir) && !existsSync(join(this.ctx.sandboxes.dir, `${id}.json.damaged`))) return undefined;
    return this.addPod(rederivedRecord(id, dir, "k8s.io"));
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
    const found = await recoverRecords(this.ctx, this.tasks, (r) => this.addPod(r), async (pod) => {
      try {
        pod.attach(await HolderClient.connect(pod.dir, { timeoutMs: 3000 }));
        pod.replayJournalFile(); // exits between the first read and the connection
        pod.log.info({ holder_pid: pod.record.holderPid }, "sandbox re-attached");
      } catch (err) {
        pod.log.warn({ err }, "pod holder gone while the daemon was down");
      }
    });
    for (const pod of this.ctx.pods.values()) {
      if (pod.record.state === "ready" && !pod.client && !found.leftovers.includes(pod)) await this.holderGone(pod);
    }
    for (const pod of found.ready) {
      if (pod.record.state === "ready") await this.tasks.podRecovered(pod).catch((err: unknown) => pod.log.error({ err }, "checking the pod's engine failed"));
    }
    for (const pod of found.leftovers) await this.takeDown(pod);
    for (const pod of found.created) this.notStartedSinceRestart.add(pod.id);
    const every = this.ctx.options.reconcileIntervalMs;
    if (every > 0) {
      this.reconcileTimer = setInterval(() => void this.reconcile(), every);
      this.reconcileTimer.unref();
    }
  }

  /**
   * Takes down what no live sandbox owns, as at start: pod dirs without a pod
   * (their holders, mounts and recorded containers), and sandboxes the previous
   * daemon created whose Start never came (containerd calls Start right after
   * Create; one that has not come a whole interval after a restart never will).
   */
  async reconcile(): Promise<void> {
    if (this.reconciling) return;
    this.reconciling = true;
    try {
      for (const id of [...this.notStartedSinceRestart]) {
        const pod = this.ctx.pods.get(id);
        this.notStartedSinceRestart.delete(id);
        if (!pod || pod.record.state !== "created" || pod.record.starting) continue;
        pod.log.warn("created before the daemon restarted and never started; removing it");
        await this.shutdown(id).catch((err: unknown) => pod.log.error({ err }, "removing a sandbox never started failed"));
      }
      for (const id of podDirIds(join(this.ctx.options.dir, "pods"))) {
        if (this.ctx.pods.has(id)) continue;
        const pod = this.leftoverOf(id);
        if (!pod) continue;
        pod.log.warn({ holder_pid: pod.record.holderPid }, "pod dir without a sandbox; taking it down");
        await this.takeDown(pod);
      }
    } catch (err) {
      this.ctx.log.error({ err }, "reconciliation failed");
    } finally {
      this.reconciling = false;
    }
  }

  /** Stops and removes a re-derived pod through the ordinary paths (its holder, if alive, kills what it launched). */
  private async takeDown(pod: Pod): Promise<void> {
    try {
      await this.attachLeftover(pod);
      await this.shutdown(pod.id);
    } catch (err) {
      pod.log.error({ err }, "taking a leftover pod down failed");
    }
  }

  /** Connects to a leftover pod's live holder, so Stop can have it kill what it launched. */
  private async attachLeftover(pod: Pod): Promise<void> {
    this.leftovers.add(pod);
    if (pod.record.state !== "ready" || pod.client) return;
    try {
      pod.attach(await HolderClient.connect(pod.dir, { timeoutMs: 2000 }));
    } catch (err) {
      pod.log.warn({ err }, "leftover pod holder unreachable; it is killed");
    }
  }

  async close(): Promise<void> {
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
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

  /**
   * The holder died without Stop (kill -9, OOM, a bug). Its processes cannot be
   * adopted: only their parent or a subreaper can reap them and read how they
   * ended, and the pod's shared namespaces died with the holder's pod init. So the
   * pod ends as a pod whose pause container died (kubelet then makes a new one):
   * everything of it is killed, exits the holder journaled before it died are
   * reported as they were, every other process as SIGKILLed (137), and the pod is
   * stopped (docs/adr/0004-holder-death.md). One run per pod; Stop waits for it.
   */
  private holderGone(pod: Pod): Promise<void> {
    const running = this.ending.get(pod.id);
    if (running) return running;
    const run = this.endLostPod(pod).finally(() => this.ending.delete(pod.id));
    this.ending.set(pod.id, run);
    return run;
  }

  private async endLostPod(pod: Pod): Promise<void> {
    if (pod.record.state === "stopped") return;
    pod.stopping = true;
    const holderPid = pod.record.holderPid;
    const reason = `pod holder (pid ${holderPid}) died; the pod's processes were killed`;
    pod.log.warn({ holder_pid: holderPid }, "pod holder died: killing the pod's processes");
    // Alive but unreachable is as good as dead: it must not hold the pod's namespaces on.
    if (isHolderOf(holderPid, pod.dir)) killQuietly(holderPid);
    await pod.detach();
    await this.tasks.podLost(pod).catch((err: unknown) => pod.log.error({ err }, "killing the processes of a pod whose holder died failed"));
    pod.replayJournalFile(); // what the holder reaped before it died, with the real status
    this.tasks.abandon(pod, KILLED_WITH_HOLDER_STATUS, reason);
    pod.record.exitReason = reason;
    await this.finishStop(pod, LOST_EXIT_STATUS);
    logPodLost(pod, this.kind, "holder died");
  }

  private async finishStop(pod: Pod, exitStatus: number): Promise<void> {
    const r = pod.record;
    if (r.shmMounted) await unmount(join(pod.dir, "shm")).catch((err: unknown) => pod.log.warn({ err }, "unmounting shm failed"));
    r.shmMounted = false;
    await this.dropPodCgroup(pod);
    r.state = "stopped";
    r.exitStatus = exitStatus;
    r.exitedAt = new Date().toISOString();
    if (!this.leftovers.has(pod)) this.ctx.sandboxes.put(r.id, r);
    pod.markStopped();
    pod.log.info({ exit_status: exitStatus }, "sandbox stopped");
  }

  private statusOf(pod: Pod, verbose: boolean): SandboxStatus {
    const r = pod.record;
    const info: Record<string, string> = { ...this.statusInfo };
    if (verbose) {
      info["holder_pid"] = String(r.holderPid);
      info["pod_pid"] = String(r.podPid);
      info["netns"] = r.netnsPath;
      info["dir"] = pod.dir;
      info["sandboxer"] = this.kind;
      info["namespace"] = r.namespace;
    }
    if (r.exitReason) info["exit_reason"] = r.exitReason;
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

