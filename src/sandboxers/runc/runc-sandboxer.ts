import { join } from "node:path";
import { PodRuntime, type PodRuntimeOptions } from "../../pod/pod-runtime.js";
import { PodSandboxer } from "../../pod/pod-sandboxer.js";
import { HolderHost } from "../../pod/holder-host.js";
import type { Logger } from "../../log/logger.js";
import type { EventPublisher } from "../../task/task-event.js";
import { RuncCli, type RuncOptions } from "./runc-cli.js";
import { PodTasks } from "../../pod/pod-tasks.js";
import type { ExecFifoProtocol } from "./exec-fifo-start.js";
import { RuncRuntime } from "./runc-runtime.js";
import { chooseOciRuntime, runtimeStatusInfo } from "./runtime-choice.js";
import { defaultProbePauseBinary } from "./runtime-probe.js";

/** Options of the runc sandboxer. */
export interface RuncSandboxerOptions extends PodRuntimeOptions {
  /** runc binary and flags; `root` defaults to `<dir>/runc`. */
  runc: Omit<RuncOptions, "root"> & { root?: string };
  /**
   * The OCI runtime (`[sandboxers.runc] runtime`): `runc` (the `runc.binary`), `crun`, or an
   * absolute path to a runc-compatible one; probed at start, runc when it fails. Default `runc`.
   */
  runtime?: string;
}

/**
 * The runc sandboxer: pods held by a kuasar-holder (no pause container),
 * containers run by runc (or crun, see {@link chooseOciRuntime}) as the holder's descendants.
 */
export async function createRuncSandboxer(options: RuncSandboxerOptions, log: Logger, events: EventPublisher, minOomScoreAdj: number): Promise<PodSandboxer> {
  const choice = await chooseOciRuntime(
    options.runtime ?? "runc",
    options.runc.binary,
    { dir: join(options.dir, "runtime-probe"), pauseBinary: defaultProbePauseBinary, systemdCgroup: options.runc.systemdCgroup, timeoutMs: options.runc.commandTimeoutMs },
    log,
  );
  const rt = new PodRuntime(options, log, events, minOomScoreAdj);
  const runc = new RuncCli({ ...options.runc, binary: choice.command.binary, launcher: choice.command.launcher, root: options.runc.root ?? join(options.dir, "runc") });
  const tasks = new PodTasks(rt, (ops) => new RuncRuntime(ops, runc, execFifoOf(choice.command)));
  return new PodSandboxer("runc", rt, tasks, new HolderHost(rt, tasks, [[choice.command.name, runc.options.binary]]), runtimeStatusInfo(choice));
}

/** How a container of this runtime may be started without spawning its `start` (none: an unknown runtime). */
function execFifoOf(command: { name: string; launcher?: readonly string[] }): ExecFifoProtocol | undefined {
  if (command.name === "crun") return "write";
  return command.name === "runc" && !command.launcher?.length ? "read" : undefined;
}
