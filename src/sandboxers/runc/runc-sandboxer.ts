import { join } from "node:path";
import { PodRuntime, type PodRuntimeOptions } from "../../pod/pod-runtime.js";
import { PodSandboxer } from "../../pod/pod-sandboxer.js";
import { HolderHost } from "../../pod/holder-host.js";
import type { Logger } from "../../log/logger.js";
import type { EventPublisher } from "../../task/task-event.js";
import { RuncCli, type RuncOptions } from "./runc-cli.js";
import { PodTasks } from "../../pod/pod-tasks.js";
import { RuncRuntime } from "./runc-runtime.js";

/** Options of the runc sandboxer. */
export interface RuncSandboxerOptions extends PodRuntimeOptions {
  /** runc binary and flags; `root` defaults to `<dir>/runc`. */
  runc: Omit<RuncOptions, "root"> & { root?: string };
}

/**
 * The runc sandboxer: pods held by a kuasar-holder (no pause container),
 * containers run by the Debian runc binary as the holder's descendants.
 */
export function createRuncSandboxer(options: RuncSandboxerOptions, log: Logger, events: EventPublisher, minOomScoreAdj: number): PodSandboxer {
  const rt = new PodRuntime(options, log, events, minOomScoreAdj);
  const runc = new RuncCli({ ...options.runc, root: options.runc.root ?? join(options.dir, "runc") });
  const tasks = new PodTasks(rt, (ops) => new RuncRuntime(ops, runc));
  return new PodSandboxer("runc", rt, tasks, new HolderHost(rt, tasks, [["runc", runc.options.binary]]));
}
