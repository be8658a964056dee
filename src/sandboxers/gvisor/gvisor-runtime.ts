import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { runCaptured, type ExecOutcome } from "../../process/run-captured.js";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { holderLaunchEnv } from "../../oci-runtime/cli-command.js";
import { Code } from "../../errors/code.js";
import { RuntimeError, isErrorCode } from "../../errors/runtime-error.js";
import { writeFileAtomic } from "../../fs/atomic-write.js";
import type { HolderExit } from "../../holder/holder-protocol.js";
import type { Container } from "../../pod/container.js";
import { podContext } from "../../pod/pod-context.js";
import type { ContainerOps, ContainerRuntime, InitLaunch, LaunchedInit } from "../../pod/container-runtime.js";
import { requireHolder } from "../../pod/pod-tasks.js";
import { isAlive, type Pod, waitGone } from "../../pod/pod.js";
import type { ProcessRecord } from "../../pod/records.js";
import { closeUnusedFifo } from "../../pod/stdio.js";
import { execDir, spawnExec, writeExecProcess } from "../../pod/exec-files.js";
import { waitExit, waitLauncherExit } from "../../pod/wait-exit.js";
import type { CgroupStats, CheckpointSpec } from "../../task/task-backend.js";
import { checkCheckpointImage, writeCheckpointLabel } from "./checkpoint-image.js";
import { applyPodResources, removePodCgroup } from "../../cgroup/pod-cgroup.js";
import { podResourcesOfLinux } from "../../sandbox/sandbox-update.js";
import type { PodResources } from "../../sandbox/sandboxer.js";
import { withHostNetSysctlsHidden } from "./net-sysctl-mask.js";
import { runscError, type RunscCli, type RunscNetwork, type RunscTarget } from "./runsc-cli.js";
import type { RunscSetup } from "./runsc-probe.js";
import { SandboxExitWaiter } from "./sandbox-exit-waiter.js";
import { SandboxOomTracker } from "./sandbox-oom.js";
import { memoryCgroupOf } from "../../cgroup/oom.js";
import { sandboxResourcesFor } from "./sandbox-resources.js";
import { prepareGvisorSpec, rootContainerSpec, PAUSE_PATH } from "./sandbox-spec.js";
import { parseWaitResult } from "./wait-result.js";
import { waitForPath } from "../../fs/wait-for-path.js";
import { readTextOr } from "../../fs/read-text.js";

/** How long a runsc create/start/exec launch may take, in ms. */
const LAUNCH_TIMEOUT_MS = 60_000;
/** How long `runsc checkpoint` may take (it writes the sandbox's memory), in ms. */
const CHECKPOINT_TIMEOUT_MS = 120_000;
/** How long Stop waits for killed containers' exits before it ends the sandbox, in ms. */
const KILL_DRAIN_MS = 3_000;
/** Holder key of the sandbox process (adopted so its death is journaled under a name). */
const SANDBOX_KEY = "gvisor-sandbox";

/** How a pod's container exits are learnt: from the sandbox's control socket, or from a `runsc wait` per container (runsc before 2023). */
type ExitSource = "control-socket" | "runsc-wait";

/** What a pod's sandbox was started with (`gvisor/runsc.json`): later commands use the same. */
interface PodRunsc {
  platform: string;
  network: RunscNetwork;
  exits: ExitSource;
  /** The image the root container booted from ("" or absent: an empty rootfs served by a gofer). */
  rootImage?: string;
}

/**
 * How gvisor containers run. Each pod is one runsc sandbox, started at
 * Sandbox Start by a root container running a pause program; every container
 * of the pod joins it. runsc commands that leave something running are launched
 * by the pod's holder: the sandbox and each exec's attached `runsc exec`.
 * Container exits come from the sandbox itself: a Wait call per running
 * container on its control socket, held by kuasard (no process; asked again
 * after a restart, the sandbox keeps the status until the container is
 * deleted). A runsc that keeps that socket out of reach (2022 builds: abstract,
 * in the pod's network namespace) gets a `runsc wait` per container from the
 * holder instead, its output kept in a file and its exit journaled.
 */
export class GvisorRuntime implements ContainerRuntime {
  /** Pods whose sandbox death must stop them (ready, not stopping). */
  private readonly watched = new Set<string>();
  /** What each pod's sandbox runs with, by pod id (read from its file once). */
  private readonly podRunsc = new Map<string, PodRunsc>();
  private readonly exits: SandboxExitWaiter;
  /** OOM kills in the pods' cgroups, given to the container whose end they caused. */
  private readonly oom: SandboxOomTracker;

  /** The holder's namespaces are not where a gVisor pod's sysctls live: its sandbox kernel is. */
  readonly holderSetsPodSysctls = false;
  readonly holderMountsRootfs = true;

  /**
   * runsc does not apply OCI `linux.sysctl`, and gVisor's kernel has no writable
   * namespaced sysctl (its IPC limits are fixed, its network ones read-only in the
   * sandbox): a pod asking for one is refused rather than started without it.
   */
  checkPodSysctls(sysctls: Readonly<Record<string, string>>): void {
    const keys = Object.keys(sysctls).sort();
    if (keys.length === 0) return;
    throw new RuntimeError(
      Code.InvalidArgument,
      `sysctls: the gvisor sandboxer cannot set ${keys.map((k) => JSON.stringify(k)).join(", ")}: gVisor's kernel has no settable namespaced sysctl (runsc ignores linux.sysctl); use the runc or vmm handler`,
    );
  }

  constructor(
    private readonly ops: ContainerOps,
    private readonly runsc: RunscCli,
    private readonly pauseBinary: string,
    /** Runs a terminal exec's `runsc exec` on a new pseudoterminal whose master goes to the holder. */
    private readonly ptyExecBinary: string,
    /** The platform and network probed at daemon start. */
    private readonly setup: Promise<RunscSetup>,
  ) {
    this.exits = new SandboxExitWaiter(ops.log);
    this.oom = new SandboxOomTracker(ops.log);
    setup.then((r) => (this.probed = r), () => {});
  }

  /** The probe's result once it is in. */
  private probed: RunscSetup | undefined;

  // ---- the pod's sandbox ----------------------------------------------------

  /** Creates and starts the root container: the gVisor sandbox of the pod, in its network namespace. */
  async podStarted(pod: Pod, signal?: AbortSignal): Promise<void> {
    const setup = await this.setup;
    const holder = requireHolder(pod);
    const dir = sandboxDir(pod);
    const rootfs = join(dir, "rootfs");
    await mkdir(rootfs, { recursive: true, mode: 0o755 });
    if (!setup.rootImage) writeFileSync(join(rootfs, PAUSE_PATH), "", { mode: 0o755 }); // the bind mount's target
    const hostNetwork = isHostNetwork(pod);
    // A standalone container that asked for a network namespace of its own gets one with
    // only loopback (runsc makes it); 2022 builds keep the host's: their commands reach the
    // sandbox over an abstract socket in its network namespace.
    const loopbackOnly = hostNetwork && pod.record.standalone === true && pod.record.ownNetwork === true && setup.features.directfs;
    const spec = rootContainerSpec({
      sandboxId: rootId(pod),
      rootfs,
      pauseBinary: this.pauseBinary,
      rootImage: setup.rootImage,
      hostname: readFileSync(join(pod.dir, "hostname"), "utf8").trim(), // the pod's, or the host's for a host-network pod
      netnsPath: hostNetwork ? "" : pod.record.netnsPath,
      cgroupsPath: pod.record.cgroupPath,
    });
    writeFileAtomic(join(dir, "config.json"), JSON.stringify(spec), 0o644);
    const chosen: PodRunsc = { platform: setup.platform, network: loopbackOnly ? "none" : hostNetwork ? "host" : setup.network, exits: "runsc-wait", rootImage: setup.rootImage };
    this.savePodRunsc(pod, chosen);
    const target = this.target(pod);
    const log = join(dir, "runsc.log");
    const pidFile = join(dir, "sandbox.pid");
    // One `runsc run` (create and start): the sandbox, born the holder's descendant, is adopted
    // once it runs. Its start sets up gVisor's network stack, so with the netstack the whole
    // command runs behind the mask (net-sysctl-mask.ts): the sandbox and the root gofer are
    // born in that private mount namespace, and both leave it for a root of their own before
    // they serve anything (a restore keeps create then restore: see prepareRestore).
    const run = this.runsc.runArgv(target, rootId(pod), dir, pidFile);
    await this.runThroughHolder(pod, "gvisor-run", target.network === "sandbox" ? withHostNetSysctlsHidden(run) : run, "run", log, signal);
    const sandboxPid = Number(readFileSync(pidFile, "utf8").trim());
    await holder.adopt(SANDBOX_KEY, sandboxPid);
    if (existsSync(this.runsc.controlSocket(target, rootId(pod)))) this.savePodRunsc(pod, { ...chosen, exits: "control-socket" });
    this.watched.add(pod.id);
    this.oom.watchPod(pod.id, memoryCgroupOf(sandboxPid));
    pod.log.info({ runsc_sandbox_pid: sandboxPid, ...this.podRunscOf(pod) }, "gVisor sandbox started");
  }

  /** Kills the pod's containers (their exits come from their waiters), then the sandbox. */
  async podStopping(pod: Pod): Promise<void> {
    await this.endSandbox(pod, KILL_DRAIN_MS);
  }

  /**
   * The holder died: the runsc sandbox (and its gofer, the containers' waiters and
   * execs) runs on, orphaned; it is torn down the same way, without waiting for
   * exits nobody will report any more.
   */
  async podLost(pod: Pod): Promise<void> {
    await this.endSandbox(pod, 0);
    const pid = this.sandboxPid(pod);
    if (isAlive(pid)) pod.log.error({ runsc_sandbox_pid: pid }, "the gVisor sandbox of a pod whose holder died outlived runsc delete --force");
  }

  /** Kills every container, gives their exits `drainMs` to come in, then deletes the sandbox and waits for its process to go. */
  private async endSandbox(pod: Pod, drainMs: number): Promise<void> {
    this.watched.delete(pod.id);
    this.oom.unwatchPod(pod.id);
    const target = this.target(pod);
    // Containers created at Start that never started are not in runsc: nothing to kill.
    const live = this.ops.containersOf(pod).filter((c) => c.record.init.state !== "stopped" && inRunsc(pod, c.id));
    await Promise.all(live.map((c) => this.runsc.kill(target, c.id, 9, true).catch(() => {})));
    if (drainMs > 0) {
      const deadline = AbortSignal.timeout(drainMs);
      await Promise.all(live.filter((c) => c.record.init.pid > 0).map((c) => c.waitFor("", deadline).catch(() => {})));
    }
    await this.runsc.delete(target, rootId(pod), true).catch((err: unknown) => {
      if (!isErrorCode(err, Code.NotFound)) pod.log.warn({ err }, "runsc delete of the sandbox failed");
    });
    const pid = this.sandboxPid(pod);
    await waitGone(pid, 5000);
  }

  /** A recovered container that still runs is waited for again (the sandbox kept its status if it ended meanwhile). */
  adopted(c: Container): void {
    if (c.record.init.pid > 0 && (c.record.init.state === "running" || c.record.init.state === "paused")) this.waitForExit(c);
  }

  /** After a daemon restart: a sandbox that died meanwhile stops its pod; a live one is watched again. */
  async podRecovered(pod: Pod): Promise<void> {
    const pid = this.sandboxPid(pod);
    const exit = pid > 0 ? pod.exitOf(pid, undefined) : undefined;
    if (pid <= 0 || exit || !isAlive(pid)) {
      pod.sandboxDied(exit?.status ?? 255);
      return;
    }
    this.watched.add(pod.id);
    this.oom.watchPod(pod.id, memoryCgroupOf(pid));
  }

  /** What the pod's sandbox runs with, and why (the start-time probe's reasons, when the pod took its choice). */
  podInfo(pod: Pod): Record<string, string> {
    if (!existsSync(join(sandboxDir(pod), "runsc.json"))) return {};
    const r = this.podRunscOf(pod);
    const s = this.probed;
    return {
      runsc_platform: r.platform,
      runsc_platform_reason: s && s.platform === r.platform ? s.platformReason : "chosen by an earlier daemon",
      runsc_network: r.network,
      runsc_network_reason:
        r.network === "none" && pod.record.ownNetwork ? "a container without a pod, with a network namespace of its own: loopback only" : isHostNetwork(pod) ? "host-network pod" : s && s.network === r.network ? s.networkReason : "chosen by an earlier daemon",
      runsc_exits: r.exits,
      runsc_root: r.rootImage ? `image ${r.rootImage}, no gofer` : "empty directory served by a gofer",
    };
  }

  async podStats(pod: Pod): Promise<CgroupStats> {
    return this.runsc.stats(this.target(pod), rootId(pod));
  }

  /**
   * Exits of the sandbox process end the pod (every container's recorded pid
   * is the sandbox's when their exits come from its control socket); a
   * `runsc wait`'s exit carries its container's status in a file.
   */
  exitReported(pod: Pod, e: HolderExit, process: { container: Container; execId: string } | undefined): HolderExit | undefined {
    if (e.pid === this.sandboxPid(pod)) {
      const kills = this.oom.sandboxEnded(pod.id);
      if (this.watched.delete(pod.id)) this.sandboxEnded(pod, e.status, kills);
      return undefined;
    }
    const c = process && !process.execId ? process.container : undefined;
    if (!c || c.pod !== pod) return e;
    const status = parseWaitResult(readTextOr(waitFile(c)));
    const kills = this.oom.claim(pod.id, c.id, status);
    if (kills > 0) this.ops.oomKilledLive(c.id, kills);
    return { ...e, status: kills > 0 ? 137 : status };
  }

  /**
   * The pod's sandbox process ended under a ready pod. SIGKILLed right after an OOM
   * kill in its cgroup, it was the kernel's choice of victim: each container still in
   * it was OOM-killed with it (an OOM event, then 137), as on the host. Otherwise its
   * containers end with an unknown status.
   */
  private sandboxEnded(pod: Pod, status: number, kills: number): void {
    if (kills === 0 || status !== 137) return pod.sandboxDied(status);
    const live = this.ops.containersOf(pod).filter((c) => c.record.init.state === "running" || c.record.init.state === "paused");
    for (const c of live) this.ops.oomKilledLive(c.id, kills);
    pod.log.warn({ kills, containers: live.map((c) => c.id) }, "the kernel OOM-killed the gVisor sandbox itself: its containers are reported OOM-killed (137)");
    pod.sandboxDied(status, 137);
  }

  // ---- containers -------------------------------------------------------------

  /** `runsc wait` prints the container's status; the journal holds the waiter's own exit. */
  waiterResultFile(c: Container): string {
    return waitFile(c);
  }

  async killAll(c: Container): Promise<void> {
    await this.runsc.kill(this.target(c.pod), c.id, 9, true);
  }

  oomKilled(): boolean {
    return false; // the sandbox's cgroup is every container's: its kills are matched to a container at its end (SandboxOomTracker)
  }

  /** A Create with a checkpoint is checked in {@link launchInit}, which knows the pod. */
  checkCreate(): void {}

  /**
   * `runsc checkpoint` of the container's sandbox. gVisor saves the whole sandbox
   * (its kernel, every container in it), so only a pod running this one container
   * can be saved as this container, and only on gVisor's own network stack (runsc
   * refuses host networking). It runs on unless `spec.exit`; then the sandbox ends
   * and with it the pod.
   */
  async checkpoint(c: Container, spec: CheckpointSpec, signal?: AbortSignal): Promise<void> {
    const pod = c.pod;
    this.checkSaveable(pod, c.id, "checkpointed");
    const others = this.ops.containersOf(pod).filter((o) => o.id !== c.id);
    if (others.length > 0) {
      throw new RuntimeError(Code.FailedPrecondition, `container ${c.id}: gVisor saves its whole sandbox, which also holds ${others.map((o) => o.id).join(", ")}: only a container alone in its pod can be checkpointed`);
    }
    await mkdir(spec.path, { recursive: true, mode: 0o700 });
    await this.runsc.checkpoint(this.target(pod), c.id, spec.path, !spec.exit, CHECKPOINT_TIMEOUT_MS, signal);
    writeCheckpointLabel(spec.path, { kind: "gvisor", network: this.podRunscOf(pod).network });
    if (spec.exit) this.ops.log.info({ sandbox_id: pod.id, container_id: c.id }, "the checkpointed sandbox ends (exit requested)");
  }

  /** What a pod's sandbox must be for runsc to save or restore it. */
  private checkSaveable(pod: Pod, id: string, what: string): void {
    const r = this.podRunscOf(pod);
    if (r.exits !== "control-socket") throw new RuntimeError(Code.FailedPrecondition, `container ${id}: its sandbox runs a runsc before 2023, which cannot restore a sandbox of several containers; it cannot be ${what}`);
    if (r.network === "host") throw new RuntimeError(Code.FailedPrecondition, `container ${id}: its gVisor sandbox uses the host's network (runsc --network=host), which gVisor cannot save; it cannot be ${what}`);
  }

  /**
   * The container's bundle, and with a terminal `runsc create` through the holder
   * (runsc hands the console to the holder now). Without one the container is
   * created and started in the sandbox at Start, by one `runsc run` (a container
   * restored from a checkpoint is created now: its restore needs it). The init's host
   * process (its waiter) exists from Start on: pid 0 until then.
   */
  async launchInit(l: InitLaunch): Promise<LaunchedInit> {
    const { id, spec, oci, pod, holder, stdio, spawnId, log } = l;
    if (spec.checkpoint) await this.prepareRestore(id, pod, spec.checkpoint, l.signal);
    const prepared = prepareGvisorSpec(oci, rootId(pod), pod.record.standalone ? undefined : podContext(pod), this.ops.minOomScoreAdj);
    writeFileAtomic(join(spec.bundle, "config.json"), JSON.stringify(prepared), 0o644);
    const target = this.target(pod);
    const runscLog = join(spec.bundle, "runsc.log");
    if (stdio.terminal) {
      const consoleSocket = await this.ops.consoleSocketFor(spawnId);
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
      const done = await waitLauncherExit(pod, pid, startedAt, LAUNCH_TIMEOUT_MS, l.signal);
      if (done.status !== 0) throw runscError("create", `exit status ${done.status}`);
      if (spec.stdio.stderr) closeUnusedFifo(stdio.stderr);
    } else if (spec.checkpoint) {
      await this.runThroughHolder(pod, `create:${id}`, this.runsc.createArgv(target, id, spec.bundle), "create", runscLog);
    } else {
      // Created in the sandbox by Start's `runsc run`, which takes its stdio as `runsc start`
      // would: one runsc command (a Go program start and a state load) less per container.
      writeFileAtomic(createAtStartFile(pod, id), "", 0o600);
    }
    log.debug({ sandbox: rootId(pod), network: target.network, in_runsc: stdio.terminal || Boolean(spec.checkpoint) }, "container created for the pod's sandbox");
    writeFileAtomic(resourcesFile(pod, id), JSON.stringify(containerResources(oci.linux?.resources)), 0o600);
    if (pod.record.cgroupPath) this.applySandboxResources(pod, id); // not yet among the pod's containers
    return { pid: 0, memoryCgroup: "", fields: { runtime: "runsc" } };
  }

  /**
   * Before a container is created to be restored from `image`: runsc restores a saved
   * kernel only into a sandbox that has started nothing, so the pod's sandbox (which
   * ran only the pause program, and no container yet) is replaced by a new one whose
   * root container is restored from the image now; the container's own restore, at
   * Start, then loads the saved kernel (runsc waits for every container it saved).
   */
  private async prepareRestore(id: string, pod: Pod, image: string, signal: AbortSignal | undefined): Promise<void> {
    checkCheckpointImage(image);
    this.checkSaveable(pod, id, "restored");
    const others = this.ops.containersOf(pod);
    if (others.length > 0) {
      throw new RuntimeError(Code.FailedPrecondition, `container ${id}: a restore replaces the pod's whole gVisor sandbox, which already holds ${others.map((o) => o.id).join(", ")}: restore into a pod of its own`);
    }
    const dir = sandboxDir(pod);
    const target = this.target(pod);
    const log = join(dir, "runsc.log");
    const pidFile = join(dir, "sandbox.pid");
    this.watched.delete(pod.id); // the old sandbox's end is not the pod's
    try {
      const old = this.sandboxPid(pod);
      await this.runsc.delete(target, rootId(pod), true);
      await waitGone(old, 5000);
      await this.runThroughHolder(pod, "gvisor-create", this.runsc.createArgv(target, rootId(pod), dir, pidFile), "create", log, signal);
      const sandboxPid = Number(readFileSync(pidFile, "utf8").trim());
      await requireHolder(pod).adopt(SANDBOX_KEY, sandboxPid);
      const restore = this.runsc.restoreArgv(target, rootId(pod), image);
      await this.runThroughHolder(pod, "gvisor-restore", target.network === "sandbox" ? withHostNetSysctlsHidden(restore) : restore, "restore", log, signal);
      this.watched.add(pod.id);
      this.oom.watchPod(pod.id, memoryCgroupOf(sandboxPid));
      writeFileAtomic(restoreFile(pod, id), image, 0o600);
      pod.log.info({ runsc_sandbox_pid: sandboxPid, image }, "gVisor sandbox replaced to restore a checkpoint");
    } catch (err) {
      // The pod's sandbox is gone or half made: the pod ends, as when its sandbox dies.
      pod.log.error({ err }, "replacing the gVisor sandbox for a restore failed; the pod ends");
      await this.runsc.delete(target, rootId(pod), true).catch(() => {});
      pod.sandboxDied(255);
      throw err;
    }
  }

  async undoLaunch(id: string, pod: Pod): Promise<void> {
    rmSync(restoreFile(pod, id), { force: true });
    const created = forgetCreateAtStart(pod, id);
    if (existsSync(resourcesFile(pod, id))) {
      rmSync(resourcesFile(pod, id), { force: true });
      // The sandbox's bound goes back to what the pod's other containers ask for.
      if (pod.record.cgroupPath) {
        try {
          this.applySandboxResources(pod);
        } catch (err) {
          pod.log.warn({ err, container_id: id }, "restoring the sandbox's limits after a failed create failed");
        }
      }
    }
    if (created) await this.runsc.delete(this.target(pod), id, true);
  }

  /**
   * `runsc run` of a container created at Start, else `runsc start` (with the stdio, unless
   * a terminal has it), then the waiter that reports the exit.
   */
  async startInit(c: Container): Promise<void> {
    const p = c.record.init;
    const pod = c.pod;
    const holder = requireHolder(pod);
    const target = this.target(pod);
    const t = p.stdio.terminal;
    // A container created from a checkpoint starts by loading it.
    const image = readTextOr(restoreFile(pod, c.id));
    const atStart = !inRunsc(pod, c.id);
    const startedAt = new Date();
    const startPid = await holder.spawn({
      id: t ? `start:${c.id}` : p.spawnId,
      cwd: c.record.bundle,
      stdin: t ? "" : p.stdio.stdin,
      stdout: t ? "" : p.stdio.stdout,
      stderr: t ? "" : p.stdio.stderr,
      argv: image ? this.runsc.restoreArgv(target, c.id, image) : atStart ? this.runsc.runArgv(target, c.id, c.record.bundle) : this.runsc.startArgv(target, c.id),
      // The container's gofer inherits this command's environment. With directfs the sentry opens
      // the container's files itself and the gofer idles for the container's life: one Go
      // scheduler thread is enough, and keeps about 0.2 MB of its heap and a thread per pod off the host.
      env: [...holderLaunchEnv(), ...(!image && this.probed?.features.directfs ? ["GOMAXPROCS=1"] : [])],
    });
    const done = await waitExit(pod, startPid, startedAt, LAUNCH_TIMEOUT_MS);
    const command = image ? "restore" : atStart ? "run" : "start";
    if (done.status !== 0) throw new RuntimeError(Code.FailedPrecondition, `runsc ${command} ${c.id}: exit status ${done.status}${atStart ? ` (runsc's error is in the container's stderr)` : ""}`);
    if (image) rmSync(restoreFile(pod, c.id), { force: true });
    if (atStart) forgetCreateAtStart(pod, c.id);
    if (this.podRunscOf(pod).exits === "control-socket") {
      // The container has no host process of its own: it lives and dies with the sandbox process.
      this.ops.initLaunched(c, this.sandboxPid(pod), startedAt);
      this.waitForExit(c);
      return;
    }
    rmSync(waitFile(c), { force: true });
    const waiter = await holder.spawn({ id: `wait:${c.id}`, cwd: c.record.bundle, stdout: waitFile(c), argv: this.runsc.waitArgv(target, c.id), env: holderLaunchEnv() });
    this.ops.initLaunched(c, waiter, startedAt);
  }

  /** An attached `runsc exec` through the holder: it is the exec's host process and exits with its status. */
  async startExec(c: Container, execId: string, p: ProcessRecord): Promise<{ pid: number; startedAt: Date }> {
    const holder = requireHolder(c.pod);
    const base = await writeExecProcess(c, execId, p, this.ops.minOomScoreAdj);
    rmSync(`${base}.ipid`, { force: true });
    const consoleSocket = p.stdio.terminal ? await this.ops.consoleSocketFor(p.spawnId) : undefined;
    const startedAt = new Date();
    // runsc exec gives a terminal process its own stdio's terminal: the helper makes one and hands the holder its master.
    const argv = [...(consoleSocket ? [this.ptyExecBinary, consoleSocket] : []), ...this.runsc.execArgv(this.target(c.pod), c.id, `${base}.json`, `${base}.ipid`)];
    const pid = await spawnExec(holder, c, p, argv, consoleSocket);
    // Started once runsc wrote the in-sandbox pid (inotify wakes the wait); an exit before that is a failed launch.
    const exited = new AbortController();
    const off = c.pod.onExit((e) => e.pid === pid && e.exitedAt.getTime() >= startedAt.getTime() - c.pod.clockSkewMs && exited.abort(e));
    const early = c.pod.exitOf(pid, startedAt);
    if (early) exited.abort(early);
    try {
      await waitForPath(`${base}.ipid`, { timeoutMs: LAUNCH_TIMEOUT_MS, signal: exited.signal }).catch((err: unknown) => {
        if (existsSync(`${base}.ipid`)) return; // written just before it exited
        if (!exited.signal.aborted) throw new RuntimeError(Code.DeadlineExceeded, `runsc exec in ${c.id}: not started within ${LAUNCH_TIMEOUT_MS} ms`, { cause: err });
        const e = exited.signal.reason as HolderExit;
        this.ops.markExited(c, execId, e.status, e.exitedAt);
        throw new RuntimeError(Code.FailedPrecondition, `runsc exec in ${c.id} failed (exit status ${e.status}): see the exec's stderr`);
      });
    } finally {
      off();
    }
    if (p.stdio.terminal && p.stdio.stderr) closeUnusedFifo(p.stdio.stderr);
    return { pid, startedAt };
  }

  async signalInit(c: Container, signal: number, all: boolean): Promise<void> {
    if (c.record.init.state === "created") return this.killCreated(c, signal);
    await this.runsc.kill(this.target(c.pod), c.id, signal, all);
  }

  /** The attached runsc exec does not forward signals: the process inside the sandbox is signalled. */
  async signalExec(c: Container, p: ProcessRecord, signal: number): Promise<void> {
    const internal = Number(readTextOr(join(execDir(c), `${p.execId}.ipid`)).trim());
    if (internal > 0) await this.runsc.killProcess(this.target(c.pod), c.id, internal, signal);
    else await requireHolder(c.pod).kill(p.pid, signal);
  }

  /**
   * runsc cannot signal a container that was created but never started (nothing
   * runs in it yet): it is removed from the sandbox and ends now, as a process
   * killed by `signal` would.
   */
  private async killCreated(c: Container, signal: number): Promise<void> {
    if (inRunsc(c.pod, c.id)) await this.runsc.delete(this.target(c.pod), c.id, true);
    const now = new Date();
    this.ops.markExited(c, "", 128 + signal, now);
    this.ops.publish(c, { kind: "exit", containerId: c.id, id: c.id, pid: 0, exitStatus: 128 + signal, exitedAt: now });
  }

  /** Removes a container's runsc state and files (Delete, and a pod's Shutdown). */
  async remove(c: Container): Promise<void> {
    this.exits.stop(c.id);
    // A container that never started may not be in runsc at all (created at Start).
    if (forgetCreateAtStart(c.pod, c.id)) {
      await this.runsc.delete(this.target(c.pod), c.id, true).catch((err: unknown) => {
        if (!isErrorCode(err, Code.NotFound)) this.ops.log.warn({ err, container_id: c.id }, "runsc delete failed");
      });
    }
    rmSync(execDir(c), { recursive: true, force: true });
    rmSync(waitFile(c), { force: true });
    rmSync(resourcesFile(c.pod, c.id), { force: true });
    rmSync(restoreFile(c.pod, c.id), { force: true });
    // runsc makes a sub-container's cgroup from its spec's cgroupsPath and removes it only when it
    // can still reach the sandbox: a sandbox that died first (its holder killed) leaves it behind.
    const path = containerCgroupPath(c);
    if (path && !(await removePodCgroup(path))) this.ops.log.warn({ container_id: c.id, cgroup: path }, "the container's cgroup could not be removed");
  }

  /** Pids inside the sandbox (what `ps` in the container shows); none before it started. */
  async ps(c: Container): Promise<number[]> {
    if (c.record.init.state !== "running" && c.record.init.state !== "paused") return [];
    return this.runsc.ps(this.target(c.pod), c.id);
  }

  /** Execs by their in-sandbox pids (what runsc ps lists). */
  execOfPids(c: Container): Map<number, string> {
    const execOf = new Map<number, string>();
    for (const p of Object.values(c.record.execs)) {
      const internal = Number(readTextOr(join(execDir(c), `${p.execId}.ipid`)).trim());
      if (p.state === "running" && internal > 0) execOf.set(internal, p.execId);
    }
    return execOf;
  }

  async freeze(c: Container): Promise<void> {
    await this.runsc.pause(this.target(c.pod), c.id);
  }

  async thaw(c: Container): Promise<void> {
    await this.runsc.resume(this.target(c.pod), c.id);
  }

  removeExecFiles(c: Container, execId: string): void {
    for (const ext of ["json", "ipid"]) rmSync(join(execDir(c), `${execId}.${ext}`), { force: true });
  }

  /**
   * The container's new limits, bounded on the host where gVisor runs it: the
   * pod's sandbox process, in the pod cgroup, gets the sum of its containers'
   * limits (see sandbox-resources.ts). A pod without a cgroup (no
   * cgroup_parent) cannot be bounded: FailedPrecondition, nothing changed.
   */
  async update(c: Container, resources: unknown): Promise<void> {
    if (resources === undefined) return;
    const r = containerResources(resources);
    if (!c.pod.record.cgroupPath) throw new RuntimeError(Code.FailedPrecondition, `container ${c.id}: its gVisor pod has no cgroup (no cgroup_parent): its sandbox cannot be bounded on the host`);
    const file = resourcesFile(c.pod, c.id);
    const before = readTextOr(file);
    writeFileAtomic(file, JSON.stringify(r), 0o600);
    try {
      this.applySandboxResources(c.pod);
    } catch (err) {
      writeFileAtomic(file, before || JSON.stringify(containerResources(undefined)), 0o600);
      throw err;
    }
  }

  async stats(c: Container): Promise<CgroupStats> {
    if (c.record.init.state === "created") throw new RuntimeError(Code.NotFound, `container ${c.id} is not running`);
    return this.runsc.stats(this.target(c.pod), c.id);
  }

  // ---- helpers ----------------------------------------------------------------

  /** Waits for the container's exit on the pod sandbox's control socket; it then ends as any init does. */
  private waitForExit(c: Container): void {
    if (this.podRunscOf(c.pod).exits !== "control-socket") return;
    const socket = this.runsc.controlSocket(this.target(c.pod), rootId(c.pod));
    const running = () => c.record.init.state === "running" || c.record.init.state === "paused";
    this.exits.watch(socket, c.id, running, (status, at) => this.initEnded(c, status, at));
  }

  /**
   * A container's init ended, as its sandbox reports it. One that failed just after
   * the kernel OOM-killed a process of the pod's sandbox was killed for memory: its
   * OOM is published first and it ends as an OOM-killed process does on the host
   * (137), whatever status gVisor's kernel gave the process whose memory went.
   */
  private initEnded(c: Container, status: number, at: Date): void {
    const kills = this.oom.claim(c.pod.id, c.id, status);
    if (kills > 0) {
      this.ops.oomKilledLive(c.id, kills);
      this.ops.log.warn({ sandbox_id: c.pod.id, container_id: c.id, sandbox_status: status }, "the container's init ended after an OOM kill in its sandbox: reported as OOM-killed (137)");
    }
    this.ops.initExited(c, kills > 0 ? 137 : status, at);
  }

  /** Sets the pod cgroup (the sandbox's) to the sum of its containers' limits (and `creating`'s). */
  private applySandboxResources(pod: Pod, creating?: string): void {
    const live = this.ops.containersOf(pod).filter((c) => c.record.init.state !== "stopped").map((c) => c.id);
    const all = creating && !live.includes(creating) ? [...live, creating] : live;
    const limits = all.map((id) => JSON.parse(readTextOr(resourcesFile(pod, id)) || "null") as PodResources | null).filter((r): r is PodResources => r !== null);
    applyPodResources(pod.record.cgroupPath ?? "", sandboxResourcesFor(limits));
  }

  /** What the pod's sandbox runs with; pods started by a version that did not record it ran with the options of the time. */
  private podRunscOf(pod: Pod): PodRunsc {
    let r = this.podRunsc.get(pod.id);
    if (!r) {
      const text = readTextOr(join(sandboxDir(pod), "runsc.json"));
      const o = this.runsc.options;
      const legacy: PodRunsc = { platform: o.platform === "auto" ? "ptrace" : o.platform, network: isHostNetwork(pod) || o.network === "auto" ? "host" : o.network, exits: "runsc-wait" };
      r = text ? (JSON.parse(text) as PodRunsc) : legacy;
      this.podRunsc.set(pod.id, r);
    }
    return r;
  }

  private savePodRunsc(pod: Pod, r: PodRunsc): void {
    writeFileAtomic(join(sandboxDir(pod), "runsc.json"), JSON.stringify(r), 0o644);
    this.podRunsc.set(pod.id, r);
  }

  /** `runsc exec` into a container of the pod's gVisor sandbox (in the pod's network namespace, where runsc reaches it). */
  async debugExec(pod: Pod, c: Container | undefined, argv: string[], timeoutMs: number): Promise<ExecOutcome> {
    if (!c) throw new RuntimeError(Code.FailedPrecondition, `sandbox ${pod.id}: a gvisor pod runs only a pause program of its own; name a container (--container)`);
    const t = this.target(pod);
    const runsc = [this.runsc.absoluteBinary(), ...this.runsc.globalArgs(t), "exec", c.id, ...argv];
    return runCaptured(t.netns ? ["nsenter", `--net=${t.netns}`, "--", ...runsc] : runsc, timeoutMs);
  }

  /** Where short runsc commands for `pod` must run: in its network namespace while that exists. */
  private target(pod: Pod): RunscTarget {
    const netns = isHostNetwork(pod) ? undefined : pod.record.netnsPath;
    const r = this.podRunscOf(pod);
    return { root: join(pod.dir, "runsc"), network: r.network, platform: r.platform, netns: netns && existsSync(netns) ? netns : undefined };
  }

  /** Host pid of the pod's sandbox process (runsc's pid file), 0 before it was created. */
  private sandboxPid(pod: Pod): number {
    return Number(readTextOr(join(sandboxDir(pod), "sandbox.pid")).trim()) || 0;
  }

  /** Runs a runsc command to completion through the pod's holder; its output goes to `log`, quoted on failure. */
  private async runThroughHolder(pod: Pod, key: string, argv: string[], command: string, log: string, signal?: AbortSignal): Promise<void> {
    const startedAt = new Date();
    const pid = await requireHolder(pod).spawn({ id: key, cwd: "/", stdout: log, stderr: log, argv, env: holderLaunchEnv() });
    const done = await waitLauncherExit(pod, pid, startedAt, LAUNCH_TIMEOUT_MS, signal);
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

/** A container's own limits (what Create and each Update asked for), summed for its pod's sandbox. */
function resourcesFile(pod: Pod, id: string): string {
  return join(sandboxDir(pod), `${id}.resources.json`);
}

/**
 * The limits the host can take from OCI LinuxResources. A negative one (-1:
 * unlimited) is refused: the sandbox's limit is a sum, and the host cannot lift
 * one container's share of it.
 */
function containerResources(resources: unknown): PodResources {
  const r = resources as { memory?: { limit?: unknown }; cpu?: { quota?: unknown } } | undefined;
  for (const [field, v] of [["memory.limit", r?.memory?.limit], ["cpu.quota", r?.cpu?.quota]] as const) {
    if (typeof v === "number" && v < 0) throw new RuntimeError(Code.InvalidArgument, `resources ${field} ${v}: a gVisor container's host limit is its share of its sandbox's; the host cannot lift it`);
  }
  return podResourcesOfLinux(resources, "resources");
}

/** Present while a created container is not yet in runsc: Start creates it (`runsc run`). */
function createAtStartFile(pod: Pod, id: string): string {
  return join(sandboxDir(pod), `${id}.create-at-start`);
}

/** Whether runsc has the container: not while it waits to be created at Start. */
function inRunsc(pod: Pod, id: string): boolean {
  return !existsSync(createAtStartFile(pod, id));
}

/** Drops the container's wait to be created at Start; whether runsc has it (it had none). */
function forgetCreateAtStart(pod: Pod, id: string): boolean {
  const had = inRunsc(pod, id);
  rmSync(createAtStartFile(pod, id), { force: true });
  return had;
}

/** The checkpoint image a created container starts from (Create with a checkpoint), until it started. */
function restoreFile(pod: Pod, id: string): string {
  return join(sandboxDir(pod), `${id}.restore`);
}

/** Where a container's waiter writes the exit status runsc reports. */
function waitFile(c: Container): string {
  return join(sandboxDir(c.pod), `${c.id}.exit`);
}

/**
 * The cgroupfs path runsc made for a sub-container (its spec's `cgroupsPath`); "" for none, for
 * the pod's own (the sandbox's, removed with the pod) and for systemd's `slice:prefix:name` form.
 */
function containerCgroupPath(c: Container): string {
  const spec = JSON.parse(readTextOr(join(c.record.bundle, "config.json"), "{}")) as { linux?: { cgroupsPath?: string } };
  const path = spec.linux?.cgroupsPath ?? "";
  return path && !path.includes(":") && !path.split("/").includes("..") && path !== c.pod.record.cgroupPath ? path : "";
}
