import { fileURLToPath } from "node:url";
import type { Logger } from "../../log/logger.js";
import { PodRuntime, type PodRuntimeOptions } from "../../pod/pod-runtime.js";
import { PodSandboxer } from "../../pod/pod-sandboxer.js";
import { HolderHost } from "../../pod/holder-host.js";
import type { EventPublisher } from "../../task/task-event.js";
import { PodTasks } from "../../pod/pod-tasks.js";
import { GvisorRuntime } from "./gvisor-runtime.js";
import { RunscCli, type RunscOptions } from "./runsc-cli.js";
import { probeRunscSetup, type RunscSetup } from "./runsc-probe.js";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";

/** How long the start-time probe sandbox may take, in ms. */
const PROBE_TIMEOUT_MS = 30_000;

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
  /** The platform and network to use; default: probed now (see runsc-probe.ts). */
  runscSetup?: Promise<RunscSetup>;
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
  const probe = options.runscSetup ?? probeRunscSetup(
    { binary: runsc.options.binary, platform: runsc.options.platform, network: runsc.options.network, pauseBinary: pause, scratchDir: options.dir, timeoutMs: PROBE_TIMEOUT_MS },
    log,
  );
  let chosen: RunscSetup | undefined;
  let failed = "";
  // A failed probe (no runsc, a broken one) fails only the pods, with its reason, not the daemon.
  probe.then((r) => (chosen = r), (err: unknown) => (failed = (err as Error).message));
  const setup = probe.catch((err: unknown) => {
    throw RuntimeError.from(err, Code.FailedPrecondition);
  });
  setup.catch(() => {});
  const tasks = new PodTasks(rt, (ops) => new GvisorRuntime(ops, runsc, pause, ptyExec, setup));
  const facts = (): Record<string, string> => {
    if (chosen) {
      const c = chosen;
      return { runsc: runsc.options.binary, runsc_version: c.features.version, platform: c.platform, platform_reason: c.platformReason, network: c.network, network_reason: c.networkReason, directfs: String(c.features.directfs), root_image: c.rootImage, root_image_reason: c.rootImageReason };
    }
    return failed ? { runsc: runsc.options.binary, platform: "unknown", platform_reason: `the runsc probe failed: ${failed}` } : { runsc: runsc.options.binary, platform: "probing", platform_reason: "the probe sandbox has not finished" };
  };
  return new PodSandboxer("gvisor", rt, tasks, new HolderHost(rt, tasks, [
    ["runsc", runsc.options.binary],
    ["kuasar-pause", pause],
    ["kuasar-pty-exec", ptyExec],
  ], facts));
}
