import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { holderLaunchEnv } from "../../oci-runtime/cli-command.js";
import { Code } from "../../errors/code.js";
import { RuntimeError, isErrorCode } from "../../errors/runtime-error.js";
import { writeFileAtomic } from "../../fs/atomic-write.js";
import type { HolderExit } from "../../holder/holder-protocol.js";
import type { Container } from "../../pod/container.js";
import type { OciProcess } from "../../pod/oci-spec.js";
import { podContext } from "../../pod/pod-context.js";
import type { PodRuntime } from "../../pod/pod-runtime.js";
import { PodTasks, requireHolder, type InitLaunch } from "../../pod/pod-tasks.js";
import { isAlive, type Pod } from "../../pod/pod.js";
import { unmount } from "../../pod/rootfs.js";
import { closeUnusedFifo } from "../../pod/stdio.js";
import { waitExit } from "../../pod/wait-exit.js";
import { processTransitions, transition } from "../../sandbox/state-machine.js";
import type { CgroupStats, CreateTaskSpec } from "../../task/task-backend.js";
import { runscError, type RunscCli, type RunscNetwork, type RunscTarget } from "./runsc-cli.js";
import { prepareGvisorSpec, rootContainerSpec, PAUSE_PATH } from "./sandbox-spec.js";
import { parseWaitResult } from "./wait-result.js";
import { readTextOr } from "../../fs/read-text.js";

/** How long a runsc create/start/exec launch may take, in ms. */
const LAUNCH_TIMEOUT_MS = 60_000;
/** How long Stop waits for killed containers' exits before it ends the sandbox, in ms. */
const KILL_DRAIN_MS = 3_000;
/** Holder key of the sandbox process (adopted so its death is journaled under a name). */
const SANDBOX_KEY = "gvisor-sandbox";

/**
 * The Task API of gvisor containers. Each pod is one runsc sandbox, started at
 * Sandbox Start by a root container running a pause program; every container
 * of the pod joins it. runsc commands that leave something running are launched
 * by the pod's holder: the sandbox, each container's `runsc wait` (whose exit,
 * journaled by the holder, tells us the container's exit status, kept in a
 * file, across daemon restarts) and each exec's attached `runsc exec`.
 */
export class GvisorTasks extends PodTasks {
  /** Pods whose sandbox death must stop them (ready, not stopping). */
  private readonly watched = new Set<string>();

  /** The holder's namespaces are not where a gVisor pod's sysctls live: its sandbox kernel is. */
  override readonly holderSetsPodSysctls = false;

  /**
   * runsc does not apply OCI `linux.sysctl`, and gVisor's kernel has no writable
   * namespaced sysctl (its IPC limits are fixed, its network ones read-only in the
   * sandbox): a pod asking for one is refused rather than started without it.
   */
  override checkPodSysctls(sysctls: Readonly<Record<string, string>>): void {
    const keys = Object.keys(sysctls).sort();
    if (keys.length === 0) return;
    throw new RuntimeError(
      Code.InvalidArgument,
      `sysctls: the gvisor sandboxer cannot set ${keys.map((k) => JSON.stringify(k)).join(", ")}: gVisor's kernel has no settable namespaced sysctl (runsc ignores linux.sysctl); use the runc or vmm handler`,
    );
  }

  constructor(
    rt: PodRuntime,
    private readonly runsc: RunscCli,
    private readonly pauseBinary: string,
    /** Runs a terminal exec's `runsc exec` on a new pseudoterminal whose master goes to the holder. */
    private readonly ptyExecBinary: string,
  ) {
    super(rt);
  }

  // ---- the pod's sandbox ----------------------------------------------------

  /** Creates and starts the root container: the gVisor sandbox of the pod, in its network namespace. */
  override async podStarted(pod: Pod): Promise<void> {
    const holder = requireHolder(pod);
    const dir = sandboxDir(pod);
    const rootfs = join(dir, "rootfs");
    await mkdir(rootfs, { recursive: true, mode: 0o755 });
    writeFileSync(join(rootfs, PAUSE_PATH), "", { mode: 0o755 }); // the bind mount's target
    const hostNetwork = isHostNetwork(pod);
    const spec = rootContainerSpec({
      sandboxId: rootId(pod),
      rootfs,
      pauseBinary: this.pauseBinary,
      hostname: readFileSync(join(pod.dir, "hostname"), "utf8").trim(), // the pod's, or the host's for a host-network pod
      netnsPath: hostNetwork ? "" : pod.record.netnsPath,
    });
    writeFileAtomic(join(dir, "config.json"), JSON.stringify(spec), 0o644);
    const target = this.target(pod);
    const log = join(dir, "runsc.log");
    const pidFile = join(dir, "sandbox.pid");
    await this.runThroughHolder(pod, "gvisor-create", this.runsc.createArgv(target, rootId(pod), dir, pidFile), "create", log);
    const sandboxPid = Number(readFileSync(pidFile, "utf8").trim());
    await holder.adopt(SANDBOX_KEY, sandboxPid);
    await this.runThroughHolder(pod, "gvisor-start", this.runsc.startArgv(target, rootId(pod)), "start", log);
    this.watched.add(pod.id);
    pod.log.info({ runsc_sandbox_pid: sandboxPid, network: target.network, platform: this.runsc.options.platform }, "gVisor sandbox started");
  }

  /** Kills the pod's containers (their exits come from their waiters), then the sandbox. */
  override async podStopping(pod: Pod): Promise<void> {
    await this.endSandbox(pod, KILL_DRAIN_MS);
  }

  /**
   * The holder died: the runsc sandbox (and its gofer, the containers' waiters and
   * execs) runs on, orphaned; it is torn down the same way, without waiting for
   * exits nobody will report any more.
   */
  override async podLost(pod: Pod): Promise<void> {
    await this.endSandbox(pod, 0);
    const pid = this.sandboxPid(pod);
    if (isAlive(pid)) pod.log.error({ runsc_sandbox_pid: pid }, "the gVisor sandbox of a pod whose holder died outlived runsc delete --force");
  }

  /** Kills every container, gives their exits `drainMs` to come in, then deletes the sandbox and waits for its process to go. */
  private async endSandbox(pod: Pod, drainMs: number): Promise<void> {
    this.watched.delete(pod.id);
    const target = this.target(pod);
    const live = [...this.rt.containers.values()].filter((c) => c.pod === pod && c.record.init.state !== "stopped");
    await Promise.all(live.map((c) => this.runsc.kill(target, c.id, 9, true).catch(() => {})));
    if (drainMs > 0) {
      const deadline = AbortSignal.timeout(drainMs);
      await Promise.all(live.filter((c) => c.record.init.pid > 0).map((c) => c.waitFor("", deadline).catch(() => {})));
    }
    await this.runsc.delete(target, rootId(pod), true).catch((err: unknown) => {
      if (!isErrorCode(err, Code.NotFound)) pod.log.warn({ err }, "runsc delete of the sandbox failed");
    });
    const pid = this.sandboxPid(pod);
    for (const until = Date.now() + 5000; isAlive(pid) && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
  }

  /** After a daemon restart: a sandbox that died meanwhile stops its pod; a live one is watched again. */
  override async podRecovered(pod: Pod): Promise<void> {
    const pid = this.sandboxPid(pod);
    const exit = pid > 0 ? pod.exitOf(pid, undefined) : undefined;
    if (pid <= 0 || exit || !isAlive(pid)) {
      pod.sandboxDied(exit?.status ?? 255);
      return;
    }
    this.watched.add(pod.id);
  }

  override async podStats(pod: Pod): Promise<CgroupStats> {
    return this.runsc.stats(this.target(pod), rootId(pod));
  }

  /** Exits of the sandbox process end the pod; a waiter's exit carries its container's status in a file. */
  override handleExit(pod: Pod, e: HolderExit): void {
    if (e.pid === this.sandboxPid(pod)) {
      if (this.watched.delete(pod.id)) pod.sandboxDied(e.status);
      return;
    }
    const who = this.byPid.get(pod, e.pid);
    const c = who && !who.execId ? this.rt.containers.get(who.containerId) : undefined;
    if (c && c.pod === pod) e = { ...e, status: parseWaitResult(readTextOr(waitFile(c))) };
    super.handleExit(pod, e);
  }

  // ---- containers -------------------------------------------------------------

  protected async killAll(c: Container): Promise<void> {
    await this.runsc.kill(this.target(c.pod), c.id, 9, true);
  }

  protected override oomKilled(_c: Container): boolean {
    return false; // gVisor's sentry accounts memory itself; no host cgroup OOM event to read
  }

  protected checkCreate(spec: CreateTaskSpec): void {
    if (spec.checkpoint) throw new RuntimeError(Code.Unimplemented, "restoring from a checkpoint is not supported");
  }

  /**
   * `runsc create` through the holder. With a terminal, runsc hands the console
   * to the holder now; otherwise the container takes its stdio from `runsc start`.
   * The init's host process (its waiter) exists from Start on: pid 0 until then.
   */
  protected async launchInit(l: InitLaunch): Promise<{ pid: number; memoryCgroup: string; fields: Record<string, unknown> }> {
    const { id, spec, oci, pod, holder, stdio, spawnId, log } = l;
    const prepared = prepareGvisorSpec(oci, rootId(pod), pod.record.standalone ? undefined : podContext(pod), this.rt.minOomScoreAdj);
    writeFileAtomic(join(spec.bundle, "config.json"), JSON.stringify(prepared), 0o644);
    const target = this.target(pod);
    const runscLog = join(spec.bundle, "runsc.log");
    if (stdio.terminal) {
      const consoleSocket = await this.consoleSocketFor(spawnId);
      const startedAt = new Date();
      const pid = await holder.spawn({
        id: spawnId,
        cwd: spec.bundle,
        stdin: stdio.stdin,
        stdout: stdio.stdout,
        console: consoleSocket,
        argv: this.runsc.createArgv(target, id, spec.bundle, undefined, consoleSocket),
        env: holderLaunchEnv(),
      });
      const done = await waitExit(pod, pid, startedAt, LAUNCH_TIMEOUT_MS);
      if (done.status !== 0) throw runscError("create", `exit status ${done.status}`);
      if (spec.stdio.stderr) closeUnusedFifo(stdio.stderr);
    } else {
      await this.runThroughHolder(pod, `create:${id}`, this.runsc.createArgv(target, id, spec.bundle), "create", runscLog);
    }
    log.debug({ sandbox: rootId(pod), network: target.network }, "container created in the pod's sandbox");
    return { pid: 0, memoryCgroup: "", fields: { runtime: "runsc" } };
  }

  protected async undoLaunch(id: string, pod: Pod): Promise<void> {
    await this.runsc.delete(this.target(pod), id, true);
  }

  async start(containerId: string, execId: string): Promise<{ pid: number }> {
    const c = this.container(containerId);
    if (!execId) return this.startInit(c, () => this.release(c));
    return this.startExec(c, execId);
  }

  /** `runsc start` (with the stdio, unless a terminal has it), then the waiter that reports the exit. */
  private async release(c: Container): Promise<void> {
    const p = c.record.init;
    const pod = c.pod;
    const holder = requireHolder(pod);
    const target = this.target(pod);
    const t = p.stdio.terminal;
    const startedAt = new Date();
    const startPid = await holder.spawn({
      id: t ? `start:${c.id}` : p.spawnId,
      cwd: c.record.bundle,
      stdin: t ? "" : p.stdio.stdin,
      stdout: t ? "" : p.stdio.stdout,
      stderr: t ? "" : p.stdio.stderr,
      argv: this.runsc.startArgv(target, c.id),
      env: holderLaunchEnv(),
    });
    const done = await waitExit(pod, startPid, startedAt, LAUNCH_TIMEOUT_MS);
    if (done.status !== 0) throw new RuntimeError(Code.FailedPrecondition, `runsc start ${c.id}: exit status ${done.status}`);
    rmSync(waitFile(c), { force: true });
    const waiter = await holder.spawn({ id: `wait:${c.id}`, cwd: c.record.bundle, stdout: waitFile(c), argv: this.runsc.waitArgv(target, c.id), env: holderLaunchEnv() });
    p.pid = waiter;
    p.startedAt = startedAt.toISOString();
    this.persist(c);
    this.byPid.set(pod, waiter, { containerId: c.id, execId: "" });
    const early = pod.exitOf(waiter, startedAt);
    if (early) this.handleExit(pod, early);
  }

  /** An attached `runsc exec` through the holder: it is the exec's host process and exits with its status. */
  private async startExec(c: Container, execId: string): Promise<{ pid: number }> {
    const p = this.processOf(c, execId);
    transition(processTransitions, `exec ${execId}`, p.state, "running");
    if (c.record.init.state !== "running") throw new RuntimeError(Code.FailedPrecondition, `container ${c.id} is not running`);
    const holder = requireHolder(c.pod);
    const base = join(execDir(c), execId);
    await mkdir(execDir(c), { recursive: true, mode: 0o700 });
    const process = { ...(p.process as OciProcess), terminal: p.stdio.terminal };
    if (typeof process.oomScoreAdj === "number" && process.oomScoreAdj < this.rt.minOomScoreAdj) process.oomScoreAdj = this.rt.minOomScoreAdj;
    await writeFile(`${base}.json`, JSON.stringify(process), { mode: 0o600 });
    rmSync(`${base}.ipid`, { force: true });
    const consoleSocket = p.stdio.terminal ? await this.consoleSocketFor(p.spawnId) : undefined;
    const startedAt = new Date();
    const pid = await holder.spawn({
      id: p.spawnId,
      cwd: c.record.bundle,
      stdin: p.stdio.stdin,
      stdout: p.stdio.stdout,
      stderr: p.stdio.terminal ? "" : p.stdio.stderr,
      console: consoleSocket,
      // runsc exec gives a terminal process its own stdio's terminal: the helper makes one and hands the holder its master.
      argv: [...(consoleSocket ? [this.ptyExecBinary, consoleSocket] : []), ...this.runsc.execArgv(this.target(c.pod), c.id, `${base}.json`, `${base}.ipid`)],
      env: holderLaunchEnv(),
    });
    // Started once runsc wrote the in-sandbox pid; an exit before that is a failed launch.
    for (const until = Date.now() + LAUNCH_TIMEOUT_MS; !existsSync(`${base}.ipid`); ) {
      const early = c.pod.exitOf(pid, startedAt);
      if (early && !existsSync(`${base}.ipid`)) {
        this.markExited(c, execId, early.status, early.exitedAt);
        throw new RuntimeError(Code.FailedPrecondition, `runsc exec in ${c.id} failed (exit status ${early.status}): see the exec's stderr`);
      }
      if (Date.now() > until) throw new RuntimeError(Code.DeadlineExceeded, `runsc exec in ${c.id}: not started within ${LAUNCH_TIMEOUT_MS} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
    if (p.stdio.terminal && p.stdio.stderr) closeUnusedFifo(p.stdio.stderr);
    return this.execStarted(c, execId, pid, startedAt);
  }

  protected async signalProcess(containerId: string, execId: string, signal: number, all: boolean): Promise<void> {
    const c = this.container(containerId);
    const p = this.processOf(c, execId);
    if (p.state === "stopped") throw new RuntimeError(Code.NotFound, "process already finished");
    const target = this.target(c.pod);
    try {
      if (!execId) {
        if (p.state === "created") return await this.killCreated(c, signal);
        await this.runsc.kill(target, containerId, signal, all);
        return;
      }
      if (p.state === "created") throw new RuntimeError(Code.FailedPrecondition, `exec ${execId} has not started`);
      const internal = Number(readTextOr(join(execDir(c), `${execId}.ipid`)).trim());
      // The attached runsc exec does not forward signals: signal the process inside the sandbox.
      if (internal > 0) await this.runsc.killProcess(target, containerId, internal, signal);
      else await requireHolder(c.pod).kill(p.pid, signal);
    } catch (err) {
      if (c.process(execId)?.state === "stopped" || isErrorCode(err, Code.NotFound)) {
        throw new RuntimeError(Code.NotFound, "process already finished", { cause: err });
      }
      throw err;
    }
  }

  /**
   * runsc cannot signal a container that was created but never started (nothing
   * runs in it yet): it is removed from the sandbox and ends now, as a process
   * killed by `signal` would.
   */
  private async killCreated(c: Container, signal: number): Promise<void> {
    await this.runsc.delete(this.target(c.pod), c.id, true);
    const now = new Date();
    this.markExited(c, "", 128 + signal, now);
    this.rt.events.publish(c.record.namespace, { kind: "exit", containerId: c.id, id: c.id, pid: 0, exitStatus: 128 + signal, exitedAt: now });
  }

  /** Removes a container's runsc state, rootfs mount, files and record (Delete, and a pod's Shutdown). */
  async remove(c: Container): Promise<void> {
    await this.runsc.delete(this.target(c.pod), c.id, true).catch((err: unknown) => {
      if (!isErrorCode(err, Code.NotFound)) this.rt.log.warn({ err, container_id: c.id }, "runsc delete failed");
    });
    if (c.record.rootfsMounted) await unmount(join(c.record.bundle, "rootfs"));
    rmSync(execDir(c), { recursive: true, force: true });
    rmSync(waitFile(c), { force: true });
    for (const p of [c.record.init, ...Object.values(c.record.execs)]) this.byPid.delete(c.pod, p.pid);
    this.rt.containerRecords.delete(c.id);
    this.rt.containers.delete(c.id);
  }

  /** Pids inside the sandbox (what `ps` in the container shows). */
  async pids(containerId: string): Promise<{ pid: number; execId: string }[]> {
    const c = this.container(containerId);
    if (c.record.init.state !== "running" && c.record.init.state !== "paused") return [];
    const execOf = new Map<number, string>();
    for (const p of Object.values(c.record.execs)) {
      const internal = Number(readTextOr(join(execDir(c), `${p.execId}.ipid`)).trim());
      if (p.state === "running" && internal > 0) execOf.set(internal, p.execId);
    }
    const pids = await this.runsc.ps(this.target(c.pod), containerId).catch((err: unknown) => {
      if (isErrorCode(err, Code.NotFound)) return [] as number[];
      throw err;
    });
    return pids.map((pid) => ({ pid, execId: execOf.get(pid) ?? "" }));
  }

  protected async freeze(c: Container): Promise<void> {
    await this.runsc.pause(this.target(c.pod), c.id);
  }

  protected async thaw(c: Container): Promise<void> {
    await this.runsc.resume(this.target(c.pod), c.id);
  }

  protected removeExecFiles(c: Container, execId: string): void {
    for (const ext of ["json", "ipid"]) rmSync(join(execDir(c), `${execId}.${ext}`), { force: true });
  }

  async update(containerId: string, resources: unknown, _annotations: Record<string, string>): Promise<void> {
    const c = this.container(containerId);
    if (c.record.init.state === "stopped") throw new RuntimeError(Code.FailedPrecondition, `container ${containerId} is stopped`);
    if (resources !== undefined) throw new RuntimeError(Code.Unimplemented, "runsc cannot change a running container's resources");
  }

  async stats(containerId: string): Promise<CgroupStats> {
    const c = this.container(containerId);
    if (c.record.init.state === "stopped" || c.record.init.state === "created") throw new RuntimeError(Code.NotFound, `container ${containerId} is not running`);
    return this.runsc.stats(this.target(c.pod), containerId);
  }

  // ---- helpers ----------------------------------------------------------------

  /** The network mode of a pod: host-network pods pass through to the host's stack. */
  private network(pod: Pod): RunscNetwork {
    return isHostNetwork(pod) && this.runsc.options.network === "sandbox" ? "host" : this.runsc.options.network;
  }

  /** Where short runsc commands for `pod` must run: in its network namespace while that exists. */
  private target(pod: Pod): RunscTarget {
    const netns = isHostNetwork(pod) ? undefined : pod.record.netnsPath;
    return { root: join(pod.dir, "runsc"), network: this.network(pod), netns: netns && existsSync(netns) ? netns : undefined };
  }

  /** Host pid of the pod's sandbox process (runsc's pid file), 0 before it was created. */
  private sandboxPid(pod: Pod): number {
    return Number(readTextOr(join(sandboxDir(pod), "sandbox.pid")).trim()) || 0;
  }

  /** Runs a runsc command to completion through the pod's holder; its output goes to `log`, quoted on failure. */
  private async runThroughHolder(pod: Pod, key: string, argv: string[], command: string, log: string): Promise<void> {
    const startedAt = new Date();
    const pid = await requireHolder(pod).spawn({ id: key, cwd: "/", stdout: log, stderr: log, argv, env: holderLaunchEnv() });
    const done = await waitExit(pod, pid, startedAt, LAUNCH_TIMEOUT_MS);
    if (done.status !== 0) throw runscError(command, readTextOr(log) || `exit status ${done.status}`);
  }
}

function isHostNetwork(pod: Pod): boolean {
  return pod.record.pod?.hostNetwork ?? pod.record.netnsPath === "";
}

/**
 * runsc id of the pod's root container. Not the sandbox id itself: a container
 * run without a pod (ctr through the shim bridge) gets a sandbox named after it.
 * runsc also accepts unambiguous id prefixes, so no container id may be a
 * prefix of it nor it of one: containerd ids start with a letter or digit, this
 * one with `_`.
 */
function rootId(pod: Pod): string {
  return `_${pod.id}`;
}

/** The pod's sandbox files: root container bundle, its rootfs, runsc's pid file and log. */
function sandboxDir(pod: Pod): string {
  return join(pod.dir, "gvisor");
}

/** Where a container's waiter writes the exit status runsc reports. */
function waitFile(c: Container): string {
  return join(sandboxDir(c.pod), `${c.id}.exit`);
}

/** Where the exec process files (spec, in-sandbox pid) of a container live. */
function execDir(c: Container): string {
  return join(c.pod.dir, "exec", c.id);
}
