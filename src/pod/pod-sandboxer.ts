import { chmodSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { explainFullDisk } from "../fs/disk-full.js";
import type { PodAgent } from "../holder/pod-agent.js";
import type { Inventory, SandboxCreateRequest, Sandboxer, SandboxStatus, SandboxUpdate } from "../sandbox/sandboxer.js";
import type { ExecOutcome } from "../process/run-captured.js";
import { podInventory } from "./pod-inventory.js";
import { sandboxTransitions, transition, type SandboxState } from "../sandbox/state-machine.js";
import type { CgroupStats } from "../task/task-backend.js";
import { createSandboxRecord, podOf, recoverRecords, sandboxStatus, updateSandboxRecord, waitStopped } from "./sandbox-records.js";
import type { Container } from "./container.js";
import { Pod, waitGone } from "./pod.js";
import type { SandboxRecord } from "./records.js";
import { unmountBelow } from "./rootfs.js";
import { podDirIds, rederivedRecord } from "./leftover-pod.js";
import type { PodRuntime } from "./pod-runtime.js";
import type { SandboxTasks } from "./sandbox-tasks.js";
import type { Platform, PodHost } from "./pod-host.js";
import { StartGuard } from "../sandbox/start-guard.js";
import { logPodLost } from "./pod-lost.js";
import type { ClockTimer } from "../time/clock.js";
import { announcePhase } from "../diagnostics/pod-phase-channel.js";

/** Exit status of a pod whose supervisor (or engine sandbox) died, and of processes lost at Stop with no journaled exit. */
export const LOST_EXIT_STATUS = 255;
/** Exit status of a process of a pod whose supervisor died, with no journaled exit: SIGKILLed with the pod. */
export const KILLED_WITH_SUPERVISOR_STATUS = 137;
/** How long a dropped supervisor connection waits for the supervisor to be reaped before judging it, in ms. */
const LOST_GRACE_MS = 3000;

/**
 * The one sandboxer skeleton: the Sandbox API for every kind. A pod is a record,
 * a dir, and a supervisor (a holder process, or a VM's guest agent) made by the
 * kind's {@link PodHost}; its containers are the kind's tasks. Lifecycle, the
 * Start guard and its rollback, Stop with grace, supervisor loss, recovery after
 * a restart, reconciliation, Wait, Status, Update and Metrics behave the same
 * for every kind.
 *
 * Owner of: each pod's `record` (its state changes only through
 * {@link moveTo}, checked against the sandbox state machine), `ctx.pods`, and the
 * sandbox record store. `ctx.containers` is owned by the tasks.
 */
export class PodSandboxer implements Sandboxer {
  private readonly starts = new StartGuard();
  /** Sandboxes the previous daemon created and nobody has started since the restart. */
  private readonly notStartedSinceRestart = new Set<string>();
  private reconcileTimer: ClockTimer | undefined;
  private reconciling = false;
  /** Pods re-derived only to be taken down: their stop is not persisted. */
  private readonly leftovers = new WeakSet<Pod>();
  /** Pods being ended because their supervisor died, by id. */
  private readonly ending = new Map<string, Promise<void>>();

  constructor(
    readonly kind: string,
    private readonly ctx: PodRuntime,
    readonly tasks: SandboxTasks,
    private readonly host: PodHost,
    /** Shown in every Status of this kind (e.g. which OCI runtime runs its containers, and why). */
    private readonly statusInfo: Readonly<Record<string, string>> = {},
  ) {
    // Nothing of a pod (its files, its /dev/shm) is reachable by host users beyond what the kind needs.
    const pods = join(ctx.options.dir, "pods");
    mkdirSync(pods, { recursive: true, mode: host.podsDirMode });
    chmodSync(pods, host.podsDirMode); // a dir made by an older version may be wider
  }

  has(id: string): boolean {
    return this.ctx.pods.has(id);
  }

  async create(req: SandboxCreateRequest): Promise<void> {
    createSandboxRecord(this.ctx, req, () => this.host.checkCreate(req), (r) => this.addPod(r));
  }

  async start(id: string, signal?: AbortSignal): Promise<SandboxStatus> {
    return this.starts.run(id, () => this.startPod(id, signal));
  }

  /** Start: the host side and supervisor, then the tasks' pod engine; rolled back whole on failure, or when the caller gave up before it was done. */
  private async startPod(id: string, signal: AbortSignal | undefined): Promise<SandboxStatus> {
    const pod = this.pod(id);
    const r = pod.record;
    transition(sandboxTransitions, `sandbox ${id}`, r.state, "ready");
    if (r.starting) throw new RuntimeError(Code.FailedPrecondition, `sandbox ${id}: already starting`);
    this.notStartedSinceRestart.delete(id);
    const save = () => this.ctx.sandboxes.put(id, r);
    let launched = false;
    try {
      // Persisted before anything is made: a daemon that dies from here on finds this Start to roll back.
      r.starting = true;
      save();
      let phaseStarted = process.hrtime.bigint();
      const agent = await this.host.launch(pod, save, signal);
      launched = true;
      this.attach(pod, agent);
      await this.host.setUp(pod, signal);
      announcePhase(this.kind, "start.holder", phaseStarted, true);
      phaseStarted = process.hrtime.bigint();
      await this.tasks.podStarted(pod, signal);
      announcePhase(this.kind, "start.engine", phaseStarted, true);
      // A caller that is gone will not learn of this pod: undo it rather than leave it to no one.
      signal?.throwIfAborted();
      delete r.starting;
      this.moveTo(pod, "ready");
      // The info line of each lifecycle event (with its duration) is ObservedSandboxer's; these add the details.
      pod.log.debug({ supervisor_pid: r.holderPid, pod_pid: r.podPid }, "sandbox started");
      return this.statusOf(pod, false);
    } catch (err) {
      // containerd forgets a sandbox whose Start failed and never shuts it down: leave nothing.
      pod.log.warn({ err }, "sandbox start failed; removing it");
      pod.stopping = true;
      if (launched) await this.tasks.podStopping(pod).catch(() => {});
      await pod.detach();
      await this.host.kill(pod).catch((e: unknown) => pod.log.error({ err: e }, "killing the supervisor of a failed start failed"));
      await this.discard(pod).catch((e: unknown) => pod.log.error({ err: e }, "removing a sandbox whose start failed failed"));
      throw explainFullDisk(err, this.ctx.options.dir);
    }
  }

  /**
   * `kuasar-ctl exec`: runs `argv` in container `containerId` of a ready pod (the
   * first running one, or the pod itself, when none is named), the kind's way in.
   */
  async debugExec(id: string, containerId: string | undefined, argv: string[], timeoutMs: number): Promise<ExecOutcome> {
    const pod = this.pod(id);
    if (pod.record.state !== "ready") throw new RuntimeError(Code.FailedPrecondition, `sandbox ${id} is ${pod.record.state}`);
    if (argv.length === 0) throw new RuntimeError(Code.InvalidArgument, "exec: a command is required");
    const running = this.liveContainers(pod).filter((c) => c.record.init.state === "running");
    const c = containerId === undefined ? running[0] : running.find((x) => x.id === containerId);
    if (containerId !== undefined && !c) throw new RuntimeError(Code.NotFound, `container ${containerId}: no running container of that id in sandbox ${id}`);
    return this.tasks.debugExec(pod, c, argv, timeoutMs);
  }

  inventory(): Inventory {
    return podInventory(this.ctx);
  }

  hostFacts(): Record<string, string> {
    return this.host.hostFacts?.() ?? {};
  }

  async platform(id: string): Promise<Platform> {
    this.pod(id);
    return this.host.platform();
  }

  async stop(id: string, timeoutSecs: number): Promise<void> {
    await this.starts.settled(id);
    const pod = this.pod(id);
    await this.ending.get(id); // a pod whose supervisor died is being ended: Stop finds it stopped
    await this.stopPod(pod, timeoutSecs, 0);
  }

  /** Stop: containers get SIGTERM and `timeoutSecs` to exit, then the engine and the supervisor go, taking the rest along. */
  private async stopPod(pod: Pod, timeoutSecs: number, exitStatus: number, lostStatus = LOST_EXIT_STATUS): Promise<void> {
    if (pod.record.state === "stopped") return;
    const containers = this.liveContainers(pod);
    if (timeoutSecs > 0 && containers.length > 0) {
      await Promise.all(containers.map((c) => this.tasks.kill(c.id, "", 15, true).catch(() => {})));
      const deadline = this.ctx.clock.timeout(timeoutSecs * 1000);
      await Promise.all(containers.map((c) => c.waitFor("", deadline).catch(() => {})));
    }
    pod.stopping = true;
    await this.tasks.podStopping(pod).catch((err: unknown) => pod.log.warn({ err }, "stopping the pod's engine failed"));
    // The supervisor SIGKILLs and reaps (journals) whatever is left, then exits.
    await this.host.shutdown(pod);
    await pod.detach();
    pod.replayJournalFile();
    this.tasks.abandon(pod, lostStatus, "gone with the pod's supervisor at Stop, no exit journaled");
    await this.finishStop(pod, exitStatus);
  }

  /** The engine's sandbox died under a ready pod: everything left is stopped (with `processStatus`) and the pod reported exited. */
  private async sandboxDied(pod: Pod, exitStatus: number, processStatus?: number): Promise<void> {
    if (pod.record.state !== "ready" || pod.stopping) return;
    pod.log.warn({ exit_status: exitStatus }, "the pod's sandbox died");
    await this.stopPod(pod, 0, exitStatus, processStatus).catch((err: unknown) => pod.log.error({ err }, "stopping a pod whose sandbox died failed"));
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
    pod.log.debug("sandbox removed");
  }

  /** Unmounts and removes the pod dir and what the host made, then the record (and a quarantined one), then forgets the pod. */
  private async discard(pod: Pod): Promise<void> {
    await unmountBelow(pod.dir);
    await this.host.release(pod);
    await this.host.discard(pod);
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
    if (pod.record.state !== "ready") throw new RuntimeError(Code.FailedPrecondition, `sandbox ${id} is ${pod.record.state}`);
    const running = [...this.ctx.containers.values()].filter((c) => c.pod === pod && c.record.init.state === "running");
    return this.host.metrics(pod, await Promise.all(running.map((c) => this.tasks.stats(c.id))));
  }

  async update(id: string, change: SandboxUpdate): Promise<void> {
    const pod = this.pod(id);
    updateSandboxRecord(this.ctx, pod, change, (res) => this.host.podResources?.(pod, res) ?? res);
  }

  async recover(): Promise<void> {
    const found = await recoverRecords(this.ctx, this.tasks, (r) => this.addPod(r), async (pod) => {
      if (!this.host.supervisorAlive(pod)) {
        pod.log.warn({ supervisor_pid: pod.record.holderPid }, "pod supervisor gone while the daemon was down");
        return;
      }
      try {
        pod.attach(await this.host.connect(pod, LOST_GRACE_MS)); // the kind's `attached` once the containers are adopted
        pod.replayJournalFile(); // exits between the first read and the connection
        pod.log.info({ supervisor_pid: pod.record.holderPid }, "sandbox re-attached");
      } catch (err) {
        pod.log.warn({ err, supervisor_pid: pod.record.holderPid }, "pod supervisor alive but unreachable");
      }
    });
    for (const pod of this.ctx.pods.values()) if (pod.client) this.host.attached(pod);
    for (const pod of [...this.ctx.pods.values()]) {
      if (pod.record.state === "ready" && !pod.client && !found.leftovers.includes(pod)) await this.supervisorGone(pod);
    }
    for (const pod of found.ready) {
      if (pod.record.state === "ready") await this.tasks.podRecovered(pod).catch((err: unknown) => pod.log.error({ err }, "checking the pod's engine failed"));
    }
    for (const pod of found.leftovers) await this.takeDown(pod);
    for (const pod of found.created) this.notStartedSinceRestart.add(pod.id);
    await this.host.recovered();
    const every = this.ctx.options.reconcileIntervalMs;
    if (every > 0) {
      this.reconcileTimer = this.ctx.clock.interval(every, () => void this.reconcile());
    }
  }

  /**
   * Takes down what no live sandbox owns, as at start: pod dirs without a pod
   * (their supervisors, mounts and recorded containers), and sandboxes the previous
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
        pod.log.warn({ supervisor_pid: pod.record.holderPid }, "pod dir without a sandbox; taking it down");
        await this.takeDown(pod);
      }
    } catch (err) {
      this.ctx.log.error({ err }, "reconciliation failed");
    } finally {
      this.reconciling = false;
    }
  }

  /** Stops and removes a re-derived pod through the ordinary paths (its supervisor, if alive, kills what it launched). */
  private async takeDown(pod: Pod): Promise<void> {
    try {
      await this.attachLeftover(pod);
      await this.shutdown(pod.id);
    } catch (err) {
      pod.log.error({ err }, "taking a leftover pod down failed");
    }
  }

  /** Connects to a leftover pod's live supervisor, so Stop can have it kill what it launched. */
  private async attachLeftover(pod: Pod): Promise<void> {
    this.leftovers.add(pod);
    if (pod.record.state !== "ready" || pod.client) return;
    try {
      this.attach(pod, await this.host.connect(pod, 2000));
    } catch (err) {
      pod.log.warn({ err }, "leftover pod supervisor unreachable; it is killed");
    }
  }

  releaseOrphanOutputs(): Promise<void> {
    return this.host.releaseOrphanOutputs?.() ?? Promise.resolve();
  }

  async close(): Promise<void> {
    this.reconcileTimer?.cancel();
    await this.tasks.close();
    await this.host.close();
    await Promise.all([...this.ctx.pods.values()].map((p) => p.detach()));
  }

  private addPod(record: SandboxRecord): Pod {
    const dir = this.ctx.podDir(record.id);
    const owner = { supervisorLost: (p: Pod) => void this.supervisorLost(p), sandboxDied: (p: Pod, status: number, processStatus?: number) => void this.sandboxDied(p, status, processStatus) };
    const pod = new Pod(record, dir, this.ctx.log.child({ sandbox_id: record.id }), owner, this.host.journal(record, dir));
    pod.onExit((e) => this.tasks.handleExit(pod, e));
    this.ctx.pods.set(record.id, pod);
    return pod;
  }

  private attach(pod: Pod, agent: PodAgent): void {
    pod.attach(agent);
    this.host.attached(pod);
  }

  /**
   * The supervisor connection dropped without Stop: if the supervisor is dead
   * (the holder is our child until a restart, so give the reaper a moment) the
   * pod stopped; if it lives, reconnect; if it lives but does not answer, it is
   * as good as dead: it is killed and the pod ends the same way.
   */
  private async supervisorLost(pod: Pod): Promise<void> {
    await waitGone(pod.record.holderPid, LOST_GRACE_MS);
    if (pod.stopping || pod.record.state !== "ready") return;
    if (this.host.supervisorAlive(pod)) {
      try {
        this.attach(pod, await this.host.connect(pod, LOST_GRACE_MS));
        pod.replayJournalFile();
        pod.log.warn("pod supervisor connection dropped; reconnected");
        return;
      } catch (err) {
        pod.log.error({ err, supervisor_pid: pod.record.holderPid }, "pod supervisor alive but unreachable");
      }
    }
    pod.log.warn({ supervisor_pid: pod.record.holderPid }, "pod supervisor died");
    await this.supervisorGone(pod);
  }

  /**
   * The supervisor died without Stop (kill -9, OOM, a bug, a VM crash). Its
   * processes cannot be adopted: only their parent or a subreaper can reap them
   * and read how they ended, and the pod's shared namespaces (or guest kernel)
   * died with it. So the pod ends as a pod whose pause container died (kubelet
   * then makes a new one): everything of it is killed, exits the supervisor
   * journaled before it died are reported as they were, every other process as
   * SIGKILLed (137), and the pod is stopped (docs/adr/0004-holder-death.md).
   * One run per pod; Stop waits for it.
   */
  private supervisorGone(pod: Pod): Promise<void> {
    const running = this.ending.get(pod.id);
    if (running) return running;
    const run = this.endLostPod(pod).finally(() => this.ending.delete(pod.id));
    this.ending.set(pod.id, run);
    return run;
  }

  private async endLostPod(pod: Pod): Promise<void> {
    if (pod.record.state === "stopped") return;
    pod.stopping = true;
    const pid = pod.record.holderPid;
    const reason = `pod supervisor (pid ${pid}) died; the pod's processes were killed`;
    pod.log.warn({ supervisor_pid: pid }, "pod supervisor died: killing the pod's processes");
    // Alive but unreachable is as good as dead: it must not hold the pod's namespaces on.
    await this.host.kill(pod).catch((err: unknown) => pod.log.error({ err }, "killing an unreachable supervisor failed"));
    await pod.detach();
    await this.tasks.podLost(pod).catch((err: unknown) => pod.log.error({ err }, "killing the processes of a pod whose supervisor died failed"));
    pod.replayJournalFile(); // what the supervisor reaped before it died, with the real status
    this.tasks.abandon(pod, KILLED_WITH_SUPERVISOR_STATUS, reason);
    pod.record.exitReason = reason;
    await this.finishStop(pod, LOST_EXIT_STATUS);
    logPodLost(pod, this.kind, `${this.host.supervisorName} died`);
  }

  private async finishStop(pod: Pod, exitStatus: number): Promise<void> {
    const r = pod.record;
    await this.host.release(pod).catch((err: unknown) => pod.log.warn({ err }, "releasing the pod's host resources failed"));
    r.exitStatus = exitStatus;
    r.exitedAt = new Date().toISOString();
    this.moveTo(pod, "stopped", !this.leftovers.has(pod));
    pod.markStopped();
    pod.log.debug({ exit_status: exitStatus }, "sandbox stopped");
  }

  /** The only write of a sandbox's state: checked against the sandbox state machine, then persisted (unless `persist` is false). */
  private moveTo(pod: Pod, to: SandboxState, persist = true): void {
    pod.record.state = transition(sandboxTransitions, `sandbox ${pod.id}`, pod.record.state, to);
    if (persist) this.ctx.sandboxes.put(pod.id, pod.record);
  }

  private liveContainers(pod: Pod): Container[] {
    return [...this.ctx.containers.values()].filter((c) => c.pod === pod && c.record.init.state !== "stopped");
  }

  private statusOf(pod: Pod, verbose: boolean): SandboxStatus {
    const r = pod.record;
    const info = { ...this.statusInfo, ...this.host.statusInfo(pod, verbose) };
    if (verbose) {
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
}
