import { fileURLToPath } from "node:url";
import type { Logger } from "../../log/logger.js";
import { PodRuntime, type PodRuntimeOptions } from "../../pod/pod-runtime.js";
import { PodSandboxer } from "../../pod/pod-sandboxer.js";
import { HolderHost } from "../../pod/holder-host.js";
import type { EventPublisher } from "../../task/task-event.js";
import { PodTasks } from "../../pod/pod-tasks.js";
import { GvisorRuntime } from "./gvisor-runtime.js";
import { RunscCli, type RunscOptions } from "./runsc-cli.js";

/** Where `npm run build` puts the pause program, relative to this module in `dist/src/sandboxers/gvisor/`. */
export const defaultPauseBinary: string = fileURLToPath(new URL("../../../../build/native/kuasar-pause", import.meta.url));

/** Where `npm run build` puts the terminal helper of execs. */
export const defaultPtyExecBinary: string = fileURLToPath(new URL("../../../../build/native/kuasar-pty-exec", import.meta.url));

/** Options of the gvisor sandboxer. */
export interface GvisorSandboxerOptions extends PodRuntimeOptions {
  /** runsc binary and flags (each pod keeps its runsc state root in its own dir). */
  runsc: RunscOptions;
  /** The static pause program the sandbox's root container runs. Default {@link defaultPauseBinary}. */
  pauseBinary?: string;
  /** The pseudoterminal helper of terminal execs. Default {@link defaultPtyExecBinary}. */
  ptyExecBinary?: string;
}

/**
 * The gvisor sandboxer: pods held by a kuasar-holder, each pod one runsc
 * sandbox (gVisor's application kernel) that all of its containers join.
 */
export function createGvisorSandboxer(options: GvisorSandboxerOptions, log: Logger, events: EventPublisher, minOomScoreAdj: number): PodSandboxer {
  const rt = new PodRuntime(options, log, events, minOomScoreAdj);
  const runsc = new RunscCli(options.runsc);
  const pause = options.pauseBinary ?? defaultPauseBinary;
  const ptyExec = options.ptyExecBinary ?? defaultPtyExecBinary;
  const tasks = new PodTasks(rt, (ops) => new GvisorRuntime(ops, runsc, pause, ptyExec));
  return new PodSandboxer("gvisor", rt, tasks, new HolderHost(rt, tasks, [
    ["runsc", runsc.options.binary],
    ["kuasar-pause", pause],
    ["kuasar-pty-exec", ptyExec],
  ]));
}
