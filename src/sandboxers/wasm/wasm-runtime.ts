import { execFile } from "node:child_process";
import type { ExecOutcome } from "../../process/run-captured.js";
import { existsSync, mkdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, unlinkSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { isAbsolute, join } from "node:path";
import { promisify } from "node:util";
import { cgroupStatsOfPid } from "../../cgroup/cgroup-stats.js";
import { Code } from "../../errors/code.js";
import { isErrorCode, RuntimeError } from "../../errors/runtime-error.js";
import type { Container } from "../../pod/container.js";
import type { ContainerOps, ContainerRuntime, InitLaunch, LaunchedInit } from "../../pod/container-runtime.js";
import type { OciProcess, OciSpec } from "../../pod/oci-spec.js";
import type { ProcessRecord } from "../../pod/records.js";
import { requireHolder } from "../../pod/pod-tasks.js";
import { killQuietly, waitGone, type Pod } from "../../pod/pod.js";
import { waitExit } from "../../pod/wait-exit.js";
import type { CgroupStats, CreateTaskSpec, Stdio } from "../../task/task-backend.js";
import type { ComponentCache } from "./component-cache.js";
import { WASM_ENGINE_ANNOTATION, type WasmEngines } from "./engine-choice.js";
import { wasmFileKind } from "./wasm-binary-kind.js";
import { CRI_IMAGE_NAME, type WasmArtifacts } from "./wasm-artifact.js";
import type { WasmEngine, WasmLaunch } from "./wasm-engine.js";
import { releaseStartFifo } from "./start-fifo.js";
import { WasmHostZygote } from "./wasm-host-zygote.js";
import { moduleInRoot, type ModuleInRoot } from "./module-in-root.js";
import { podCgroupDirs } from "../../cgroup/pod-cgroup.js";

const run = promisify(execFile);
/** How long Start waits for the runner to take its start signal, in ms. */
const START_TIMEOUT_MS = 30_000;
/** The holder's key for the process that brings the pod's wasm host up at the pod's start. */
const WARM_SPAWN_ID = "wasm-host-start";
/** Its stderr (appended by the holder), in the pod's wasm dir. */
const WARM_LOG = "host-start.log";
/** Mount types that are host-kernel views, not directories a module could use. */
const PSEUDO_FS = new Set(["proc", "sysfs", "cgroup", "cgroup2", "devpts", "mqueue", "tmpfs"]);

/**
 * How wasm containers run: each container is one runner process (an
 * engine such as node:wasi or wasmtime) launched by the pod's holder, so it
 * lives in the pod's namespaces, outlives kuasard, and its exit is journaled.
 * Create launches and loads the module, which then waits on a FIFO; Start
 * releases it.
 */
export class WasmRuntime implements ContainerRuntime {
  /** Why Checkpoint, and a Create with a checkpoint, are Unimplemented. */
  readonly checkpointUnsupported = "checkpoint and restore are not supported by the wasm sandboxer (a WASI runner has no saved state to resume); the gvisor sandboxer supports them";

  readonly holderSetsPodSysctls = true;
  readonly holderMountsRootfs = true;
  /** A WASI module runs alone: there is no shell or process table to enter. */
  async debugExec(): Promise<ExecOutcome> {
    throw new RuntimeError(Code.FailedPrecondition, "wasm pods cannot be exec'd into: a WASI module runs alone, with no shell or other programs in its sandbox");
  }

  /** The node's templates of pods' hosts, by engine name (wasm-host-zygote.ts). */
  private readonly zygotes = new Map<string, WasmHostZygote>();
  /** Each pod's host being forked from its template, settled (never rejects). */
  private readonly hostStarts = new WeakMap<Pod, Promise<void>>();

  constructor(
    private readonly ops: ContainerOps,
    private readonly engines: WasmEngines,
    /** Where modules of wasm OCI artifacts come from; none: only modules in the rootfs run. */
    private readonly artifacts?: WasmArtifacts,
    /** Transpiled WASI preview 2 components for engines that run them so; none: such engines refuse components. */
    private readonly components?: ComponentCache,
  ) {}

  async killAll(c: Container): Promise<void> {
    for (const pid of runningPids(c)) await requireHolder(c.pod).kill(pid, 9);
  }

  /**
   * The holder died: each container's runner (the holder's child, nobody's now)
   * is killed, if the recorded pid is still that runner: it was launched with the
   * container's rootfs as its working directory.
   */
  async podLost(pod: Pod): Promise<void> {
    const runners = this.ops.containersOf(pod).flatMap((c) => runningPids(c).filter((pid) => cwdOf(pid) === realPathOr(join(c.record.bundle, "rootfs"))));
    for (const pid of runners) killQuietly(pid);
    await Promise.all(runners.map((pid) => waitGone(pid, 3000)));
  }

  /**
   * Brings up the pod's resident wasm host (the pod-level engine's, when it is the pod's
   * engine) so that its first container does not wait for it. First as a fork of the node's
   * template ({@link WasmHostZygote}), joining the pod: a fork, where a started host costs an
   * exec, the private loader's relocations and WasmEdge's set-up, most of a wasm pod's start
   * over a runc pod's (measured). Its first container's Create waits for that answer (at most
   * the zygote's bound), so its runner finds the host listening. Without a zygote, or when it
   * fails, through the holder like a container's runner, not awaited (the host is a head start,
   * not part of what Start promises). Either way the host is in the holder's namespaces (its
   * children's pid namespace) and the pod's cgroups, outlives kuasard and ends with the pod; one that fails to come up is
   * logged, and the next container's runner starts a host itself (under the same lock,
   * waiting for it), as it does whenever the host is gone (killed, or left after its idle time).
   */
  async podStarted(pod: Pod): Promise<void> {
    let engine: WasmEngine;
    try {
      engine = this.engines.chooseFor(false, pod.record.pod?.annotations, pod.record.annotations);
    } catch {
      return; // a bad engine annotation fails each container's Create, which says why
    }
    const zygote = this.zygoteOf(engine);
    if (!zygote) return this.warmThroughHolder(pod, engine);
    const dir = join(pod.dir, "wasm");
    const forked = (async () => {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const pid = await zygote.hostFor({ holderPid: pod.record.holderPid, hostDir: dir, cgroups: pod.record.cgroupPath ? podCgroupDirs(pod.record.cgroupPath) : [] });
      // The pod's as if the holder had started it: Pause reaches its instances, the pod's end ends it.
      // A holder that refuses it does not get the host (the fallback starts one it knows).
      if (pid > 0) {
        await requireHolder(pod).member(pid).catch(async (err: unknown) => {
          killQuietly(pid);
          await waitGone(pid, 3000);
          throw err;
        });
      }
      return pid;
    })().then(
      (pid) => pod.log.debug({ engine: engine.name, host_pid: pid }, "the pod's wasm host is up (a fork of the node's wasm zygote)"),
      (err: unknown) => {
        if (pod.stopping) return;
        pod.log.warn({ engine: engine.name, err }, "the node's wasm zygote did not make the pod's host; starting it through the holder");
        this.warmThroughHolder(pod, engine);
      },
    );
    this.hostStarts.set(pod, forked);
  }

  /** The pod's host started through its holder (`engine.warm`), not awaited; nothing for an engine without one. */
  private warmThroughHolder(pod: Pod, engine: WasmEngine): void {
    const warm = engine.warm?.bind(engine);
    if (!warm) return;
    const failed = (fields: Record<string, unknown>) => pod.log.warn({ engine: engine.name, ...fields }, "the pod's wasm host did not come up at the pod's start; its first container starts one");
    const dir = join(pod.dir, "wasm");
    const log = join(dir, WARM_LOG);
    const since = new Date();
    const spawned = (async () => {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      rmSync(log, { force: true });
      const cmd = warm(dir);
      return requireHolder(pod).spawn({ id: WARM_SPAWN_ID, cwd: dir, stderr: log, argv: cmd.argv, env: cmd.env });
    })();
    spawned.then(
      (pid) =>
        waitExit(pod, pid, since, START_TIMEOUT_MS).then(
          (e) => (e.status === 0 ? pod.log.debug({ engine: engine.name }, "the pod's wasm host is up") : failed({ status: e.status, stderr: readQuietly(log) })),
          (err: unknown) => failed({ err }),
        ),
      // A pod stopped at once (or whose holder died) takes the spawn with it: nothing to undo.
      (err: unknown) => (pod.stopping ? undefined : failed({ err })),
    );
  }

  /** The node's template of `engine`'s pod hosts, made on first use; undefined for an engine without one. */
  private zygoteOf(engine: WasmEngine): WasmHostZygote | undefined {
    if (!engine.zygoteArgv) return undefined;
    let z = this.zygotes.get(engine.name);
    if (!z) {
      z = new WasmHostZygote(engine.zygoteArgv, this.ops.log.child({ component: "wasm-zygote", engine: engine.name }));
      this.zygotes.set(engine.name, z);
    }
    return z;
  }

  /** Ends the node's templates (pods' hosts stay). */
  async close(): Promise<void> {
    for (const z of this.zygotes.values()) z.close();
    this.zygotes.clear();
  }

  oomKilled(c: Container): boolean {
    return existsSync(this.file(c.pod.dir, c.id, "oom"));
  }

  checkCreate(spec: CreateTaskSpec, stdio: Stdio): void {
    if (stdio.terminal) throw new RuntimeError(Code.Unimplemented, "wasm containers have no terminal");
    if (spec.checkpoint) throw new RuntimeError(Code.Unimplemented, this.checkpointUnsupported);
  }

  /**
   * The runner's start FIFO, made while the rootfs is mounted: by the holder (a process
   * spawned per container was most of a busy node's Create), its request right behind the
   * mount's; a holder older than its mkfifo verb leaves it to mkfifo(1).
   */
  async prepareLaunch(id: string, pod: Pod): Promise<void> {
    mkdirSync(join(pod.dir, "wasm"), { recursive: true, mode: 0o700 });
    this.removeFiles(pod.dir, id);
    const startFifo = this.file(pod.dir, id, "start");
    await requireHolder(pod)
      .mkfifo(startFifo)
      .catch(async (err: unknown) => {
        if (!isErrorCode(err, Code.Unimplemented)) throw err;
        await run("mkfifo", ["-m", "0600", startFifo]);
      });
  }

  /** Launches the engine's runner through the holder; it loads the module, then waits on the start FIFO. */
  async launchInit(l: InitLaunch): Promise<LaunchedInit> {
    const { id, oci, pod, holder, stdio, spawnId, rootfs } = l;
    // The pod's host, when the node's template is making it: the runner then finds it listening.
    await this.hostStarts.get(pod);
    const startFifo = this.file(pod.dir, id, "start");
    // The container's annotation, else the pod's (its CRI config, else its sandbox's) picks the engine.
    const inRoot = moduleInRoot(oci, rootfs);
    const artifact = await this.artifactModule(oci, inRoot, l.spec.namespace);
    const given = wasmLaunch(oci, rootfs, inRoot, startFifo, this.file(pod.dir, id, "oom"), artifact);
    const component = wasmFileKind(given.module) === "component";
    const engine = this.engines.chooseFor(component, oci.annotations, pod.record.pod?.annotations, pod.record.annotations);
    const launch = await this.withComponent(given, component, engine);
    const cmd = engine.command(launch);
    const pid = await holder.spawn({ id: spawnId, cwd: rootfs, stdin: stdio.stdin, stdout: stdio.stdout, stderr: stdio.stderr, argv: cmd.argv, env: cmd.env });
    return { pid, memoryCgroup: "", fields: { module: launch.module, engine: engine.name, ...(launch.component ? { component: launch.component } : {}), ...(artifact ? { artifact: oci.annotations?.[CRI_IMAGE_NAME] } : {}) } };
  }

  /**
   * The launch as `engine` runs it: a WASI preview 2 component (by its header) gets its
   * transpiled form for an engine that runs components so; an engine that cannot run
   * components refuses one (FailedPrecondition naming the engine), at Create or exec.
   */
  private async withComponent(launch: WasmLaunch, component: boolean, engine: WasmEngine): Promise<WasmLaunch> {
    if (!component) return launch;
    const what = `${launch.args[0] ?? launch.module} is a WASI preview 2 component`;
    if (engine.components === "native") return launch;
    if (engine.components === "none" || !this.components) {
      throw new RuntimeError(Code.FailedPrecondition, `wasm engine ${engine.name} cannot run WASI preview 2 components (${what}); run it on the node engine (annotation ${WASM_ENGINE_ANNOTATION}=node)`);
    }
    return { ...launch, component: await this.components.transpiled(launch.module) };
  }

  /**
   * The module of a wasm OCI artifact image, when the container's root (empty for an
   * artifact) does not hold the module its args name; undefined for a rootfs image.
   */
  private async artifactModule(oci: OciSpec, inRoot: ModuleInRoot, namespace: string): Promise<string | undefined> {
    const image = oci.annotations?.[CRI_IMAGE_NAME];
    if (!this.artifacts || !image || inRoot.exists) return undefined;
    try {
      return await this.artifacts.modulePath(namespace, image);
    } catch (err) {
      const e = RuntimeError.from(err);
      throw new RuntimeError(e.code, `wasm container: reading image ${image} from containerd: ${e.message}`, { cause: err });
    }
  }

  async undoLaunch(id: string, pod: Pod): Promise<void> {
    this.removeFiles(pod.dir, id);
  }

  async signalInit(c: Container, signal: number): Promise<void> {
    await requireHolder(c.pod).kill(c.record.init.pid, signal);
  }

  /** Never started: the runner still waits on its FIFO; it is killed and its exit awaited. */
  async dropCreated(c: Container): Promise<void> {
    await requireHolder(c.pod).kill(c.record.init.pid, 9).catch(() => {});
    await c.waitFor("", AbortSignal.timeout(5000)).catch(() => {});
  }

  async remove(c: Container): Promise<void> {
    this.removeFiles(c.pod.dir, c.id);
  }

  async ps(c: Container): Promise<number[]> {
    return runningPids(c);
  }

  async freeze(c: Container): Promise<void> {
    for (const pid of this.processesOf(c)) await requireHolder(c.pod).kill(pid, "SIGSTOP");
  }

  async thaw(c: Container): Promise<void> {
    for (const pid of this.processesOf(c).reverse()) await requireHolder(c.pod).kill(pid, "SIGCONT");
  }

  /**
   * The container's instance in the pod-level host (its pid file, written by the host at
   * Start: instancePidFile of the OOM marker), then its runner; just the runner elsewhere.
   */
  private processesOf(c: Container): number[] {
    try {
      const instance = Number(readFileSync(this.file(c.pod.dir, c.id, "instance"), "utf8").trim());
      if (Number.isSafeInteger(instance) && instance > 0) return [instance, c.record.init.pid];
    } catch {
      /* no pod-level host */
    }
    return [c.record.init.pid];
  }

  /**
   * An exec runs another WASI command of the container (`args[0]` a module of its image, or
   * the artifact's) in the same root, preopens and memory cap, on the container's engine:
   * a runner the holder launches at once (no start gate), whose exit is the exec's.
   */
  async startExec(c: Container, execId: string, p: ProcessRecord): Promise<{ pid: number; startedAt: Date }> {
    if (p.stdio.terminal) throw new RuntimeError(Code.Unimplemented, "wasm execs have no terminal");
    const rootfs = join(c.record.bundle, "rootfs");
    let oci: OciSpec;
    try {
      oci = JSON.parse(readFileSync(join(c.record.bundle, "config.json"), "utf8")) as OciSpec;
    } catch (err) {
      throw new RuntimeError(Code.FailedPrecondition, `container ${c.id}: its bundle's config.json is unreadable`, { cause: err });
    }
    const execOci: OciSpec = { ...oci, process: { ...oci.process, ...(p.process as OciProcess) } };
    const inRoot = moduleInRoot(execOci, rootfs);
    const artifact = await this.artifactModule(execOci, inRoot, c.record.namespace);
    this.removeExecFiles(c, execId);
    const given = wasmLaunch(execOci, rootfs, inRoot, "", this.execFile(c, execId, "oom"), artifact);
    const component = wasmFileKind(given.module) === "component";
    const engine = this.engines.chooseFor(component, oci.annotations, c.pod.record.pod?.annotations, c.pod.record.annotations);
    const launch = await this.withComponent(given, component, engine);
    const cmd = engine.command(launch);
    const startedAt = new Date();
    const pid = await requireHolder(c.pod).spawn({ id: p.spawnId, cwd: rootfs, stdin: p.stdio.stdin, stdout: p.stdio.stdout, stderr: p.stdio.stderr, argv: cmd.argv, env: cmd.env });
    this.ops.log.info({ container_id: c.id, exec_id: execId, pid, module: launch.module, engine: engine.name }, "exec started");
    return { pid, startedAt };
  }

  removeExecFiles(c: Container, execId: string): void {
    for (const ext of ["oom", "instance"] as const) unlinkQuietly(this.execFile(c, execId, ext));
  }

  /** An exec's files beside its container's (the pod-level host finds its socket beside the OOM marker). */
  private execFile(c: Container, execId: string, ext: "oom" | "instance"): string {
    return join(c.pod.dir, "wasm", `${c.id}.exec.${execId}.${ext}`);
  }

  async update(): Promise<void> {
    throw new RuntimeError(Code.Unimplemented, "a wasm module's memory limit is fixed when it starts");
  }

  async stats(c: Container): Promise<CgroupStats> {
    return cgroupStatsOfPid(c.record.init.pid);
  }

  /**
   * Writes the start byte once the runner holds the FIFO's read end (it opens it after
   * loading the module); a runner that died first is left to its exit, which tells why.
   */
  async startInit(c: Container, signal?: AbortSignal): Promise<void> {
    if (c.record.init.state === "stopped") return;
    const deadline = AbortSignal.timeout(START_TIMEOUT_MS);
    const exited = new AbortController();
    const done = new AbortController();
    c.waitFor("", done.signal).then(() => exited.abort(), () => {});
    try {
      await releaseStartFifo(this.file(c.pod.dir, c.id, "start"), { exited: exited.signal, signal: signal ? AbortSignal.any([signal, deadline]) : deadline });
    } catch (err) {
      if (deadline.aborted && !signal?.aborted) throw new RuntimeError(Code.DeadlineExceeded, `container ${c.id}: the wasm runner did not take its start within ${START_TIMEOUT_MS} ms`, { cause: err });
      throw err;
    } finally {
      done.abort();
    }
  }

  private file(podDir: string, id: string, ext: "start" | "oom" | "instance"): string {
    return join(podDir, "wasm", `${id}.${ext}`);
  }

  private removeFiles(podDir: string, id: string): void {
    for (const ext of ["start", "oom", "instance"] as const) unlinkQuietly(this.file(podDir, id, ext));
  }
}

/**
 * What the engine must run for a container spec: module, args, env, preopened dirs, memory
 * limit. The module is the one the args name in the rootfs (`inRoot`), else `artifactModule`
 * (a wasm OCI artifact's, whose args[0] is then only the module's name).
 */
function wasmLaunch(oci: OciSpec, rootfs: string, inRoot: ModuleInRoot, startFifo: string, oomMarker: string, artifactModule?: string): WasmLaunch {
  const args = oci.process?.args ?? [];
  const cwd = oci.process?.cwd || "/";
  const modulePath = inRoot.exists || !artifactModule ? inRoot.path : artifactModule;
  if (!inRoot.exists && !(artifactModule && existsSync(artifactModule))) throw new RuntimeError(Code.InvalidArgument, `wasm container: module ${inRoot.guest} not found in the image`);
  const preopens: Record<string, string> = { "/": rootfs };
  for (const m of oci.mounts ?? []) {
    if (!m.source || PSEUDO_FS.has(m.type ?? "") || !isAbsolute(m.source)) continue;
    const bind = m.type === "bind" || (m.options ?? []).some((o) => o === "bind" || o === "rbind");
    // WASI preopens directories only: file mounts (CRI's /etc/hosts, resolv.conf...) mean nothing to a module.
    if (bind && isDirectory(m.source)) preopens[m.destination] = m.source;
  }
  const limit = (oci.linux?.resources as { memory?: { limit?: number } } | undefined)?.memory?.limit ?? 0;
  return { module: modulePath, args, env: oci.process?.env ?? [], preopens, cwd, memoryLimitBytes: limit > 0 ? limit : 0, startFifo, oomMarker };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The container's running processes: its init and its execs. */
function runningPids(c: Container): number[] {
  return [c.record.init, ...Object.values(c.record.execs)].filter((p) => p.state !== "stopped" && p.pid > 0).map((p) => p.pid);
}

/**
 * unlink(2) of a file that is usually absent: an existence check first, as a failed unlinkSync
 * costs a thrown error (and rmSync's checks more), and each Create and exec makes several.
 */
function unlinkQuietly(path: string): void {
  if (!existsSync(path)) return;
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
}

function readQuietly(path: string): string {
  try {
    return readFileSync(path, "utf8").slice(0, 4096);
  } catch {
    return "";
  }
}

function realPathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}

/** Where `pid` runs (its working directory), "" when unknown. */
function cwdOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/cwd`);
  } catch {
    return "";
  }
}
