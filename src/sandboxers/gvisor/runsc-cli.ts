import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { isUnifiedOnly } from "../../cgroup/cgroup-stats.js";
import { which } from "../../fs/which.js";
import { statsFromEventsOutput } from "../../oci-runtime/events-stats.js";
import { cliError, runCliCommand } from "../../oci-runtime/cli-command.js";
import type { RuntimeError } from "../../errors/runtime-error.js";
import type { CgroupStats } from "../../task/task-backend.js";

import type { RunscNetwork } from "./runsc-network.js";

export { runscNetworkModes, type RunscNetwork } from "./runsc-network.js";

/** Options of {@link RunscCli}. */
export interface RunscOptions {
  /** The runsc binary. Default `runsc` from PATH (Debian: /usr/bin/runsc). */
  binary: string;
  /** gVisor platform (`--platform`), or `auto`: probed at start (see runsc-probe.ts); each pod keeps the one it started with. */
  platform: string;
  /**
   * Network of pods that have one (`--network`): `sandbox` runs gVisor's own stack on the pod's
   * interfaces, `host` passes socket calls through to the pod's network namespace, `none` keeps
   * only loopback; `auto` probed at start. Host-network pods always use `host`.
   */
  network: RunscNetwork | "auto";
  /** Directory for runsc's per-command debug logs (`--debug-log DIR/`); "" for none. */
  debugLogDir: string;
  /** More global runsc flags, e.g. `--overlay2=root:memory`. */
  extraFlags: string[];
  /** Deadline of one short runsc command in ms. */
  commandTimeoutMs: number;
}

/** The pod a runsc command is about. */
export interface RunscTarget {
  /**
   * runsc's state root (`--root`), one per pod: runsc accepts unambiguous id
   * prefixes, so containers of different pods (`t1`, `t10`) must not meet.
   */
  root: string;
  network: RunscNetwork;
  /** The platform the pod's sandbox runs on. */
  platform: string;
  /**
   * The pod's network namespace file; undefined for the daemon's own. runsc
   * reaches a sandbox over an abstract unix socket, which lives in the
   * sandbox's network namespace: short commands run inside it (`nsenter --net`).
   */
  netns: string | undefined;
}

/** `runsc state` output. */
export interface RunscState {
  id: string;
  pid: number;
  status: "creating" | "created" | "running" | "paused" | "stopped";
  bundle: string;
}

/**
 * The runsc command line. Global flags go before the subcommand on every
 * invocation (runsc reads its configuration from them each time, e.g. the
 * network at the root container's start). Short commands run as children of
 * kuasard; create, start, wait and exec are built here and launched by the pod
 * holder, so what outlives them (the sandbox, a waiter) is the holder's.
 */
export class RunscCli {
  constructor(readonly options: RunscOptions) {
    if (options.debugLogDir) mkdirSync(options.debugLogDir, { recursive: true, mode: 0o700 });
  }

  /** The binary as an absolute path (the holder executes argv[0] without a PATH search). */
  absoluteBinary(): string {
    return which(this.options.binary) ?? this.options.binary;
  }

  /** Global flags for commands about pod `t`. */
  globalArgs(t: RunscTarget): string[] {
    const o = this.options;
    return [
      "--root",
      t.root,
      `--platform=${t.platform}`,
      `--network=${t.network}`,
      ...(o.debugLogDir ? [`--debug-log=${o.debugLogDir.replace(/\/*$/, "/")}`] : []),
      ...o.extraFlags,
    ];
  }

  /** argv of `runsc create` for the holder to run. */
  createArgv(t: RunscTarget, id: string, bundle: string, pidFile?: string, consoleSocket?: string): string[] {
    return [
      this.absoluteBinary(),
      ...this.globalArgs(t),
      "create",
      "--bundle",
      bundle,
      ...(pidFile ? ["--pid-file", pidFile] : []),
      ...(consoleSocket ? ["--console-socket", consoleSocket] : []),
      id,
    ];
  }

  /**
   * argv of `runsc run --detach`: create and start in one command, for a pod's root container
   * (its sandbox; the pid file gets the sandbox's pid, as create's does) and for a container
   * joining it (it takes its stdio from this process, as from `runsc start`). One runsc process
   * (a Go start and a state load) less than create then start.
   */
  runArgv(t: RunscTarget, id: string, bundle: string, pidFile?: string): string[] {
    return [this.absoluteBinary(), ...this.globalArgs(t), "run", "--detach", "--bundle", bundle, ...(pidFile ? ["--pid-file", pidFile] : []), id];
  }

  /** argv of `runsc start`: a container joining a sandbox takes its stdio from this process. */
  startArgv(t: RunscTarget, id: string): string[] {
    return [this.absoluteBinary(), ...this.globalArgs(t), "start", id];
  }

  /**
   * argv of `runsc restore --detach`, the start of a created container from a checkpoint
   * image: the root container's loads the sandbox's saved kernel, each other container's
   * takes its stdio from this process (as `runsc start`'s does).
   */
  restoreArgv(t: RunscTarget, id: string, imagePath: string): string[] {
    return [this.absoluteBinary(), ...this.globalArgs(t), "restore", "--detach", "--image-path", imagePath, id];
  }

  /** argv of `runsc wait`: prints `{"id":...,"exitStatus":N}` once the container's init exited. */
  waitArgv(t: RunscTarget, id: string): string[] {
    return [this.absoluteBinary(), ...this.globalArgs(t), "wait", id];
  }

  /**
   * argv of an attached `runsc exec`: it lives as long as the process and exits
   * with its status (128+signal when killed); the in-sandbox pid goes to
   * `internalPidFile`. A terminal process takes its terminal from this
   * command's stdio (attached runsc exec ignores `--console-socket`).
   */
  execArgv(t: RunscTarget, id: string, processFile: string, internalPidFile: string): string[] {
    return [this.absoluteBinary(), ...this.globalArgs(t), "exec", "--process", processFile, "--internal-pid-file", internalPidFile, id];
  }

  /**
   * The sandbox's control socket when runsc keeps it as a file in the pod's
   * state root (2023 and later builds; older ones use an abstract socket in the
   * sandbox's network namespace): kuasard then waits for exits over it itself.
   */
  controlSocket(t: RunscTarget, sandboxId: string): string {
    return join(t.root, `runsc-${sandboxId}.sock`);
  }

  async state(target: RunscTarget, id: string): Promise<RunscState> {
    return JSON.parse(await this.run(target, ["state", id])) as RunscState;
  }

  async kill(target: RunscTarget, id: string, signal: number, all: boolean): Promise<void> {
    await this.run(target, ["kill", ...(all ? ["--all"] : []), id, String(signal)]);
  }

  /** Signals one process of the container by its pid inside the sandbox. */
  async killProcess(target: RunscTarget, id: string, internalPid: number, signal: number): Promise<void> {
    await this.run(target, ["kill", "--pid", String(internalPid), id, String(signal)]);
  }

  async delete(target: RunscTarget, id: string, force: boolean): Promise<void> {
    await this.run(target, ["delete", ...(force ? ["--force"] : []), id]);
  }

  async pause(target: RunscTarget, id: string): Promise<void> {
    await this.run(target, ["pause", id]);
  }

  async resume(target: RunscTarget, id: string): Promise<void> {
    await this.run(target, ["resume", id]);
  }

  /**
   * `runsc checkpoint`: saves the whole sandbox of container `id` to `imagePath`
   * (`checkpoint.img`, its pages files); the sandbox runs on with `leaveRunning`,
   * else it ends. Bounded by `timeoutMs` (saving memory takes longer than a short command).
   */
  async checkpoint(target: RunscTarget, id: string, imagePath: string, leaveRunning: boolean, timeoutMs: number, abort?: AbortSignal): Promise<void> {
    await this.run(target, ["checkpoint", "--image-path", imagePath, ...(leaveRunning ? ["--leave-running"] : []), id], abort, timeoutMs);
  }

  /** Pids (inside the sandbox) of every process of the container. */
  async ps(target: RunscTarget, id: string): Promise<number[]> {
    return (JSON.parse(await this.run(target, ["ps", "--format", "json", id])) as number[] | null) ?? [];
  }

  /** The container's resource usage as gVisor's sentry accounts it (`runsc events --stats`). */
  async stats(target: RunscTarget, id: string): Promise<CgroupStats> {
    return parseRunscStats(await this.run(target, ["events", "--stats", id]));
  }

  /** `abort` (the caller's deadline or cancel) kills the command and fails with its reason. */
  private run(target: RunscTarget, args: string[], abort?: AbortSignal, timeoutMs = this.options.commandTimeoutMs): Promise<string> {
    const global = this.globalArgs(target);
    if (!target.netns) return runCliCommand("runsc", this.options.binary, global, args, timeoutMs, undefined, abort);
    const inNetns = [`--net=${target.netns}`, "--", this.absoluteBinary(), ...global];
    return runCliCommand("runsc", "nsenter", inNetns, args, timeoutMs, undefined, abort);
  }
}

/** runsc's error text as a status code containerd understands. */
export function runscError(command: string, text: string, cause?: unknown): RuntimeError {
  return cliError("runsc", command, text, cause);
}

/**
 * Maps one `runsc events --stats` JSON line to cgroup-style stats, reported in
 * the host's cgroup version like every other sandboxer's (`version`).
 */
export function parseRunscStats(text: string, version: 1 | 2 = isUnifiedOnly() ? 2 : 1): CgroupStats {
  return statsFromEventsOutput(text, version);
}
