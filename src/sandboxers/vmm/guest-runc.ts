import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import type { Pod } from "../../pod/pod.js";
import type { CgroupStats } from "../../task/task-backend.js";
import { statsFromEventsOutput } from "../../oci-runtime/events-stats.js";
import { cliError } from "../../oci-runtime/cli-command.js";
import { RuncCommands, runcCreateArgs, runcExecArgs, runcLogArgs } from "../../oci-runtime/runc-commands.js";
import { GUEST_RUNC_ROOT, type VmPaths } from "./guest-paths.js";
import { guestRuntimeBinary, type GuestOciRuntime } from "./guest-oci-runtime.js";
import { runInGuest } from "./guest-runner.js";

/** Deadline of one short runc command in the guest (guests may run emulated: generous). */
const GUEST_COMMAND_TIMEOUT_MS = 60_000;

/** runc (or crun, same command lines) inside a VM pod's guest: short commands run through the agent. */
export class GuestRunc extends RuncCommands {
  constructor(
    private readonly pod: Pod,
    private readonly paths: VmPaths,
    private readonly runtime: GuestOciRuntime = "runc",
  ) {
    super();
  }

  /** argv of `runc create` for the agent to run (the container's init stays the agent's descendant). */
  static createArgv(runtime: GuestOciRuntime, id: string, bundle: string, pidFile: string, logFile: string, consoleSocket?: string): string[] {
    return [guestRuntimeBinary(runtime), ...globalArgs(logFile), ...runcCreateArgs(id, bundle, pidFile, consoleSocket)];
  }

  /** argv of `runc exec --detach` for the agent to run. */
  static execArgv(runtime: GuestOciRuntime, id: string, processFile: string, pidFile: string, logFile: string, consoleSocket?: string): string[] {
    return [guestRuntimeBinary(runtime), ...globalArgs(logFile), ...runcExecArgs(id, processFile, pidFile, consoleSocket)];
  }

  /** The container's cgroup numbers as the guest's runc reports them (`runc events --stats`; crun has no `events`: see guest-cgroup-stats.ts). */
  async stats(id: string): Promise<CgroupStats> {
    // The guest mounts cgroup v2 only (packaging/guest/init).
    return statsFromEventsOutput(await this.run(["events", "--stats", id]), 2);
  }

  protected async run(args: string[], input?: string, abort?: AbortSignal): Promise<string> {
    const r = await runInGuest(this.pod, this.paths, [guestRuntimeBinary(this.runtime), ...globalArgs(), ...args], { timeoutMs: GUEST_COMMAND_TIMEOUT_MS, signal: abort, ...(input !== undefined ? { input } : {}) });
    if (r.status !== 0) throw cliError(this.runtime, args[0]!, r.stderr || `exit status ${r.status}`);
    return r.stdout;
  }
}

function globalArgs(logFile?: string): string[] {
  return ["--root", GUEST_RUNC_ROOT, ...runcLogArgs(logFile)];
}

export function notRunning(id: string): RuntimeError {
  return new RuntimeError(Code.NotFound, `container ${id} has no cgroup: not running`);
}
