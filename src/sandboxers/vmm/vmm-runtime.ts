import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { Code } from "../../errors/code.js";
import { RuntimeError, isErrorCode } from "../../errors/runtime-error.js";
import { writeFileAtomic } from "../../fs/atomic-write.js";
import { holderErrno } from "../../holder/holder-client.js";
import { STREAM } from "../../holder/holder-protocol.js";
import type { CgroupStats, CreateTaskSpec, Stdio } from "../../task/task-backend.js";
import type { Container } from "../../pod/container.js";
import type { ContainerOps, ContainerRuntime, InitLaunch, LaunchedInit } from "../../pod/container-runtime.js";
import type { ProcessRecord } from "../../pod/records.js";
import type { OciProcess } from "../../pod/oci-spec.js";
import type { Pod } from "../../pod/pod.js";
import { unmountBelow } from "../../pod/rootfs.js";
import { requireHolder } from "../../pod/pod-tasks.js";
import { waitLauncherExit } from "../../pod/wait-exit.js";
import { cliError } from "../../oci-runtime/cli-command.js";
import { execFifoPath, initAlreadyDead } from "../../oci-runtime/exec-fifo.js";
import { GUEST_CONSOLE_DIR, GUEST_RUNC_ROOT, toGuest, vmPaths, type VmPaths } from "./guest-paths.js";
import { GuestRunc, notRunning } from "./guest-runc.js";
import type { GuestOciRuntime } from "./guest-oci-runtime.js";
import { GUEST_CGROUP_GONE, guestCgroupStatsArgv, parseGuestCgroupDump } from "./guest-cgroup-stats.js";
import { guestContainerSpec } from "./guest-spec.js";
import { bindInto } from "./share-binds.js";
import { StdioRelay } from "./stdio-relay.js";
import { noOutputKeeper, type OutputKeeper } from "../../task/output-keeper.js";
import { takeHeldOutput } from "./vm-boot.js";
import { containerOfOomWatcher, OomRecordCounter, startOomWatcher } from "./guest-oom-watch.js";
import { runInGuest } from "./guest-runner.js";
import type { ExecOutcome } from "../../process/run-captured.js";
import { readTextOr } from "../../fs/read-text.js";

const run = promisify(execFile);
/** An init's exit status when SIGKILL ended it. */
const SIGKILL_STATUS = 128 + 9;
/**
 * How long an unasked-for SIGKILL exit waits for the container's OOM record: the kernel
 * notifies a cgroup file's change at most every 10 ms, then the watcher prints and the agent
 * relays it (tens of ms under TCG).
 */
const OOM_RECORD_GRACE_MS = 250;

/** How long `runc create`/`runc exec` may take in the guest, in ms (emulated guests are slow). */
const GUEST_LAUNCH_TIMEOUT_MS = 120_000;

/**
 * How containers run in VM pods, driven from the host: container filesystems are
 * bind-mounted into the pod's shared directory (virtio-fs), runc runs inside the
 * guest through the agent, stdio is streamed over the agent channel.
 */
export class VmmRuntime implements ContainerRuntime {
  /** Why Checkpoint, and a Create with a checkpoint, are Unimplemented. */
  readonly checkpointUnsupported = "checkpoint and restore are not supported by the vmm sandboxer (a container in a VM guest cannot be saved on its own); the gvisor sandboxer supports them";

  readonly holderSetsPodSysctls = true;
  readonly holderMountsRootfs = false;
  /** Partial output of the containers' OOM watchers, by container id. */
  private readonly oomCounters = new Map<string, OomRecordCounter>();
  /** Containers whose init exited by a SIGKILL unasked for, waiting for their watcher's word: its OOM record ends the wait. */
  private readonly oomWaiters = new Map<string, () => void>();
  /** OOM watchers whose agent spawn is not answered yet. */
  private readonly watcherStarts = new Map<string, Promise<void>>();
  /** Containers sent a SIGKILL through this runtime: their 137 is not the OOM killer's. */
  private readonly killsSent = new Set<string>();
  /** Live stdio relays by agent spawn id, per pod. */
  private readonly relays = new Map<Pod, Map<string, StdioRelay>>();

  constructor(
    private readonly ops: ContainerOps,
    /** The sandboxer's state dir (socket paths derive from it). */
    private readonly stateDir: string,
    /** Holds output FIFOs open while kuasard restarts. */
    private readonly keeper: OutputKeeper = noOutputKeeper,
  ) {}

  paths(pod: Pod): VmPaths {
    return vmPaths(this.stateDir, pod.dir, pod.id);
  }

  private runc(pod: Pod): GuestRunc {
    return new GuestRunc(pod, this.paths(pod), guestRuntime(pod));
  }

  /** Host directory of a container inside the pod's share. */
  private containerDir(pod: Pod, id: string): string {
    return join(this.paths(pod).shared, "c", id);
  }

  /** Routes the agent's output events of `pod` to the relays (called on every (re)attach). */
  attachStreams(pod: Pod): void {
    const agent = pod.client;
    if (!agent) return;
    const relay = (id: string) => this.relays.get(pod)?.get(id);
    for (const e of takeHeldOutput(agent)) {
      if (e.data) relay(e.id)?.output(e.fd, e.data);
      else relay(e.id)?.eof(e.fd);
    }
    agent.onOutput((id, fd, data) => {
      const oomOf = containerOfOomWatcher(id);
      if (oomOf !== undefined) this.oomRecords(oomOf, data);
      else relay(id)?.output(fd, data);
    });
    agent.onEof((id, fd) => relay(id)?.eof(fd));
  }

  /** A container's OOM watcher printed: each OOM record is a /tasks/oom. */
  private oomRecords(containerId: string, data: Buffer): void {
    let counter = this.oomCounters.get(containerId);
    if (!counter) this.oomCounters.set(containerId, (counter = new OomRecordCounter()));
    const kills = counter.push(data);
    if (kills === 0) return;
    this.ops.oomKilledLive(containerId, kills);
    this.oomWaiters.get(containerId)?.();
  }

  /**
   * Starts the OOM watcher of a container that runs now, without holding up its Start: the
   * watcher's first run in a guest is a fresh program for the guest's kernel (under TCG, tens
   * of ms translated afresh in a VM restored from a template). Its pid is recorded when the
   * agent answers; the init's exit waits for that (see {@link initExiting}). A watcher that
   * cannot start costs only the live events.
   */
  async initRunning(c: Container): Promise<void> {
    const agent = c.pod.client;
    if (!agent || c.record.init.state !== "running") return;
    const log = this.ops.log.child({ sandbox_id: c.pod.id, container_id: c.id });
    const started = startOomWatcher(agent, c.id, guestRuntime(c.pod), c.record.init.pid).then(
      (pid) => {
        if (c.pod.client !== agent) {
          agent.kill(pid, 9).catch(() => {}); // the VM went (or the daemon reattached): nothing to watch with it
          return;
        }
        c.record.oomWatcherPid = pid;
        c.record.oomKills ??= 0;
        try {
          this.ops.save(c);
        } catch (err) {
          log.warn({ err }, "OOM watcher's pid not saved: a restarted daemon leaves it to end with the container's cgroup");
        }
      },
      (err: unknown) => log.warn({ err }, "OOM watcher did not start: OOM kills are reported at exit only"),
    );
    this.watcherStarts.set(c.id, started);
    void started.then(() => {
      if (this.watcherStarts.get(c.id) === started) this.watcherStarts.delete(c.id);
    });
  }

  /**
   * The init exited: its OOM watcher ends, once started (a watcher reports the kills its
   * cgroup counted before it started). A SIGKILL nobody here asked for may be the guest
   * kernel's OOM kill, whose record the watcher prints only after the kernel's next cgroup
   * file notification (rate-limited), often after the agent reaped the init: the watcher gets
   * {@link OOM_RECORD_GRACE_MS} to tell, so the OOM event precedes the exit, as CRI expects.
   */
  async initExiting(c: Container, status: number): Promise<void> {
    await this.watcherStarts.get(c.id);
    const killedHere = this.killsSent.delete(c.id);
    // An OOM already reported for the container needs no wait (its event went out first).
    if (status === SIGKILL_STATUS && !killedHere && !c.pod.stopping && c.record.oomWatcherPid && !c.record.oomKills) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, OOM_RECORD_GRACE_MS);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.oomWaiters.set(c.id, done);
      });
      this.oomWaiters.delete(c.id);
    }
    await this.unwatchOom(c);
  }

  /** Ends a container's OOM watcher (its init exited, or it is removed). */
  private async unwatchOom(c: Container): Promise<void> {
    const pid = c.record.oomWatcherPid;
    if (!pid) return;
    delete c.record.oomWatcherPid;
    this.oomCounters.delete(c.id);
    await c.pod.client?.kill(pid, 9).catch(() => {}); // gone with the VM, or already: nothing to end
  }

  /** Runs a command in the pod's guest (root-only troubleshooting: `kuasar-ctl exec`); the guest, not one container. */
  async debugExec(pod: Pod, _c: Container | undefined, argv: string[], timeoutMs: number): Promise<ExecOutcome> {
    if (!pod.client) throw new RuntimeError(Code.FailedPrecondition, `sandbox ${pod.id}: its guest agent is not connected`);
    // The agent executes argv[0] as a path; a bare name is looked up on the guest's PATH.
    const resolved = argv[0]!.startsWith("/") ? argv : ["/bin/env", ...argv];
    return runInGuest(pod, this.paths(pod), resolved, { timeoutMs });
  }

  checkCreate(spec: CreateTaskSpec): void {
    if (spec.checkpoint) throw new RuntimeError(Code.Unimplemented, this.checkpointUnsupported);
  }

  async launchInit(l: InitLaunch): Promise<LaunchedInit> {
    const { id, oci, pod, holder, stdio, spawnId, rootfs } = l;
    const paths = this.paths(pod);
    const dir = this.containerDir(pod, id);
    mkdirSync(join(dir, "rootfs"), { recursive: true, mode: 0o711 });
    const { spec, binds } = guestContainerSpec(oci, id, paths, { containerDir: dir, hostIpc: pod.record.pod?.hostIpc ?? false });
    await bindInto([{ source: rootfs, target: join(dir, "rootfs"), recursive: true }, ...binds]);
    writeFileAtomic(join(dir, "config.json"), JSON.stringify(spec), 0o644);
    const g = toGuest(paths, dir);
    const consoleSocket = stdio.terminal ? `${GUEST_CONSOLE_DIR}/${id}.sock` : undefined;
    const since = new Date();
    this.relay(pod, spawnId, stdio);
    const runcPid = await holder.spawn({
      id: spawnId,
      cwd: g,
      ...streamed(stdio),
      console: consoleSocket,
      argv: GuestRunc.createArgv(guestRuntime(pod), id, g, `${g}/init.pid`, `${g}/runc.log`, consoleSocket),
      env: ["PATH=/sbin:/bin"],
    });
    const done = await waitLauncherExit(pod, runcPid, since, GUEST_LAUNCH_TIMEOUT_MS, l.signal);
    if (done.status !== 0) throw cliError(guestRuntime(pod), "create", readTextOr(join(dir, "runc.log"), "runc failed without a log"));
    const pid = Number(readFileSync(join(dir, "init.pid"), "utf8").trim());
    await holder.adopt(id, pid);
    return { pid, memoryCgroup: "", fields: { guest_pid: pid } };
  }

  async undoLaunch(id: string, pod: Pod): Promise<void> {
    this.dropRelay(pod, `init:${id}`);
    if (pod.client) await this.runc(pod).delete(id, true).catch(() => {});
    await this.removeContainerDir(pod, id);
  }

  outputFlushed(c: Container, execId: string): Promise<void> | undefined {
    const p = c.process(execId);
    const relay = p ? this.relays.get(c.pod)?.get(p.spawnId) : undefined;
    if (!relay) return undefined;
    return relay.drained().then(() => this.dropRelay(c.pod, relay.spawnId));
  }

  oomKilled(): boolean {
    return false; // the guest's cgroups are not visible from the host
  }

  async killAll(c: Container): Promise<void> {
    this.killsSent.add(c.id);
    await this.runc(c.pod).kill(c.id, 9, true);
  }

  async startInit(c: Container, signal?: AbortSignal): Promise<void> {
    if (await this.startThroughGuestExecFifo(c, signal)) return;
    await this.runc(c.pod).start(c.id, signal);
  }

  /**
   * crun's start without running crun: the agent writes the created container's exec fifo
   * (`fifostart`), as kuasard does on the host (exec-fifo-start.ts). Under TCG a restored guest
   * translates crun afresh for each program start, about 300 ms of every container start. The
   * guest spec has no hooks (guest-spec.ts), so nothing `crun start` would run after its byte is
   * missed. False when the agent is older than the verb or there is no fifo (not in the created
   * state: `crun start` says why); runc's fifo runs the other way and keeps `runc start`.
   */
  private async startThroughGuestExecFifo(c: Container, signal: AbortSignal | undefined): Promise<boolean> {
    const agent = c.pod.client;
    if (!agent || guestRuntime(c.pod) !== "crun") return false;
    try {
      await agent.startExecFifo(execFifoPath(GUEST_RUNC_ROOT, c.id), { signal });
      return true;
    } catch (err) {
      if (isErrorCode(err, Code.Unimplemented) || isErrorCode(err, Code.NotFound)) {
        this.ops.log.child({ sandbox_id: c.pod.id, container_id: c.id }).info({ reason: (err as Error).message }, "container started by `crun start` in the guest");
        return false;
      }
      const errno = holderErrno(err);
      if (errno === "ENXIO" || errno === "EPIPE") throw initAlreadyDead("crun", c.id, err);
      throw err;
    }
  }

  /** `runc exec` in the guest through the agent, its stdio relayed. */
  async startExec(c: Container, execId: string, p: ProcessRecord): Promise<{ pid: number; startedAt: Date }> {
    const containerId = c.id;
    const pod = c.pod;
    const holder = requireHolder(pod);
    const paths = this.paths(pod);
    const dir = join(this.containerDir(pod, containerId), "exec");
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const base = join(dir, execId);
    writeFileSync(`${base}.json`, JSON.stringify({ ...(p.process as OciProcess), terminal: p.stdio.terminal }), { mode: 0o600 });
    const g = toGuest(paths, base);
    const consoleSocket = p.stdio.terminal ? `${GUEST_CONSOLE_DIR}/${containerId}.${execId}.sock` : undefined;
    const since = new Date();
    this.relay(pod, p.spawnId, p.stdio);
    let pid: number;
    try {
      const runcPid = await holder.spawn({
        id: p.spawnId,
        cwd: "/",
        ...streamed(p.stdio),
        console: consoleSocket,
        argv: GuestRunc.execArgv(guestRuntime(pod), containerId, `${g}.json`, `${g}.pid`, `${g}.log`, consoleSocket),
        env: ["PATH=/sbin:/bin"],
      });
      const done = await waitLauncherExit(pod, runcPid, since, GUEST_LAUNCH_TIMEOUT_MS, undefined);
      if (done.status !== 0) {
        const err = cliError(guestRuntime(pod), "exec", readTextOr(`${base}.log`, "runc failed without a log"));
        throw err.code === Code.Unknown ? new RuntimeError(Code.FailedPrecondition, err.message, { cause: err }) : err;
      }
      pid = Number(readFileSync(`${base}.pid`, "utf8").trim());
      await holder.adopt(p.spawnId, pid);
    } catch (err) {
      this.dropRelay(pod, p.spawnId);
      this.ops.markExited(c, execId, 255, new Date());
      throw err;
    }
    return { pid, startedAt: since };
  }

  async signalInit(c: Container, signal: number, all: boolean): Promise<void> {
    if (signal === 9) this.killsSent.add(c.id);
    await this.runc(c.pod).kill(c.id, signal, all);
  }

  removeExecFiles(c: Container, execId: string): void {
    this.dropRelay(c.pod, `exec:${c.id}:${execId}`);
    for (const ext of ["json", "pid", "log"]) rmSync(join(this.containerDir(c.pod, c.id), "exec", `${execId}.${ext}`), { force: true });
  }

  /** Removes a container's guest state (if the guest runs), its relays and share mounts. */
  async remove(c: Container): Promise<void> {
    this.killsSent.delete(c.id);
    await this.watcherStarts.get(c.id);
    if (c.pod.record.state === "ready") await this.unwatchOom(c);
    this.oomCounters.delete(c.id);
    for (const p of [c.record.init, ...Object.values(c.record.execs)]) this.dropRelay(c.pod, p.spawnId);
    if (c.pod.client && c.pod.record.state === "ready") {
      await this.runc(c.pod).delete(c.id, true).catch((err: unknown) => {
        if (!isErrorCode(err, Code.NotFound)) this.ops.log.warn({ err, container_id: c.id }, "runc delete in the guest failed");
      });
    }
    await this.removeContainerDir(c.pod, c.id);
  }

  ps(c: Container): Promise<number[]> {
    return this.runc(c.pod).ps(c.id);
  }

  async freeze(c: Container): Promise<void> {
    await this.runc(c.pod).pause(c.id);
  }

  async thaw(c: Container): Promise<void> {
    await this.runc(c.pod).resume(c.id);
  }

  async update(c: Container, resources: unknown): Promise<void> {
    await this.runc(c.pod).update(c.id, resources);
  }

  async stats(c: Container): Promise<CgroupStats> {
    if (guestRuntime(c.pod) === "runc") return this.runc(c.pod).stats(c.id);
    const pid = c.record.init.pid;
    if (!pid || c.record.init.state === "stopped") throw notRunning(c.id);
    const r = await runInGuest(c.pod, this.paths(c.pod), guestCgroupStatsArgv(pid), { timeoutMs: 60_000 });
    if (r.status === GUEST_CGROUP_GONE) throw notRunning(c.id);
    if (r.status !== 0) throw new RuntimeError(Code.Internal, `reading the cgroup of ${c.id} in the guest: exit ${r.status}: ${r.stderr.trim()}`);
    return parseGuestCgroupDump(r.stdout);
  }

  /** Re-opens the stdio relays of a recovered container's live processes. */
  adopted(c: Container): void {
    for (const p of [c.record.init, ...Object.values(c.record.execs)]) {
      if (p.state === "running" || p.state === "paused" || p.state === "created") this.relay(c.pod, p.spawnId, p.stdio);
    }
  }

  /** Drops a pod's relays: its VM is gone (`release`), or the daemon is closing (outputs stay held). */
  dropPod(pod: Pod, release = true): void {
    for (const r of this.relays.get(pod)?.values() ?? []) r.close(release);
    this.relays.delete(pod);
  }

  /**
   * After recovery: lets the keeper go of every output no live process writes (a process
   * that exited while kuasard was away, a pod removed meanwhile), so containerd sees its end.
   */
  async releaseOrphanOutputs(): Promise<void> {
    const live = new Set([...this.relays.values()].flatMap((m) => [...m.values()].flatMap((r) => r.outputPaths())));
    for (const path of await this.keeper.held()) {
      if (!live.has(path) && path.startsWith("/")) await this.keeper.release(path).catch(() => {});
    }
  }

  private relay(pod: Pod, spawnId: string, stdio: Stdio): void {
    let m = this.relays.get(pod);
    if (!m) this.relays.set(pod, (m = new Map()));
    m.get(spawnId)?.close();
    const r = new StdioRelay(spawnId, stdio, () => pod.client, this.ops.log.child({ sandbox_id: pod.id, spawn_id: spawnId }), this.keeper);
    m.set(spawnId, r);
    r.start();
  }

  private dropRelay(pod: Pod, spawnId: string): void {
    const m = this.relays.get(pod);
    m?.get(spawnId)?.close();
    m?.delete(spawnId);
  }

  private async removeContainerDir(pod: Pod, id: string): Promise<void> {
    const dir = this.containerDir(pod, id);
    if (!existsSync(dir)) return;
    await unmountBelow(dir);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The OCI runtime of a VM pod's guest, as its setup found it (vm-host.ts); runc for pods recorded before crun. */
function guestRuntime(pod: Pod): GuestOciRuntime {
  return (pod.record as { vm?: { ociRuntime?: GuestOciRuntime } }).vm?.ociRuntime ?? "runc";
}

/** Stdio fields of an agent spawn: what containerd asked for is streamed, the rest is /dev/null. */
function streamed(stdio: Stdio): { stdin: string; stdout: string; stderr: string } {
  return { stdin: stdio.stdin ? STREAM : "", stdout: stdio.stdout ? STREAM : "", stderr: stdio.stderr && !stdio.terminal ? STREAM : "" };
}


