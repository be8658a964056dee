/**
 * The runc command lines, one builder for runc on the host (sandboxers/runc/runc-cli.ts) and
 * runc inside a VM guest (sandboxers/vmm/guest-runc.ts): they differ only in the binary, the
 * global flags and how a short command is run.
 */

/** `--log FILE --log-format json`: runc's errors go to FILE as JSON lines. */
export function runcLogArgs(logFile: string | undefined): string[] {
  return logFile ? ["--log", logFile, "--log-format", "json"] : [];
}

/** `create` and its flags (after the global flags), for the holder or agent to launch. */
export function runcCreateArgs(id: string, bundle: string, pidFile: string, consoleSocket?: string): string[] {
  return ["create", "--bundle", bundle, "--pid-file", pidFile, ...(consoleSocket ? ["--console-socket", consoleSocket] : []), id];
}

/** `exec --detach` and its flags (after the global flags), for the holder or agent to launch. */
export function runcExecArgs(id: string, processFile: string, pidFile: string, consoleSocket?: string): string[] {
  return ["exec", "--detach", "--process", processFile, "--pid-file", pidFile, ...(consoleSocket ? ["--console-socket", consoleSocket] : []), id];
}

/** The short runc commands, run wherever the subclass runs them. */
export abstract class RuncCommands {
  /**
   * Runs `runc <global flags> <args>` to completion; its stdout, or an error naming the command.
   * `abort` (the caller's deadline or cancel) kills it and fails with its reason.
   */
  protected abstract run(args: string[], input?: string, abort?: AbortSignal): Promise<string>;

  async start(id: string, abort?: AbortSignal): Promise<void> {
    await this.run(["start", id], undefined, abort);
  }

  async kill(id: string, signal: number, all: boolean, abort?: AbortSignal): Promise<void> {
    await this.run(["kill", ...(all ? ["--all"] : []), id, String(signal)], undefined, abort);
  }

  async delete(id: string, force: boolean, abort?: AbortSignal): Promise<void> {
    await this.run(["delete", ...(force ? ["--force"] : []), id], undefined, abort);
  }

  async pause(id: string): Promise<void> {
    await this.run(["pause", id]);
  }

  async resume(id: string): Promise<void> {
    await this.run(["resume", id]);
  }

  /** Applies OCI LinuxResources JSON. */
  async update(id: string, resources: unknown): Promise<void> {
    await this.run(["update", "--resources", "-", id], JSON.stringify(resources));
  }

  /** Pids of every process of the container. */
  async ps(id: string): Promise<number[]> {
    return (JSON.parse(await this.run(["ps", "--format", "json", id])) as number[] | null) ?? [];
  }
}
