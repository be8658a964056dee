import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { which } from "../../fs/which.js";
import type { RuntimeError } from "../../errors/runtime-error.js";
import { cliError, extractMessage, runCliCommand } from "../../oci-runtime/cli-command.js";
import { RuncCommands, runcCreateArgs, runcExecArgs, runcLogArgs } from "../../oci-runtime/runc-commands.js";

/** Options of {@link RuncCli}. */
export interface RuncOptions {
  /** The runc binary (`containerd.runc.v1.Options.binary_name`). Default `runc` from PATH (Debian: /usr/sbin/runc). */
  binary: string;
  /** runc's state root (`--root`). Default `/run/kuasar-runc/runc`. */
  root: string;
  /** Use the systemd cgroup driver (`--systemd-cgroup`). Default false. */
  systemdCgroup: boolean;
  /** Deadline of one short runc command in ms. Default 30000. */
  commandTimeoutMs: number;
  /** argv run before the binary (crun's private loader, the cgroup2 hider; see src/oci-runtime/). Default none. */
  launcher?: readonly string[];
}

export const defaultRuncOptions: RuncOptions = {
  binary: "runc",
  root: "/run/kuasar-runc/runc",
  systemdCgroup: false,
  commandTimeoutMs: 30_000,
};

/** `runc state` output. */
export interface RuncState {
  id: string;
  pid: number;
  status: "creating" | "created" | "running" | "pausing" | "paused" | "stopped";
  bundle: string;
}

/**
 * The runc command line. Short commands (state, start, kill, delete, pause,
 * resume, update, ps) run as children of kuasard; `create` and `exec` are only
 * built here and launched by the pod holder, so the container's processes are
 * the holder's descendants (docs/adr/0002).
 */
export class RuncCli extends RuncCommands {
  constructor(readonly options: RuncOptions) {
    super();
  }

  /** The binary as an absolute path (the holder executes argv[0] without a PATH search). */
  private absoluteBinary(): string {
    return which(this.options.binary) ?? this.options.binary;
  }

  /** Global flags every invocation carries; with `logFile`, runc's errors go there as JSON lines. */
  globalArgs(logFile?: string): string[] {
    return [
      "--root",
      this.options.root,
      ...runcLogArgs(logFile),
      ...(this.options.systemdCgroup ? ["--systemd-cgroup"] : []),
    ];
  }

  /** argv (binary first) of `runc create` for the holder to run. */
  createArgv(id: string, bundle: string, pidFile: string, logFile: string, consoleSocket?: string): string[] {
    return [...(this.options.launcher ?? []), this.absoluteBinary(), ...this.globalArgs(logFile), ...runcCreateArgs(id, bundle, pidFile, consoleSocket)];
  }

  /** argv of `runc exec --detach` for the holder to run. */
  execArgv(id: string, processFile: string, pidFile: string, logFile: string, consoleSocket?: string): string[] {
    return [...(this.options.launcher ?? []), this.absoluteBinary(), ...this.globalArgs(logFile), ...runcExecArgs(id, processFile, pidFile, consoleSocket)];
  }

  async state(id: string): Promise<RuncState> {
    const out = await this.run(["state", id]);
    return JSON.parse(out) as RuncState;
  }

  /**
   * Applies OCI LinuxResources JSON, passed in a file: crun reads `-` by opening /dev/stdin,
   * which fails (ENXIO) on the socket Node gives a child as stdin.
   */
  override async update(id: string, resources: unknown): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), "kuasar-update-"));
    try {
      await writeFile(join(dir, "resources.json"), JSON.stringify(resources), { mode: 0o600 });
      await this.run(["update", "--resources", join(dir, "resources.json"), id]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  protected run(args: string[], input?: string, abort?: AbortSignal): Promise<string> {
    const [first, ...rest] = this.options.launcher ?? [];
    if (first === undefined) return runCliCommand("runc", this.options.binary, this.globalArgs(), args, this.options.commandTimeoutMs, input, abort);
    return runCliCommand("runc", first, [...rest, this.absoluteBinary(), ...this.globalArgs()], args, this.options.commandTimeoutMs, input, abort);
  }
}

/** Turns runc's error text into a status code containerd understands. */
export function runcError(command: string, text: string, cause?: unknown): RuntimeError {
  return cliError("runc", command, text, cause);
}

export { extractMessage };
