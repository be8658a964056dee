import { closeSync, constants, openSync, readFileSync, rmSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { cgroupStatsOfPid, parseProcCgroup, CGROUP_ROOT } from "../../cgroup/cgroup-stats.js";
import { Code } from "../../errors/code.js";
import { RuntimeError, isErrorCode } from "../../errors/runtime-error.js";
import { writeFileAtomic } from "../../fs/atomic-write.js";
import type { HolderExit } from "../../holder/holder-protocol.js";
import { validateId } from "../../sandbox/id.js";
import { processTransitions, transition } from "../../sandbox/state-machine.js";
import type { CgroupStats, CreateTaskSpec, ExecSpec, ExitInfo, ProcessStatus, TaskBackend } from "../../task/task-backend.js";
import { Container, exitInfo } from "./container.js";
import { prepareContainerSpec, type PodContext } from "./container-spec.js";
import type { OciProcess, OciSpec } from "./oci-spec.js";
import type { Pod } from "./pod.js";
import type { ContainerRecord, ProcessRecord } from "./records.js";
import { mountRootfs, unmount } from "./rootfs.js";
import { runcError } from "./runc-cli.js";
import type { RuncContext } from "./runc-context.js";
import { stdioPaths } from "./stdio.js";
import { waitExit } from "./wait-exit.js";

/** How long `runc create`/`runc exec` may take, in ms. */
const RUNC_LAUNCH_TIMEOUT_MS = 60_000;
/** How long an init exit waits for the container's execs to be reaped before it is published, in ms. */
const EXEC_DRAIN_MS = 2_000;
/** Annotation CRI puts on every container naming its pod. */
const SANDBOX_ID_ANNOTATION = "io.kubernetes.cri.sandbox-id";

/** The Task API of runc containers: every container of every runc pod of this daemon. */
export class RuncTasks implements TaskBackend {
  /** pid -> which process it is, for exits reported by the holders. */
  private readonly byPid = new Map<number, { containerId: string; execId: string }>();

  constructor(private readonly ctx: RuncContext) {}

  has(containerId: string): boolean {
    return this.ctx.containers.has(containerId);
  }

  /** Called for every exit a pod's holder reports (live or replayed). */
  handleExit(pod: Pod, e: HolderExit): void {
    const who = this.byPid.get(e.pid);
    if (!who) return;
    const c = this.ctx.containers.get(who.containerId);
    const p = c?.process(who.execId);
    if (!c || !p || c.pod !== pod || p.state === "stopped" || p.pid !== e.pid) return;
    if (p.startedAt && e.exitedAt.getTime() < new Date(p.startedAt).getTime() - 1000) return; // an older process with this pid
    this.byPid.delete(e.pid);
    this.markExited(c, who.execId, e.status, e.exitedAt);
    const log = this.ctx.log.child({ container_id: c.id, exec_id: who.execId || undefined });
    log.info({ pid: e.pid, exit_status: e.status }, "process exited");
    if (who.execId) {
      this.ctx.events.publish(c.record.namespace, { kind: "exit", containerId: c.id, id: who.execId, pid: e.pid, exitStatus: e.status, exitedAt: e.exitedAt });
    } else {
      void this.publishInitExit(c, e).catch((err: unknown) => log.error({ err }, "publishing init exit failed"));
    }
  }

  /** Registers a recovered container and replays exits its holder saw while we were away. */
  adopt(c: Container): void {
    this.ctx.containers.set(c.id, c);
    for (const [execId, p] of [["", c.record.init] as const, ...Object.entries(c.record.execs)]) {
      if (p.pid > 0 && p.state !== "stopped") {
        this.byPid.set(p.pid, { containerId: c.id, execId });
        const e = c.pod.exitOf(p.pid, p.startedAt ? new Date(p.startedAt) : undefined);
        if (e) this.handleExit(c.pod, e);
      }
    }
  }

  /**
   * Marks every process of `pod` that has no recorded exit as stopped with
   * `status`: its holder died and took them along, and the journal has nothing
   * on them (they were killed with it).
   */
  abandon(pod: Pod, status: number): void {
    const now = new Date();
    for (const c of this.ctx.containers.values()) {
      if (c.pod !== pod) continue;
      for (const [execId, p] of [...Object.entries(c.record.execs), ["", c.record.init] as const]) {
        if (p.state === "stopped") continue;
        this.byPid.delete(p.pid);
        this.markExited(c, execId, status, now);
        if (p.pid > 0) this.ctx.events.publish(c.record.namespace, { kind: "exit", containerId: c.id, id: execId || c.id, pid: p.pid, exitStatus: status, exitedAt: now });
      }
    }
  }

  /** Records how a process ended, persists it and wakes its waiters. */
  private markExited(c: Container, execId: string, status: number, at: Date): void {
    const p = c.process(execId)!;
    p.state = "stopped";
    p.exitStatus = status;
    p.exitedAt = at.toISOString();
    this.persist(c);
    c.notifyExit(execId);
  }

  async create(spec: CreateTaskSpec): Promise<{ pid: number }> {
    const id = validateId("container", spec.containerId);
    if (this.ctx.containers.has(id)) throw new RuntimeError(Code.AlreadyExists, `container ${id} already exists`);
    if (spec.checkpoint) throw new RuntimeError(Code.Unimplemented, "restoring from a checkpoint is not supported");
    const oci = await readSpec(spec.bundle);
    const sandboxId = spec.sandboxId ? validateId("sandbox", spec.sandboxId) : await sandboxIdOf(spec.bundle, oci);
    const pod = this.ctx.pods.get(sandboxId);
    if (!pod) throw new RuntimeError(Code.NotFound, `sandbox ${sandboxId} of container ${id} not found`);
    if (pod.record.state !== "ready") throw new RuntimeError(Code.FailedPrecondition, `sandbox ${sandboxId} is ${pod.record.state}, not ready`);
    const holder = requireHolder(pod);
    const stdio = stdioPaths(spec.stdio);
    const log = this.ctx.log.child({ sandbox_id: sandboxId, container_id: id });

    const rootfs = join(spec.bundle, "rootfs");
    let mounted = false;
    let launched = false;
    try {
      if (spec.rootfs.length > 0) {
        await mkdir(rootfs, { recursive: true });
        await mountRootfs(spec.rootfs, rootfs);
        mounted = true;
      }
      const prepared = prepareContainerSpec(oci, pod.record.standalone ? undefined : podContext(pod), this.ctx.minOomScoreAdj);
      writeFileAtomic(join(spec.bundle, "config.json"), JSON.stringify(prepared), 0o644);
      log.debug({ namespaces: prepared.linux?.namespaces, given: oci.linux?.namespaces }, "container spec prepared");
      const pidFile = join(spec.bundle, "init.pid");
      const spawnId = `init:${id}`;
      const consoleSocket = stdio.terminal ? await this.consoleSocketFor(spawnId) : undefined;
      const startedAt = new Date();
      launched = true;
      const runcPid = await holder.spawn({
        id: spawnId,
        cwd: spec.bundle,
        stdin: stdio.stdin,
        stdout: stdio.stdout,
        stderr: stdio.terminal ? "" : stdio.stderr,
        console: consoleSocket,
        argv: this.ctx.runc.createArgv(id, spec.bundle, pidFile, join(spec.bundle, "runc.log"), consoleSocket),
        env: runcEnv(),
      });
      const done = await waitExit(pod, runcPid, startedAt, RUNC_LAUNCH_TIMEOUT_MS);
      if (done.status !== 0) throw runcError("create", readRuncLog(join(spec.bundle, "runc.log")));
      if (stdio.terminal && spec.stdio.stderr) closeUnusedFifo(stdio.stderr);
      const pid = Number(readFileSync(pidFile, "utf8").trim());
      await holder.adopt(id, pid);
      const record: ContainerRecord = {
        id,
        sandboxId,
        namespace: spec.namespace,
        bundle: spec.bundle,
        rootfsMounted: mounted,
        init: { execId: "", spawnId, pid, state: "created", stdio, exitStatus: 0, exitedAt: undefined, startedAt: startedAt.toISOString() },
        execs: {},
        memoryCgroup: memoryCgroupOf(pid),
      };
      const c = new Container(record, pod);
      this.persist(c);
      this.ctx.containers.set(id, c);
      this.byPid.set(pid, { containerId: id, execId: "" });
      const early = pod.exitOf(pid, startedAt);
      if (early) this.handleExit(pod, early);
      log.info({ pid }, "container created");
      this.ctx.events.publish(spec.namespace, {
        kind: "create",
        containerId: id,
        bundle: spec.bundle,
        rootfs: spec.rootfs,
        io: spec.stdio,
        checkpoint: spec.checkpoint,
        pid,
      });
      return { pid };
    } catch (err) {
      log.warn({ err }, "container create failed; cleaning up");
      if (launched) await this.ctx.runc.delete(id, true).catch(() => {});
      if (mounted) await unmount(rootfs).catch(() => {});
      this.ctx.containerRecords.delete(id);
      throw err;
    }
  }

  async start(containerId: string, execId: string): Promise<{ pid: number }> {
    const c = this.container(containerId);
    const p = this.processOf(c, execId);
    transition(processTransitions, `${execId ? "exec" : "container"} ${execId || containerId}`, p.state, "running");
    if (!execId) {
      let started!: () => void;
      c.starting.set("", new Promise<void>((r) => (started = r)));
      try {
        await this.ctx.runc.start(containerId);
        // A short-lived process may already have exited (and been recorded) by now.
        if (p.state === "created") p.state = "running";
        this.persist(c);
        this.ctx.events.publish(c.record.namespace, { kind: "start", containerId, pid: p.pid });
      } finally {
        c.starting.delete("");
        started();
      }
      return { pid: p.pid };
    }
    if (c.record.init.state !== "running") throw new RuntimeError(Code.FailedPrecondition, `container ${containerId} is not running`);
    const holder = requireHolder(c.pod);
    const dir = execDir(c);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const base = join(dir, execId);
    const process = { ...(p.process as OciProcess), terminal: p.stdio.terminal };
    if (typeof process.oomScoreAdj === "number" && process.oomScoreAdj < this.ctx.minOomScoreAdj) process.oomScoreAdj = this.ctx.minOomScoreAdj;
    await writeFile(`${base}.json`, JSON.stringify(process), { mode: 0o600 });
    const consoleSocket = p.stdio.terminal ? await this.consoleSocketFor(p.spawnId) : undefined;
    const startedAt = new Date();
    const argv = this.ctx.runc.execArgv(containerId, `${base}.json`, `${base}.pid`, `${base}.log`, consoleSocket);
    const runcPid = await holder.spawn({
      id: p.spawnId,
      cwd: c.record.bundle,
      stdin: p.stdio.stdin,
      stdout: p.stdio.stdout,
      stderr: p.stdio.terminal ? "" : p.stdio.stderr,
      console: consoleSocket,
      argv,
      env: runcEnv(),
    });
    const done = await waitExit(c.pod, runcPid, startedAt, RUNC_LAUNCH_TIMEOUT_MS);
    if (done.status !== 0) {
      const err = runcError("exec", readRuncLog(`${base}.log`));
      this.markExited(c, execId, 255, new Date());
      throw err.code === Code.Unknown ? new RuntimeError(Code.FailedPrecondition, err.message, { cause: err }) : err;
    }
    if (p.stdio.terminal && p.stdio.stderr) closeUnusedFifo(p.stdio.stderr);
    const pid = Number(readFileSync(`${base}.pid`, "utf8").trim());
    await holder.adopt(p.spawnId, pid);
    p.pid = pid;
    p.state = "running";
    p.startedAt = startedAt.toISOString();
    this.persist(c);
    this.byPid.set(pid, { containerId, execId });
    this.ctx.events.publish(c.record.namespace, { kind: "exec-started", containerId, execId, pid });
    const early = c.pod.exitOf(pid, startedAt);
    if (early) this.handleExit(c.pod, early);
    return { pid };
  }

  async exec(spec: ExecSpec): Promise<void> {
    const c = this.container(spec.containerId);
    validateId("exec", spec.execId);
    if (c.record.execs[spec.execId]) throw new RuntimeError(Code.AlreadyExists, `exec ${spec.execId} already exists in container ${spec.containerId}`);
    if (c.record.init.state !== "running") throw new RuntimeError(Code.FailedPrecondition, `container ${spec.containerId} is ${c.record.init.state}, not running`);
    if (typeof spec.process !== "object" || spec.process === null || !Array.isArray((spec.process as OciProcess).args)) {
      throw new RuntimeError(Code.InvalidArgument, "exec spec: process.args is required");
    }
    const stdio = stdioPaths(spec.stdio);
    c.record.execs[spec.execId] = {
      execId: spec.execId,
      spawnId: `exec:${spec.containerId}:${spec.execId}`,
      pid: 0,
      state: "created",
      stdio,
      exitStatus: 0,
      exitedAt: undefined,
      startedAt: undefined,
      process: spec.process,
    };
    this.persist(c);
    this.ctx.events.publish(c.record.namespace, { kind: "exec-added", containerId: spec.containerId, execId: spec.execId });
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

  async kill(containerId: string, execId: string, signal: number, all: boolean): Promise<void> {
    const c = this.container(containerId);
    const p = this.processOf(c, execId);
    if (p.state === "stopped") throw new RuntimeError(Code.NotFound, "process already finished");
    if (!execId) {
      try {
        await this.ctx.runc.kill(containerId, signal, all);
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

  async wait(containerId: string, execId: string, signal: AbortSignal): Promise<ExitInfo> {
    const c = this.container(containerId);
    this.processOf(c, execId);
    return c.waitFor(execId, signal);
  }

  async delete(containerId: string, execId: string): Promise<ExitInfo> {
    const c = this.container(containerId);
    const p = this.processOf(c, execId);
    if (p.state === "running" || p.state === "paused") {
      throw new RuntimeError(Code.FailedPrecondition, `cannot delete ${execId ? `exec ${execId}` : `container ${containerId}`}: it is ${p.state}`);
    }
    if (execId) {
      delete c.record.execs[execId];
      this.persist(c);
      for (const ext of ["json", "pid", "log"]) rmSync(join(execDir(c), `${execId}.${ext}`), { force: true });
      return exitInfo(p);
    }
    await this.remove(c);
    if (p.state !== "stopped") {
      // Created but never started: it never ran, so it "exits" now.
      p.state = "stopped";
      p.exitStatus = 137;
      p.exitedAt = new Date().toISOString();
    }
    const e = exitInfo(p);
    this.ctx.events.publish(c.record.namespace, { kind: "delete", containerId, pid: e.pid, exitStatus: e.exitStatus, exitedAt: e.exitedAt });
    return e;
  }

  /** Removes a container's runc state, rootfs mount and record (Delete, and a pod's Shutdown). */
  async remove(c: Container): Promise<void> {
    await this.ctx.runc.delete(c.id, true).catch((err: unknown) => {
      if (!isErrorCode(err, Code.NotFound)) this.ctx.log.warn({ err, container_id: c.id }, "runc delete failed");
    });
    if (c.record.rootfsMounted) await unmount(join(c.record.bundle, "rootfs"));
    rmSync(execDir(c), { recursive: true, force: true });
    for (const p of [c.record.init, ...Object.values(c.record.execs)]) this.byPid.delete(p.pid);
    this.ctx.containerRecords.delete(c.id);
    this.ctx.containers.delete(c.id);
  }

  async pids(containerId: string): Promise<{ pid: number; execId: string }[]> {
    const c = this.container(containerId);
    if (c.record.init.state === "stopped") return [];
    const execOf = new Map(Object.values(c.record.execs).filter((p) => p.state === "running").map((p) => [p.pid, p.execId]));
    const pids = await this.ctx.runc.ps(containerId).catch((err: unknown) => {
      if (isErrorCode(err, Code.NotFound)) return [] as number[];
      throw err;
    });
    return pids.map((pid) => ({ pid, execId: execOf.get(pid) ?? "" }));
  }

  async pause(containerId: string): Promise<void> {
    const c = this.container(containerId);
    transition(processTransitions, `container ${containerId}`, c.record.init.state, "paused");
    await this.ctx.runc.pause(containerId);
    c.record.init.state = "paused";
    this.persist(c);
    this.ctx.events.publish(c.record.namespace, { kind: "paused", containerId });
  }

  async resume(containerId: string): Promise<void> {
    const c = this.container(containerId);
    if (c.record.init.state !== "paused") throw new RuntimeError(Code.FailedPrecondition, `container ${containerId} is ${c.record.init.state}, not paused`);
    await this.ctx.runc.resume(containerId);
    c.record.init.state = "running";
    this.persist(c);
    this.ctx.events.publish(c.record.namespace, { kind: "resumed", containerId });
  }

  async closeIO(containerId: string, execId: string, stdin: boolean): Promise<void> {
    const c = this.container(containerId);
    const p = this.processOf(c, execId);
    if (stdin && p.stdio.stdin) await requireHolder(c.pod).closeStdin(p.spawnId);
  }

  async resizePty(containerId: string, execId: string, width: number, height: number): Promise<void> {
    const c = this.container(containerId);
    const p = this.processOf(c, execId);
    if (!p.stdio.terminal) throw new RuntimeError(Code.FailedPrecondition, `${execId || containerId} has no terminal`);
    await requireHolder(c.pod).resize(p.spawnId, width, height);
  }

  async update(containerId: string, resources: unknown, _annotations: Record<string, string>): Promise<void> {
    const c = this.container(containerId);
    if (c.record.init.state === "stopped") throw new RuntimeError(Code.FailedPrecondition, `container ${containerId} is stopped`);
    if (resources !== undefined) await this.ctx.runc.update(containerId, resources);
  }

  async stats(containerId: string): Promise<CgroupStats> {
    const c = this.container(containerId);
    if (c.record.init.state === "stopped" || c.record.init.pid <= 0) throw new RuntimeError(Code.NotFound, `container ${containerId} has no cgroup: not running`);
    return cgroupStatsOfPid(c.record.init.pid);
  }

  async connect(containerId: string): Promise<{ taskPid: number; serverPid: number }> {
    const c = this.container(containerId);
    return { taskPid: c.record.init.pid, serverPid: process.pid };
  }

  async shutdown(_containerId: string): Promise<void> {
    // One daemon serves every container: nothing to stop for one of them.
  }

  private container(id: string): Container {
    const c = this.ctx.containers.get(id);
    if (!c) throw new RuntimeError(Code.NotFound, `container ${id}: container not created`);
    return c;
  }

  private processOf(c: Container, execId: string): ProcessRecord {
    const p = c.process(execId);
    if (!p) throw new RuntimeError(Code.NotFound, `exec ${execId} of container ${c.id} not found`);
    return p;
  }

  private persist(c: Container): void {
    this.ctx.containerRecords.put(c.id, c.record);
  }

  private async consoleSocketFor(key: string): Promise<string> {
    const path = this.ctx.consoleSocket(key);
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
    const live = () => Object.values(c.record.execs).filter((p) => p.state === "running" || p.state === "paused");
    if (live().length > 0) {
      await this.ctx.runc.kill(c.id, 9, true).catch(() => {});
      const until = Date.now() + EXEC_DRAIN_MS;
      while (live().length > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    }
    if (e.status === 137 && wasOomKilled(c.record.memoryCgroup)) this.ctx.events.publish(c.record.namespace, { kind: "oom", containerId: c.id });
    this.ctx.events.publish(c.record.namespace, { kind: "exit", containerId: c.id, id: c.id, pid: e.pid, exitStatus: e.status, exitedAt: e.exitedAt });
  }
}

function requireHolder(pod: Pod) {
  const h = pod.client;
  if (!h) throw new RuntimeError(Code.Unavailable, `sandbox ${pod.id}: pod holder not connected`);
  return h;
}

/** What a container of `pod` joins. */
export function podContext(pod: Pod): PodContext {
  const p = pod.record.pod;
  return {
    pid: pod.record.podPid,
    files: { hostname: join(pod.dir, "hostname"), hosts: join(pod.dir, "hosts"), resolvConf: join(pod.dir, "resolv.conf") },
    shmPath: pod.record.shmMounted ? join(pod.dir, "shm") : "",
    hostNetwork: p?.hostNetwork ?? pod.record.netnsPath === "",
    hostIpc: p?.hostIpc ?? false,
    sharedPid: p?.sharedPid ?? false,
  };
}

async function readSpec(bundle: string): Promise<OciSpec> {
  let text: string;
  try {
    text = await readFile(join(bundle, "config.json"), "utf8");
  } catch (err) {
    throw new RuntimeError(Code.InvalidArgument, `bundle ${bundle}: cannot read config.json: ${(err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text) as OciSpec;
  } catch (err) {
    throw new RuntimeError(Code.InvalidArgument, `bundle ${bundle}: config.json: ${(err as Error).message}`, { cause: err });
  }
}

/** The pod of a container: containerd 2.x writes `<bundle>/sandbox`; CRI also annotates the spec. */
async function sandboxIdOf(bundle: string, spec: OciSpec): Promise<string> {
  const fromFile = await readFile(join(bundle, "sandbox"), "utf8").then(
    (s) => s.trim(),
    () => "",
  );
  const id = fromFile || spec.annotations?.[SANDBOX_ID_ANNOTATION] || "";
  if (!id) throw new RuntimeError(Code.FailedPrecondition, `bundle ${bundle}: no sandbox id (no sandbox file, no ${SANDBOX_ID_ANNOTATION} annotation)`);
  return validateId("sandbox", id);
}

function runcEnv(): string[] {
  return [`PATH=${process.env["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}`];
}

function readRuncLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "runc failed without a log";
  }
}

/** A stderr FIFO containerd opened for a terminal process: open and close it so the reader sees EOF. */
function closeUnusedFifo(path: string): void {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    /* no reader, or not a FIFO */
  }
}

/** Where the exec process files (spec, pid, runc log) of a container live. */
function execDir(c: Container): string {
  return join(c.pod.dir, "exec", c.id);
}

/** cgroup dir holding the memory numbers of `pid` (v1 memory controller, or the v2 group). */
function memoryCgroupOf(pid: number): string {
  try {
    const m = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, "utf8"));
    const v1 = m.find((x) => x.controllers.includes("memory"));
    if (v1) return join(CGROUP_ROOT, "memory", v1.path);
    const v2 = m.find((x) => x.hierarchy === 0);
    return v2 ? join(CGROUP_ROOT, v2.path) : "";
  } catch {
    return "";
  }
}

/** Whether the kernel OOM-killed something in this cgroup (v1 memory.oom_control, v2 memory.events). */
function wasOomKilled(dir: string): boolean {
  if (!dir) return false;
  for (const f of ["memory.oom_control", "memory.events"]) {
    try {
      const m = /oom_kill (\d+)/.exec(readFileSync(join(dir, f), "utf8"));
      if (m && Number(m[1]) > 0) return true;
    } catch {
      /* gone or not this version */
    }
  }
  return false;
}
