import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cgroupStatsOfPid } from "../../cgroup/cgroup-stats.js";
import { Code } from "../../errors/code.js";
import { RuntimeError, isErrorCode } from "../../errors/runtime-error.js";
import { writeFileAtomic } from "../../fs/atomic-write.js";
import type { CgroupStats, CreateTaskSpec } from "../../task/task-backend.js";
import type { Container } from "../../pod/container.js";
import type { ContainerOps, ContainerRuntime, InitLaunch, LaunchedInit } from "../../pod/container-runtime.js";
import { killQuietly, type Pod } from "../../pod/pod.js";
import type { ProcessRecord } from "../../pod/records.js";
import { prepareContainerSpec } from "./container-spec.js";
import { podContext } from "../../pod/pod-context.js";
import { runcError, type RuncCli } from "./runc-cli.js";
import { requireHolder } from "../../pod/pod-tasks.js";
import { memoryCgroupOf } from "../../cgroup/oom.js";
import { closeUnusedFifo } from "../../pod/stdio.js";
import { execDir, spawnExec, spawnWithStdio, writeExecProcess } from "../../pod/exec-files.js";
import { waitLauncherExit } from "../../pod/wait-exit.js";
import { readTextOr } from "../../fs/read-text.js";
import { runCaptured, type ExecOutcome } from "../../process/run-captured.js";
import { type ExecFifoProtocol, startByWritingExecFifo, startThroughExecFifo } from "./exec-fifo-start.js";

/** How long `runc create`/`runc exec` may take, in ms. */
const RUNC_LAUNCH_TIMEOUT_MS = 60_000;

/** How runc containers run: the Debian runc binary, launched by the pod's holder, so its containers are the holder's descendants. */
export class RuncRuntime implements ContainerRuntime {
  /** Why Checkpoint, and a Create with a checkpoint, are Unimplemented. */
  readonly checkpointUnsupported = "checkpoint and restore are not supported by the runc sandboxer (it would need CRIU, which kuasard does not drive); the gvisor sandboxer supports them";

  readonly holderSetsPodSysctls = true;
  readonly holderMountsRootfs = true;

  /** Enters every namespace (and the root) of the container's init, or of the pod's init without a container. */
  async debugExec(pod: Pod, c: Container | undefined, argv: string[], timeoutMs: number): Promise<ExecOutcome> {
    const pid = c ? c.record.init.pid : pod.record.podPid;
    if (pid <= 0) throw new RuntimeError(Code.FailedPrecondition, `${c ? `container ${c.id}` : `sandbox ${pod.id}`} has no running process`);
    const ns = c ? ["-m", "-u", "-i", "-n", "-p", "-r", "-w"] : ["-u", "-i", "-n", "-p"];
    return runCaptured(["nsenter", "-t", String(pid), ...ns, "--", ...argv], timeoutMs);
  }

  constructor(
    private readonly ops: ContainerOps,
    private readonly runc: RuncCli,
    /** Start through the runtime's exec fifo, and which way it runs (runc 1.x or crun; none for another runc-compatible binary). */
    private readonly execFifo?: ExecFifoProtocol,
  ) {}

  /** Containers created by this process whose spec has no poststart hooks: these may skip `runc start` (or `crun start`). */
  private readonly fifoStartable = new Set<string>();

  async killAll(c: Container): Promise<void> {
    await this.runc.kill(c.id, 9, true);
  }

  /**
   * The holder died: `runc delete --force` of each container kills what runs in it
   * (all of its cgroup when it shares the pod's pid namespace, its init, and with
   * it its own pid namespace, otherwise) and removes its cgroups and runc state;
   * the cgroup is then swept for whatever runc could not reach.
   */
  async podLost(pod: Pod): Promise<void> {
    await Promise.all(
      this.ops.containersOf(pod).map(async (c) => {
        await this.runc.delete(c.id, true).catch((err: unknown) => {
          if (!isErrorCode(err, Code.NotFound)) pod.log.warn({ err, container_id: c.id }, "runc delete --force of a container of a lost pod failed");
        });
        await this.ops.killContainerCgroup(c);
      }),
    );
  }

  checkCreate(spec: CreateTaskSpec): void {
    if (spec.checkpoint) throw new RuntimeError(Code.Unimplemented, this.checkpointUnsupported);
  }

  /** `runc create` through the holder; the container's init (from `--pid-file`) is adopted by it. */
  async launchInit(l: InitLaunch): Promise<LaunchedInit> {
    const { id, spec, oci, pod, holder, stdio, spawnId, log } = l;
    const prepared = prepareContainerSpec(oci, pod.record.standalone ? undefined : podContext(pod), this.ops.minOomScoreAdj);
    // runc 1.2+ and crun run poststart hooks in their `start`: only a container without them may skip it.
    if (!prepared.hooks?.poststart?.length) this.fifoStartable.add(id);
    else this.fifoStartable.delete(id);
    writeFileAtomic(join(spec.bundle, "config.json"), JSON.stringify(prepared), 0o644);
    log.debug({ namespaces: prepared.linux?.namespaces, given: oci.linux?.namespaces }, "container spec prepared");
    const pidFile = join(spec.bundle, "init.pid");
    const consoleSocket = stdio.terminal ? await this.ops.consoleSocketFor(spawnId) : undefined;
    const startedAt = new Date();
    const argv = this.runc.createArgv(id, spec.bundle, pidFile, join(spec.bundle, "runc.log"), consoleSocket);
    const runcPid = await spawnWithStdio(holder, spawnId, spec.bundle, stdio, argv, consoleSocket);
    const done = await waitLauncherExit(pod, runcPid, startedAt, RUNC_LAUNCH_TIMEOUT_MS, l.signal);
    if (done.status !== 0) throw runcError("create", readTextOr(join(spec.bundle, "runc.log"), "runc failed without a log"));
    if (stdio.terminal && spec.stdio.stderr) closeUnusedFifo(stdio.stderr);
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    await holder.adopt(id, pid);
    return { pid, memoryCgroup: memoryCgroupOf(pid), fields: {} };
  }

  async undoLaunch(id: string): Promise<void> {
    this.fifoStartable.delete(id);
    await this.runc.delete(id, true);
  }

  async startInit(c: Container, signal?: AbortSignal): Promise<void> {
    const init = c.record.init;
    // Only containers this process created (their spec known to have no poststart hooks).
    const startable = this.fifoStartable.delete(c.id);
    if (this.execFifo === "read" && startable && init.pid > 0) {
      const target = { root: this.runc.options.root, id: c.id, pod: c.pod, initPid: init.pid, createdAt: new Date(init.startedAt ?? 0), timeoutMs: this.runc.options.commandTimeoutMs, signal };
      if (await startThroughExecFifo(target)) return;
    }
    if (this.execFifo === "write" && startable && startByWritingExecFifo(this.runc.options.root, c.id)) return;
    await this.runc.start(c.id, signal);
  }

  /** `runc exec` through the holder; the exec's process (from `--pid-file`) is adopted by it. */
  async startExec(c: Container, execId: string, p: ProcessRecord, signal?: AbortSignal): Promise<{ pid: number; startedAt: Date }> {
    const holder = requireHolder(c.pod);
    const base = await writeExecProcess(c, execId, p, this.ops.minOomScoreAdj);
    const consoleSocket = p.stdio.terminal ? await this.ops.consoleSocketFor(p.spawnId) : undefined;
    const startedAt = new Date();
    const argv = this.runc.execArgv(c.id, `${base}.json`, `${base}.pid`, `${base}.log`, consoleSocket);
    const runcPid = await spawnExec(holder, c, p, argv, consoleSocket);
    const done = await waitLauncherExit(c.pod, runcPid, startedAt, RUNC_LAUNCH_TIMEOUT_MS, signal).catch((err: unknown) => {
      // Abandoned or stuck: an exec process runc got as far as starting goes too, and the exec ends as a failed launch.
      const started = Number(readTextOr(`${base}.pid`).trim());
      if (started > 0) killQuietly(started, "SIGKILL");
      this.ops.markExited(c, execId, 255, new Date());
      throw err;
    });
    if (done.status !== 0) {
      const err = runcError("exec", readTextOr(`${base}.log`, "runc failed without a log"));
      this.ops.markExited(c, execId, 255, new Date());
      throw err.code === Code.Unknown ? new RuntimeError(Code.FailedPrecondition, err.message, { cause: err }) : err;
    }
    if (p.stdio.terminal && p.stdio.stderr) closeUnusedFifo(p.stdio.stderr);
    const pid = Number(readFileSync(`${base}.pid`, "utf8").trim());
    await holder.adopt(p.spawnId, pid);
    return { pid, startedAt };
  }

  async signalInit(c: Container, signal: number, all: boolean): Promise<void> {
    await this.runc.kill(c.id, signal, all);
  }

  /** Removes a container's runc state and exec files. */
  async remove(c: Container): Promise<void> {
    this.fifoStartable.delete(c.id);
    await this.runc.delete(c.id, true).catch((err: unknown) => {
      if (!isErrorCode(err, Code.NotFound)) this.ops.log.warn({ err, container_id: c.id }, "runc delete failed");
    });
    rmSync(execDir(c), { recursive: true, force: true });
  }

  ps(c: Container): Promise<number[]> {
    return this.runc.ps(c.id);
  }

  async freeze(c: Container): Promise<void> {
    await this.runc.pause(c.id);
  }

  async thaw(c: Container): Promise<void> {
    await this.runc.resume(c.id);
  }

  removeExecFiles(c: Container, execId: string): void {
    for (const ext of ["json", "pid", "log"]) rmSync(join(execDir(c), `${execId}.${ext}`), { force: true });
  }

  async update(c: Container, resources: unknown): Promise<void> {
    await this.runc.update(c.id, resources);
  }

  async stats(c: Container): Promise<CgroupStats> {
    if (c.record.init.pid <= 0) throw new RuntimeError(Code.NotFound, `container ${c.id} has no cgroup: not running`);
    return cgroupStatsOfPid(c.record.init.pid);
  }
}
