import { mkdirSync, rmSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { explainFullDisk } from "../fs/disk-full.js";
import { join } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError, isErrorCode } from "../errors/runtime-error.js";
import type { PodAgent } from "../holder/pod-agent.js";
import type { ContainerOps, ContainerRuntime } from "./container-runtime.js";
import type { ExecOutcome } from "../process/run-captured.js";
import type { ExitSource } from "../task/exit-source.js";
import type { TaskEvent } from "../task/task-event.js";
import type { HolderExit } from "../holder/holder-protocol.js";
import type { CgroupStats, CheckpointSpec, CreateTaskSpec, ExecSpec, ExitInfo, ProcessStatus } from "../task/task-backend.js";
import type { SandboxTasks } from "./sandbox-tasks.js";
import { oomKillCount, wasOomKilled } from "../cgroup/oom.js";
import { OomWatch } from "../cgroup/oom-watch.js";
import { cgroupStatsOfPid } from "../cgroup/cgroup-stats.js";
import { killCgroup } from "../cgroup/cgroup-kill.js";
import type { Pod } from "./pod.js";
import type { PodRuntime } from "./pod-runtime.js";
import { readSpec, sandboxIdOf } from "./bundle.js";
import { Container, exitInfo } from "./container.js";
import { PidIndex } from "./pid-index.js";
import type { OciProcess } from "./oci-spec.js";
import type { ContainerRecord, ProcessRecord } from "./records.js";
import { mountRootfs, unmountRootfs, type Mounter } from "./rootfs.js";
import { stdioPaths } from "./stdio.js";
import { validateId } from "../sandbox/id.js";
import { processTransitions, transition } from "../sandbox/state-machine.js";

/** How long an init exit waits for the container's execs to be reaped before it is published, in ms. */
const EXEC_DRAIN_MS = 2_000;
/** How often running containers' OOM kill counters are read, in ms (see OomWatch). */
const OOM_POLL_MS = 250;

/**
 * The Task API of every kind, one implementation: the container and process
 * records (changed only through their state machine), exits reported by the
 * pods' supervisors (live or replayed from their journals), Wait/State/Kill/
 * Delete, stdin and terminals through the supervisor, events, OOM watching.
 * How a container runs is the kind's {@link ContainerRuntime}, which this
 * composes (made by `runtimeOf` with the {@link ContainerOps} it may use).
 *
 * Owner of: `rt.containers`, `rt.containerRecords`, `byPid`, `creating`, the
 * OOM watch; a runtime changes container state only through ContainerOps.
 */
export class PodTasks<R extends ContainerRuntime = ContainerRuntime> implements SandboxTasks {
  /** pid -> which process it is, for exits reported by the supervisors. */
  private readonly byPid = new PidIndex();
  /** Containers whose Create runs now. */
  private readonly creating = new Set<string>();
  /** The kind's part. */
  readonly runtime: R;

  /** OOM kills in running containers' cgroups, published as /tasks/oom as they happen. */
  private readonly oomWatch: OomWatch;

  constructor(
    private readonly rt: PodRuntime,
    runtimeOf: (ops: ContainerOps) => R,
  ) {
    this.oomWatch = new OomWatch(OOM_POLL_MS, (containerId, kills, total) => this.oomHappened(containerId, kills, total), rt.clock);
    const ops: ContainerOps = {
      log: rt.log,
      minOomScoreAdj: rt.minOomScoreAdj,
      containersOf: (pod) => this.containersOf(pod),
      initLaunched: (c, pid, startedAt) => this.initLaunched(c, pid, startedAt),
      initExited: (c, status, at) => this.engineReportedExit(c, status, at),
      markExited: (c, execId, status, at) => this.markExited(c, execId, status, at),
      publish: (c, event) => this.publish(c, event),
      consoleSocketFor: (key) => this.consoleSocketFor(key),
      killContainerCgroup: (c) => this.killContainerCgroup(c),
      save: (c) => this.persist(c),
      oomKilledLive: (containerId, kills) => {
        const c = this.rt.containers.get(containerId);
        if (c) this.oomHappened(containerId, kills, (c.record.oomKills ?? 0) + kills);
      },
    };
    this.runtime = runtimeOf(ops);
  }

  get holderSetsPodSysctls(): boolean {
    return this.runtime.holderSetsPodSysctls;
  }

  checkPodSysctls(sysctls: Readonly<Record<string, string>>): void {
    this.runtime.checkPodSysctls?.(sysctls);
  }

  private oomHappened(containerId: string, kills: number, total: number): void {
    const c = this.rt.containers.get(containerId);
    if (!c) return this.oomWatch.unwatch(containerId);
    // Persisted: a restarted daemon reports only the kills past it.
    c.record.oomKills = total;
    this.persist(c);
    this.rt.log.warn({ sandbox_id: c.pod.id, container_id: c.id, kills }, "the kernel OOM-killed a process of the container");
    this.rt.events.publish(c.record.namespace, { kind: "oom", containerId: c.id });
  }

  async podStarted(pod: Pod, signal?: AbortSignal): Promise<void> {
    await this.runtime.podStarted?.(pod, signal);
  }

  /** The sandboxer closes: the engine ends its node-wide processes (pods keep running). */
  async close(): Promise<void> {
    await this.runtime.close?.();
  }

  async podStopping(pod: Pod): Promise<void> {
    await this.runtime.podStopping?.(pod);
  }

  async podRecovered(pod: Pod): Promise<void> {
    await this.runtime.podRecovered?.(pod);
  }

  /**
   * The pod's supervisor died without Stop: every process the engine started for
   * the pod is nobody's child now and nobody would journal its exit, so it is
   * killed (docs/adr/0004). By default through each container's cgroup; engines
   * with more to end (runc's state, a runsc sandbox) do that instead.
   */
  async podLost(pod: Pod): Promise<void> {
    if (this.runtime.podLost) return this.runtime.podLost(pod);
    await Promise.all(this.containersOf(pod).map((c) => this.killContainerCgroup(c)));
  }

  podInfo(pod: Pod): Record<string, string> {
    return this.runtime.podInfo?.(pod) ?? {};
  }

  async podStats(pod: Pod): Promise<CgroupStats> {
    return this.runtime.podStats ? this.runtime.podStats(pod) : cgroupStatsOfPid(pod.record.holderPid);
  }

  /**
   * Create: finds the ready pod, mounts the rootfs, lets the engine launch the
   * init process through the pod's holder, records the container and publishes
   * /tasks/create. A failure leaves nothing behind.
   */
  async create(spec: CreateTaskSpec): Promise<{ pid: number }> {
    const id = validateId("container", spec.containerId);
    // A caller that gave up on a Create may send it again while the first still runs.
    if (this.rt.containers.has(id) || this.creating.has(id)) throw new RuntimeError(Code.AlreadyExists, `container ${id} already exists`);
    this.creating.add(id);
    try {
      return await this.createTask(id, spec);
    } finally {
      this.creating.delete(id);
    }
  }

  /** Create: rootfs, then the engine's init; undone whole on failure, or when the caller gave up before it was done. */
  private async createTask(id: string, spec: CreateTaskSpec): Promise<{ pid: number }> {
    const stdio = stdioPaths(spec.stdio);
    this.runtime.checkCreate(spec, stdio);
    const oci = readSpec(spec.bundle);
    const sandboxId = spec.sandboxId ? validateId("sandbox", spec.sandboxId) : sandboxIdOf(spec.bundle, oci);
    const pod = this.rt.pods.get(sandboxId);
    if (!pod) throw new RuntimeError(Code.NotFound, `sandbox ${sandboxId} of container ${id} not found`);
    if (pod.record.state !== "ready") throw new RuntimeError(Code.FailedPrecondition, `sandbox ${sandboxId} is ${pod.record.state}, not ready`);
    const holder = requireHolder(pod);
    const log = this.rt.log.child({ sandbox_id: sandboxId, container_id: id });
    const rootfs = join(spec.bundle, "rootfs");
    let mounted = false;
    try {
      const began = performance.now();
      // The engine's preparation goes alongside the mount (both may be requests to the pod's holder: pipelined).
      const [prepared, mount] = await Promise.allSettled([this.runtime.prepareLaunch?.(id, pod), this.mountRootfsOf(spec, rootfs, pod)]);
      mounted = mount.status === "fulfilled" && mount.value;
      if (mount.status === "rejected") throw mount.reason;
      if (prepared.status === "rejected") throw prepared.reason;
      const spawnId = `init:${id}`;
      const startedAt = new Date();
      const mountedAt = performance.now();
      const { pid, memoryCgroup, fields } = await this.runtime.launchInit({ id, spec, oci, pod, holder, stdio, spawnId, rootfs, log, signal: spec.signal });
      const launchedAt = performance.now();
      spec.signal?.throwIfAborted();
      const record: ContainerRecord = {
        id,
        sandboxId,
        namespace: spec.namespace,
        bundle: spec.bundle,
        rootfsMounted: mounted,
        init: { execId: "", spawnId, pid, state: "created", stdio, exitStatus: 0, exitedAt: undefined, startedAt: startedAt.toISOString() },
        execs: {},
        memoryCgroup,
      };
      const c = new Container(record, pod);
      this.persist(c);
      this.rt.containers.set(id, c);
      // An engine may only know the host process that reports the init's exit at Start (pid 0 until then).
      if (pid > 0) {
        this.byPid.set(pod, pid, { containerId: id, execId: "" });
        const early = pod.exitOf(pid, startedAt);
        if (early) this.handleExit(pod, early);
      }
      // Where a Create's time goes (before the record's write, which is the rest).
      const steps = { rootfs_ms: round2(mountedAt - began), launch_ms: round2(launchedAt - mountedAt), create_ms: round2(performance.now() - began) };
      log.info({ pid, ...fields, ...steps }, "container created");
      this.rt.events.publish(spec.namespace, { kind: "create", containerId: id, bundle: spec.bundle, rootfs: spec.rootfs, io: spec.stdio, checkpoint: spec.checkpoint, pid });
      return { pid };
    } catch (err) {
      log.warn({ err }, "container create failed; cleaning up");
      await this.runtime.undoLaunch(id, pod).catch(() => {});
      if (mounted) await unmountRootfs(rootfs, this.mounter(pod)).catch(() => {});
      this.rt.containerRecords.delete(id);
      throw explainFullDisk(err, this.rt.options.dir);
    }
  }

  /** Start of the init (the runtime lets it run) or of a registered exec (the runtime launches it). */
  async start(containerId: string, execId: string, signal?: AbortSignal): Promise<{ pid: number }> {
    const c = this.container(containerId);
    if (!execId) return this.startInit(c, signal);
    const p = this.processOf(c, execId);
    transition(processTransitions, `exec ${execId}`, p.state, "running");
    if (c.record.init.state !== "running") throw new RuntimeError(Code.FailedPrecondition, `container ${containerId} is not running`);
    if (!this.runtime.startExec) throw new RuntimeError(Code.Unimplemented, this.runtime.execUnsupported ?? "exec is not supported");
    const { pid, startedAt } = await this.runtime.startExec(c, execId, p, signal);
    return this.execStarted(c, execId, pid, startedAt);
  }

  /**
   * Kill: the runtime delivers it; a process that ended meanwhile, or that the
   * engine no longer knows, is NotFound "process already finished" (what
   * containerd tolerates), whatever the kind.
   */
  private async signalProcess(containerId: string, execId: string, signal: number, all: boolean): Promise<void> {
    const c = this.container(containerId);
    const p = this.processOf(c, execId);
    if (p.state === "stopped") throw new RuntimeError(Code.NotFound, "process already finished");
    if (execId && p.state === "created") throw new RuntimeError(Code.FailedPrecondition, `exec ${execId} has not started`);
    try {
      if (!execId) await this.runtime.signalInit(c, signal, all);
      else if (this.runtime.signalExec) await this.runtime.signalExec(c, p, signal);
      else await requireHolder(c.pod).kill(p.pid, signal);
    } catch (err) {
      if (c.process(execId)?.state === "stopped" || isErrorCode(err, Code.NotFound)) {
        throw new RuntimeError(Code.NotFound, "process already finished", { cause: err });
      }
      throw err;
    }
  }

  /**
   * Kill, tracked: the exit it causes is recorded only after its reply went out.
   * containerd deletes a task on its exit and closes the task's connection, and
   * a Kill reply still pending then is lost: StopContainer fails with
   * "ttrpc: closed" (the soak saw it about once in 300 pods).
   */
  kill(containerId: string, execId: string, signal: number, all: boolean): Promise<void> {
    const call = this.signalProcess(containerId, execId, signal, all);
    this.rt.containers.get(containerId)?.trackKill(execId, call);
    return call;
  }
  /**
   * Pids of a container as its engine lists them, each tagged with the exec it
   * belongs to (by default the running execs' recorded pids); none once stopped.
   */
  async pids(containerId: string): Promise<{ pid: number; execId: string }[]> {
    const c = this.container(containerId);
    if (c.record.init.state === "stopped") return [];
    const owners = this.runtime.execOfPids?.(c) ?? new Map(Object.values(c.record.execs).filter((p) => p.state === "running").map((p) => [p.pid, p.execId]));
    const pids = await this.runtime.ps(c).catch((err: unknown) => {
      if (isErrorCode(err, Code.NotFound)) return [] as number[];
      throw err;
    });
    return pids.map((pid) => ({ pid, execId: owners.get(pid) ?? "" }));
  }

  async update(containerId: string, resources: unknown, _annotations: Record<string, string>): Promise<void> {
    const c = this.container(containerId);
    if (c.record.init.state === "stopped") throw new RuntimeError(Code.FailedPrecondition, `container ${containerId} is stopped`);
    if (resources !== undefined) await this.runtime.update(c, resources);
  }

  async stats(containerId: string): Promise<CgroupStats> {
    const c = this.container(containerId);
    if (c.record.init.state === "stopped") throw new RuntimeError(Code.NotFound, `container ${containerId} is not running`);
    return this.runtime.stats(c);
  }

  /** Removes what a container left behind (engine state, rootfs mount, record): Delete, and a pod's Shutdown. */
  async remove(c: Container): Promise<void> {
    await this.runtime.remove(c);
    if (c.record.rootfsMounted) await unmountRootfs(join(c.record.bundle, "rootfs"), this.mounter(c.pod));
    for (const p of [c.record.init, ...Object.values(c.record.execs)]) this.byPid.delete(c.pod, p.pid);
    this.rt.containerRecords.delete(c.id);
    this.rt.containers.delete(c.id);
  }

  /** Mounts a container's rootfs (none to mount: false). */
  private async mountRootfsOf(spec: CreateTaskSpec, rootfs: string, pod: Pod): Promise<boolean> {
    if (spec.rootfs.length === 0) return false;
    mkdirSync(rootfs, { recursive: true });
    await mountRootfs(spec.rootfs, rootfs, this.mounter(pod));
    return true;
  }

  /** The pod's holder, when it mounts in the host's mount namespace and is connected: no mount(8) per container then. */
  private mounter(pod: Pod): Mounter | undefined {
    return this.runtime.holderMountsRootfs ? (pod.client ?? undefined) : undefined;
  }

  exitSource(containerId: string): ExitSource | undefined {
    const c = this.rt.containers.get(containerId);
    if (!c) return undefined;
    const { path, clockSkewMs } = c.pod.journal;
    const waiterResult = this.runtime.waiterResultFile?.(c);
    return { record: this.rt.containerRecords.pathOf(c.id), journal: path, clockSkewMs, ...(waiterResult ? { waiterResult } : {}) };
  }

  async debugExec(pod: Pod, c: Container | undefined, argv: string[], timeoutMs: number): Promise<ExecOutcome> {
    if (!this.runtime.debugExec) throw new RuntimeError(Code.FailedPrecondition, "this kind of pod has no shell to exec into");
    return this.runtime.debugExec(pod, c, argv, timeoutMs);
  }

  /** Whether a container that died of SIGKILL was killed for memory (then /tasks/oom precedes its exit). */
  private oomKilled(c: Container): boolean {
    return this.runtime.oomKilled ? this.runtime.oomKilled(c) : wasOomKilled(c.record.memoryCgroup);
  }

  has(containerId: string): boolean {
    return this.rt.containers.has(containerId);
  }

  /** Registers an exec process; the engine launches it at Start. */
  async exec(spec: ExecSpec): Promise<void> {
    if (this.runtime.execUnsupported !== undefined) throw new RuntimeError(Code.Unimplemented, this.runtime.execUnsupported);
    const c = this.container(spec.containerId);
    validateId("exec", spec.execId);
    if (c.record.execs[spec.execId]) throw new RuntimeError(Code.AlreadyExists, `exec ${spec.execId} already exists in container ${spec.containerId}`);
    if (c.record.init.state !== "running") throw new RuntimeError(Code.FailedPrecondition, `container ${spec.containerId} is ${c.record.init.state}, not running`);
    if (typeof spec.process !== "object" || spec.process === null || !Array.isArray((spec.process as OciProcess).args)) {
      throw new RuntimeError(Code.InvalidArgument, "exec spec: process.args is required");
    }
    c.record.execs[spec.execId] = {
      execId: spec.execId,
      spawnId: `exec:${spec.containerId}:${spec.execId}`,
      pid: 0,
      state: "created",
      stdio: stdioPaths(spec.stdio),
      exitStatus: 0,
      exitedAt: undefined,
      startedAt: undefined,
      process: spec.process,
    };
    this.persist(c);
    this.rt.events.publish(c.record.namespace, { kind: "exec-added", containerId: spec.containerId, execId: spec.execId });
  }

  /** Records a launched exec process as running and publishes it; an exit already reported is applied. */
  private execStarted(c: Container, execId: string, pid: number, startedAt: Date): { pid: number } {
    const p = this.processOf(c, execId);
    c.moveTo(execId, "running");
    p.pid = pid;
    p.startedAt = startedAt.toISOString();
    this.persist(c);
    this.byPid.set(c.pod, pid, { containerId: c.id, execId });
    this.rt.events.publish(c.record.namespace, { kind: "exec-started", containerId: c.id, execId, pid });
    const early = c.pod.exitOf(pid, startedAt);
    if (early) this.handleExit(c.pod, early);
    return { pid };
  }

  /** Delete of a stopped (or never started) process: an exec's record, or the whole container. */
  async delete(containerId: string, execId: string): Promise<ExitInfo> {
    const c = this.container(containerId);
    const p = this.processOf(c, execId);
    if (p.state === "running" || p.state === "paused") {
      throw new RuntimeError(Code.FailedPrecondition, `cannot delete ${execId ? `exec ${execId}` : `container ${containerId}`}: it is ${p.state}`);
    }
    if (execId) {
      delete c.record.execs[execId];
      this.persist(c);
      this.runtime.removeExecFiles(c, execId);
      return exitInfo(p);
    }
    if (p.state === "created" && this.runtime.dropCreated) await this.runtime.dropCreated(c);
    await this.remove(c);
    if (p.state !== "stopped") {
      // Created but never started: it never ran, so it "exits" now.
      c.moveTo("", "stopped");
      p.exitStatus = 137;
      p.exitedAt = new Date().toISOString();
    }
    const e = exitInfo(p);
    this.rt.events.publish(c.record.namespace, { kind: "delete", containerId, pid: e.pid, exitStatus: e.exitStatus, exitedAt: e.exitedAt });
    return e;
  }

  async pause(containerId: string): Promise<void> {
    const c = this.container(containerId);
    transition(processTransitions, `container ${containerId}`, c.record.init.state, "paused");
    await this.runtime.freeze(c);
    c.moveTo("", "paused");
    this.persist(c);
    this.rt.events.publish(c.record.namespace, { kind: "paused", containerId });
  }

  async resume(containerId: string): Promise<void> {
    const c = this.container(containerId);
    if (c.record.init.state !== "paused") throw new RuntimeError(Code.FailedPrecondition, `container ${containerId} is ${c.record.init.state}, not paused`);
    await this.runtime.thaw(c);
    c.moveTo("", "running");
    this.persist(c);
    this.rt.events.publish(c.record.namespace, { kind: "resumed", containerId });
  }

  /**
   * Checkpoint of a running (or paused: ctr pauses a task before it checkpoints it)
   * container: the engine saves it to `spec.path`. Kinds that cannot say so (Unimplemented).
   */
  async checkpoint(containerId: string, spec: CheckpointSpec, signal?: AbortSignal): Promise<void> {
    const c = this.container(containerId);
    if (!this.runtime.checkpoint) throw new RuntimeError(Code.Unimplemented, this.runtime.checkpointUnsupported ?? "checkpoint is not supported by this kind of sandbox");
    const state = c.record.init.state;
    if (state !== "running" && state !== "paused") throw new RuntimeError(Code.FailedPrecondition, `container ${containerId} is ${state}: only a running or paused container can be checkpointed`);
    await this.runtime.checkpoint(c, spec, signal);
    this.rt.log.info({ sandbox_id: c.pod.id, container_id: c.id, path: spec.path, exit: spec.exit }, "container checkpointed");
  }

  /**
   * Start of a container's init: the runtime lets it run, then it is marked
   * running and /tasks/start published. Its exit event, should it die during
   * the runtime's start, waits until the start event is out.
   */
  private async startInit(c: Container, signal: AbortSignal | undefined): Promise<{ pid: number }> {
    const p = c.record.init;
    transition(processTransitions, `container ${c.id}`, p.state, "running");
    let started!: () => void;
    c.starting.set("", new Promise<void>((r) => (started = r)));
    try {
      await this.runtime.startInit(c, signal);
      // A short-lived process may already have exited (and been recorded) by now.
      if (p.state === "created") c.moveTo("", "running");
      const watchOom = p.state === "running" && c.record.memoryCgroup !== "";
      if (watchOom) c.record.oomKills = oomKillCount(c.record.memoryCgroup) ?? 0;
      this.persist(c);
      this.rt.events.publish(c.record.namespace, { kind: "start", containerId: c.id, pid: p.pid });
      if (watchOom) this.oomWatch.watch(c.id, c.record.memoryCgroup, c.record.oomKills);
      if (p.state === "running" && this.runtime.initRunning) await this.runtime.initRunning(c);
    } finally {
      c.starting.delete("");
      started();
    }
    return { pid: p.pid };
  }

  /** Called for every exit a pod's supervisor reports (live or replayed); the runtime sees it first. */
  handleExit(pod: Pod, reported: HolderExit): void {
    const who = this.byPid.get(pod, reported.pid);
    const owner = who ? this.rt.containers.get(who.containerId) : undefined;
    const e = this.runtime.exitReported ? this.runtime.exitReported(pod, reported, owner && who ? { container: owner, execId: who.execId } : undefined) : reported;
    if (!e || !who) return;
    const c = owner;
    const p = c?.process(who.execId);
    if (!c || !p || c.pod !== pod || p.state === "stopped" || p.pid !== e.pid) return;
    if (p.startedAt && e.exitedAt.getTime() < new Date(p.startedAt).getTime() - pod.clockSkewMs) return; // an older process with this pid
    this.byPid.delete(pod, e.pid);
    this.applyExit(c, who.execId, e);
  }

  /** An init's exit its engine reported (no supervisor-reaped process of its own). */
  private engineReportedExit(c: Container, status: number, at: Date): void {
    const p = c.record.init;
    if (p.state === "stopped" || this.rt.containers.get(c.id) !== c) return;
    const ms = at.getTime();
    this.applyExit(c, "", { pid: p.pid, status, exitedAt: at, seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000, id: undefined });
  }

  /** Records an exit once the process's output and the kills sent to it are through. */
  private applyExit(c: Container, execId: string, e: HolderExit): void {
    const flushed = this.outputFlushed(c, execId);
    const killed = c.killsReplied(execId);
    const barrier = flushed && killed ? Promise.all([flushed, killed]) : (flushed ?? killed);
    if (barrier) void barrier.then(() => this.exited(c, execId, e));
    else this.exited(c, execId, e);
  }

  /**
   * A promise when the engine relays a process's output itself and must see it
   * through before the exit is recorded (readers of the container's log then see
   * all of it once the exit is known); undefined when output needs no relay.
   */
  private outputFlushed(c: Container, execId: string): Promise<void> | undefined {
    return this.runtime.outputFlushed?.(c, execId);
  }

  private exited(c: Container, execId: string, e: HolderExit): void {
    // Ended meanwhile with its pod (abandon) while its output was being flushed: that exit stands.
    if (c.process(execId)?.state === "stopped") return;
    const who = { execId };
    this.markExited(c, who.execId, e.status, e.exitedAt);
    const log = this.rt.log.child({ container_id: c.id, exec_id: who.execId || undefined });
    log.info({ pid: e.pid, exit_status: e.status }, "process exited");
    if (who.execId) {
      this.rt.events.publish(c.record.namespace, { kind: "exit", containerId: c.id, id: who.execId, pid: e.pid, exitStatus: e.status, exitedAt: e.exitedAt });
    } else {
      void this.publishInitExit(c, e).catch((err: unknown) => log.error({ err }, "publishing init exit failed"));
    }
  }

  /** Registers a recovered container and replays exits its holder saw while we were away. */
  adopt(c: Container): void {
    this.runtime.adopted?.(c);
    this.rt.containers.set(c.id, c);
    // From the count persisted before the restart: kills while the daemon was down are reported too.
    if (c.record.init.state === "running" && c.record.oomKills !== undefined) this.oomWatch.watch(c.id, c.record.memoryCgroup, c.record.oomKills);
    for (const [execId, p] of [["", c.record.init] as const, ...Object.entries(c.record.execs)]) {
      if (p.pid > 0 && p.state !== "stopped") {
        this.byPid.set(c.pod, p.pid, { containerId: c.id, execId });
        const e = c.pod.exitOf(p.pid, p.startedAt ? new Date(p.startedAt) : undefined);
        if (e) this.handleExit(c.pod, e);
      }
    }
  }

  /** Every container of `pod`. */
  private containersOf(pod: Pod): Container[] {
    return [...this.rt.containers.values()].filter((c) => c.pod === pod);
  }

  /** SIGKILLs whatever is left in a container's cgroup (its own pid namespace or the pod's alike). */
  private async killContainerCgroup(c: Container): Promise<void> {
    if (!(await killCgroup(c.record.memoryCgroup))) this.rt.log.warn({ sandbox_id: c.pod.id, container_id: c.id, cgroup: c.record.memoryCgroup }, "processes left in the container's cgroup");
  }

  /**
   * Marks every process of `pod` that has no recorded exit as stopped with
   * `status`: its holder died and took them along, and the journal has nothing
   * on them (they were killed with it). `reason` goes to the log.
   */
  abandon(pod: Pod, status: number, reason: string): void {
    const now = new Date();
    for (const c of this.containersOf(pod)) {
      for (const [execId, p] of [...Object.entries(c.record.execs), ["", c.record.init] as const]) {
        if (p.state === "stopped") continue;
        this.byPid.delete(pod, p.pid);
        if (!execId) this.oomWatch.unwatch(c.id);
        this.markExited(c, execId, status, now);
        this.rt.log.warn({ sandbox_id: pod.id, container_id: c.id, exec_id: execId || undefined, pid: p.pid, exit_status: status, reason }, "process ended with its pod");
        if (p.pid > 0) this.rt.events.publish(c.record.namespace, { kind: "exit", containerId: c.id, id: execId || c.id, pid: p.pid, exitStatus: status, exitedAt: now });
      }
    }
  }

  /** Records how a process ended, persists it and wakes its waiters. */
  private markExited(c: Container, execId: string, status: number, at: Date): void {
    const p = c.moveTo(execId, "stopped");
    p.exitStatus = status;
    p.exitedAt = at.toISOString();
    this.persist(c);
    c.notifyExit(execId);
  }

  async state(containerId: string, execId: string): Promise<ProcessStatus> {
    const c = this.container(containerId);
    const p = this.processOf(c, execId);
    return {
      containerId,
      execId,
      bundle: c.record.bundle,
      pid: p.pid,
      state: p.state,
      stdio: p.stdio,
      exitStatus: p.exitStatus,
      exitedAt: p.exitedAt ? new Date(p.exitedAt) : undefined,
    };
  }

  async wait(containerId: string, execId: string, signal: AbortSignal): Promise<ExitInfo> {
    const c = this.container(containerId);
    this.processOf(c, execId);
    return c.waitFor(execId, signal);
  }

  async closeIO(containerId: string, execId: string, stdin: boolean): Promise<void> {
    const c = this.container(containerId);
    const p = this.processOf(c, execId);
    // As runc-v2: closing the stdin of a process that already exited does nothing.
    if (!stdin || !p.stdio.stdin || p.state === "stopped") return;
    try {
      await requireHolder(c.pod).closeStdin(p.spawnId);
    } catch (err) {
      // The holder forgets a process once it reaped it, maybe before its exit reached us.
      if (!isErrorCode(err, Code.NotFound)) throw err;
    }
  }

  async resizePty(containerId: string, execId: string, width: number, height: number): Promise<void> {
    const c = this.container(containerId);
    const p = this.processOf(c, execId);
    if (!p.stdio.terminal) throw new RuntimeError(Code.FailedPrecondition, `${execId || containerId} has no terminal`);
    await requireHolder(c.pod).resize(p.spawnId, width, height);
  }

  async connect(containerId: string): Promise<{ taskPid: number; serverPid: number }> {
    const c = this.container(containerId);
    return { taskPid: c.record.init.pid, serverPid: process.pid };
  }

  async shutdown(_containerId: string): Promise<void> {
    // One daemon serves every container: nothing to stop for one of them.
  }

  private container(id: string): Container {
    const c = this.rt.containers.get(id);
    if (!c) throw new RuntimeError(Code.NotFound, `container ${id}: container not created`);
    return c;
  }

  private processOf(c: Container, execId: string): ProcessRecord {
    const p = c.process(execId);
    if (!p) throw new RuntimeError(Code.NotFound, `exec ${execId} of container ${c.id} not found`);
    return p;
  }

  private persist(c: Container): void {
    this.rt.containerRecords.put(c.id, c.record);
  }

  private publish(c: Container, event: TaskEvent): void {
    this.rt.events.publish(c.record.namespace, event);
  }

  /** The init's host process, known only at Start: recorded, and an exit already reported applied. */
  private initLaunched(c: Container, pid: number, startedAt: Date): void {
    const p = c.record.init;
    p.pid = pid;
    p.startedAt = startedAt.toISOString();
    this.persist(c);
    this.byPid.set(c.pod, pid, { containerId: c.id, execId: "" });
    const early = c.pod.exitOf(pid, startedAt);
    if (early) this.handleExit(c.pod, early);
  }

  private async consoleSocketFor(key: string): Promise<string> {
    const path = this.rt.consoleSocket(key);
    await mkdir(join(path, ".."), { recursive: true, mode: 0o700 });
    rmSync(path, { force: true });
    return path;
  }

  /**
   * Publishes an init exit after the container's execs: when the container does
   * not own its pid namespace they outlive init, so they are killed first, as
   * containerd's runc shim does.
   */
  private async publishInitExit(c: Container, e: HolderExit): Promise<void> {
    await c.starting.get("");
    if (this.runtime.initExiting) await this.runtime.initExiting(c, e.status).catch((err: unknown) => this.rt.log.warn({ err, sandbox_id: c.pod.id, container_id: c.id }, "ending the engine's watch of an exited init failed"));
    const live = () => Object.entries(c.record.execs).filter(([, p]) => p.state === "running" || p.state === "paused");
    if (live().length > 0) {
      await this.runtime.killAll(c).catch(() => {});
      // Each exec's own exit ends its wait; what has not exited by the drain deadline is left to its journal.
      const drained = this.rt.clock.timeout(EXEC_DRAIN_MS);
      await Promise.all(live().map(([execId]) => c.waitFor(execId, drained).catch(() => {})));
    }
    // A watched cgroup reports kills since the last poll (the oom event precedes the exit, as in runc-v2);
    // one not watched (adopted after a restart, an engine without a host cgroup) is asked at exit.
    if (this.oomWatch.poll(c.id)) this.oomWatch.unwatch(c.id);
    else if (e.status === 137 && this.oomKilled(c)) this.rt.events.publish(c.record.namespace, { kind: "oom", containerId: c.id });
    this.rt.events.publish(c.record.namespace, { kind: "exit", containerId: c.id, id: c.id, pid: e.pid, exitStatus: e.status, exitedAt: e.exitedAt });
  }
}

/** The pod's holder connection, or Unavailable while it is not connected. */
export function requireHolder(pod: Pod): PodAgent {
  const h = pod.client;
  if (!h) throw new RuntimeError(Code.Unavailable, `sandbox ${pod.id}: pod holder not connected`);
  return h;
}

/** Milliseconds to two decimals, for logs. */
function round2(ms: number): number {
  return Math.round(ms * 100) / 100;
}
