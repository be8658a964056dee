import { readFileSync, rmSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { holderLaunchEnv } from "../../oci-runtime/cli-command.js";
import { cgroupStatsOfPid } from "../../cgroup/cgroup-stats.js";
import { Code } from "../../errors/code.js";
import { RuntimeError, isErrorCode } from "../../errors/runtime-error.js";
import { writeFileAtomic } from "../../fs/atomic-write.js";
import { processTransitions, transition } from "../../sandbox/state-machine.js";
import type { CgroupStats, CreateTaskSpec } from "../../task/task-backend.js";
import type { Container } from "../../pod/container.js";
import type { Pod } from "../../pod/pod.js";
import { prepareContainerSpec } from "./container-spec.js";
import { podContext } from "../../pod/pod-context.js";
import type { OciProcess } from "../../pod/oci-spec.js";
import { unmount } from "../../pod/rootfs.js";
import { runcError, type RuncCli } from "./runc-cli.js";
import { PodTasks, requireHolder, type InitLaunch } from "../../pod/pod-tasks.js";
import type { PodRuntime } from "../../pod/pod-runtime.js";
import { memoryCgroupOf } from "../../cgroup/oom.js";
import { closeUnusedFifo } from "../../pod/stdio.js";
import { waitExit } from "../../pod/wait-exit.js";
import { readTextOr } from "../../fs/read-text.js";

/** How long `runc create`/`runc exec` may take, in ms. */
const RUNC_LAUNCH_TIMEOUT_MS = 60_000;

/** The Task API of runc containers: every container of every runc pod of this daemon. */
export class RuncTasks extends PodTasks {
  /** Enters every namespace (and the root) of the container's init, or of the pod's init without a container. */
  override debugExecArgv(pod: Pod, c: Container | undefined, argv: string[]): string[] {
    const pid = c ? c.record.init.pid : pod.record.podPid;
    if (pid <= 0) throw new RuntimeError(Code.FailedPrecondition, `${c ? `container ${c.id}` : `sandbox ${pod.id}`} has no running process`);
    const ns = c ? ["-m", "-u", "-i", "-n", "-p", "-r", "-w"] : ["-u", "-i", "-n", "-p"];
    return ["nsenter", "-t", String(pid), ...ns, "--", ...argv];
  }

  constructor(
    rt: PodRuntime,
    private readonly runc: RuncCli,
  ) {
    super(rt);
  }

  protected async killAll(c: Container): Promise<void> {
    await this.runc.kill(c.id, 9, true);
  }

  /**
   * The holder died: `runc delete --force` of each container kills what runs in it
   * (all of its cgroup when it shares the pod's pid namespace, its init, and with
   * it its own pid namespace, otherwise) and removes its cgroups and runc state;
   * the cgroup is then swept for whatever runc could not reach.
   */
  override async podLost(pod: Pod): Promise<void> {
    await Promise.all(
      this.containersOf(pod).map(async (c) => {
        await this.runc.delete(c.id, true).catch((err: unknown) => {
          if (!isErrorCode(err, Code.NotFound)) pod.log.warn({ err, container_id: c.id }, "runc delete --force of a container of a lost pod failed");
        });
        await this.killContainerCgroup(c);
      }),
    );
  }

  protected checkCreate(spec: CreateTaskSpec): void {
    if (spec.checkpoint) throw new RuntimeError(Code.Unimplemented, "restoring from a checkpoint is not supported");
  }

  /** `runc create` through the holder; the container's init (from `--pid-file`) is adopted by it. */
  protected async launchInit(l: InitLaunch): Promise<{ pid: number; memoryCgroup: string; fields: Record<string, unknown> }> {
    const { id, spec, oci, pod, holder, stdio, spawnId, log } = l;
    const prepared = prepareContainerSpec(oci, pod.record.standalone ? undefined : podContext(pod), this.rt.minOomScoreAdj);
    writeFileAtomic(join(spec.bundle, "config.json"), JSON.stringify(prepared), 0o644);
    log.debug({ namespaces: prepared.linux?.namespaces, given: oci.linux?.namespaces }, "container spec prepared");
    const pidFile = join(spec.bundle, "init.pid");
    const consoleSocket = stdio.terminal ? await this.consoleSocketFor(spawnId) : undefined;
    const startedAt = new Date();
    const runcPid = await holder.spawn({
      id: spawnId,
      cwd: spec.bundle,
      stdin: stdio.stdin,
      stdout: stdio.stdout,
      stderr: stdio.terminal ? "" : stdio.stderr,
      console: consoleSocket,
      argv: this.runc.createArgv(id, spec.bundle, pidFile, join(spec.bundle, "runc.log"), consoleSocket),
      env: holderLaunchEnv(),
    });
    const done = await waitExit(pod, runcPid, startedAt, RUNC_LAUNCH_TIMEOUT_MS);
    if (done.status !== 0) throw runcError("create", readTextOr(join(spec.bundle, "runc.log"), "runc failed without a log"));
    if (stdio.terminal && spec.stdio.stderr) closeUnusedFifo(stdio.stderr);
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    await holder.adopt(id, pid);
    return { pid, memoryCgroup: memoryCgroupOf(pid), fields: {} };
  }

  protected async undoLaunch(id: string): Promise<void> {
    await this.runc.delete(id, true);
  }

  async start(containerId: string, execId: string): Promise<{ pid: number }> {
    const c = this.container(containerId);
    if (!execId) return this.startInit(c, () => this.runc.start(containerId));
    const p = this.processOf(c, execId);
    transition(processTransitions, `exec ${execId}`, p.state, "running");
    if (c.record.init.state !== "running") throw new RuntimeError(Code.FailedPrecondition, `container ${containerId} is not running`);
    const holder = requireHolder(c.pod);
    const dir = execDir(c);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const base = join(dir, execId);
    const process = { ...(p.process as OciProcess), terminal: p.stdio.terminal };
    if (typeof process.oomScoreAdj === "number" && process.oomScoreAdj < this.rt.minOomScoreAdj) process.oomScoreAdj = this.rt.minOomScoreAdj;
    await writeFile(`${base}.json`, JSON.stringify(process), { mode: 0o600 });
    const consoleSocket = p.stdio.terminal ? await this.consoleSocketFor(p.spawnId) : undefined;
    const startedAt = new Date();
    const argv = this.runc.execArgv(containerId, `${base}.json`, `${base}.pid`, `${base}.log`, consoleSocket);
    const runcPid = await holder.spawn({
      id: p.spawnId,
      cwd: c.record.bundle,
      stdin: p.stdio.stdin,
      stdout: p.stdio.stdout,
      stderr: p.stdio.terminal ? "" : p.stdio.stderr,
      console: consoleSocket,
      argv,
      env: holderLaunchEnv(),
    });
    const done = await waitExit(c.pod, runcPid, startedAt, RUNC_LAUNCH_TIMEOUT_MS);
    if (done.status !== 0) {
      const err = runcError("exec", readTextOr(`${base}.log`, "runc failed without a log"));
      this.markExited(c, execId, 255, new Date());
      throw err.code === Code.Unknown ? new RuntimeError(Code.FailedPrecondition, err.message, { cause: err }) : err;
    }
    if (p.stdio.terminal && p.stdio.stderr) closeUnusedFifo(p.stdio.stderr);
    const pid = Number(readFileSync(`${base}.pid`, "utf8").trim());
    await holder.adopt(p.spawnId, pid);
    return this.execStarted(c, execId, pid, startedAt);
  }

  protected async signalProcess(containerId: string, execId: string, signal: number, all: boolean): Promise<void> {
    const c = this.container(containerId);
    const p = this.processOf(c, execId);
    if (p.state === "stopped") throw new RuntimeError(Code.NotFound, "process already finished");
    if (!execId) {
      try {
        await this.runc.kill(containerId, signal, all);
      } catch (err) {
        // It may have exited while runc ran: containerd tolerates NotFound here.
        if (c.process(execId)?.state === "stopped" || isErrorCode(err, Code.NotFound)) {
          throw new RuntimeError(Code.NotFound, "process already finished", { cause: err });
        }
        throw err;
      }
      return;
    }
    if (p.state === "created") throw new RuntimeError(Code.FailedPrecondition, `exec ${execId} has not started`);
    await requireHolder(c.pod).kill(p.pid, signal);
  }

  /** Removes a container's runc state, rootfs mount and record (Delete, and a pod's Shutdown). */
  async remove(c: Container): Promise<void> {
    await this.runc.delete(c.id, true).catch((err: unknown) => {
      if (!isErrorCode(err, Code.NotFound)) this.rt.log.warn({ err, container_id: c.id }, "runc delete failed");
    });
    if (c.record.rootfsMounted) await unmount(join(c.record.bundle, "rootfs"));
    rmSync(execDir(c), { recursive: true, force: true });
    for (const p of [c.record.init, ...Object.values(c.record.execs)]) this.byPid.delete(c.pod, p.pid);
    this.rt.containerRecords.delete(c.id);
    this.rt.containers.delete(c.id);
  }

  async pids(containerId: string): Promise<{ pid: number; execId: string }[]> {
    return this.pidsFrom(this.container(containerId), () => this.runc.ps(containerId));
  }

  protected async freeze(c: Container): Promise<void> {
    await this.runc.pause(c.id);
  }

  protected async thaw(c: Container): Promise<void> {
    await this.runc.resume(c.id);
  }

  protected removeExecFiles(c: Container, execId: string): void {
    for (const ext of ["json", "pid", "log"]) rmSync(join(execDir(c), `${execId}.${ext}`), { force: true });
  }

  async update(containerId: string, resources: unknown, _annotations: Record<string, string>): Promise<void> {
    const c = this.container(containerId);
    if (c.record.init.state === "stopped") throw new RuntimeError(Code.FailedPrecondition, `container ${containerId} is stopped`);
    if (resources !== undefined) await this.runc.update(containerId, resources);
  }

  async stats(containerId: string): Promise<CgroupStats> {
    const c = this.container(containerId);
    if (c.record.init.state === "stopped" || c.record.init.pid <= 0) throw new RuntimeError(Code.NotFound, `container ${containerId} has no cgroup: not running`);
    return cgroupStatsOfPid(c.record.init.pid);
  }
}

/** Where the exec process files (spec, pid, runc log) of a container live. */
function execDir(c: Container): string {
  return join(c.pod.dir, "exec", c.id);
}
