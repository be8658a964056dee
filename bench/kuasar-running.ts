/**
 * The part of every "ours" configuration after containerd is up: start our
 * daemon, import the workload image, and describe the running configuration.
 *
 * @internal benchmark, not part of the runtime
 */
import { importBusybox, importPause } from "../testing/busybox-image.js";
import type { Containerd } from "../testing/containerd.js";
import { criClient } from "../testing/cri.js";
import type { RunningConfiguration } from "./bench-configuration.js";
import { writeBenchCni } from "./bench-network.js";
import { gvisorSandboxRole } from "./gvisor-workload.js";
import { startKuasarDaemon, type KuasarDaemon, type KuasarDaemonOptions, type SandboxerKind } from "./kuasar-daemon.js";
import { sleepContainer, sleepContainerRole } from "./pod-workload.js";
import { blockingWasmContainer, importBenchWasmImage, wasmEngineWorkload, type BenchWasmEngine } from "./wasm-workload.js";

/** What differs between the direct and the bridge configurations. */
export interface KuasarRunOptions {
  containerd: Containerd;
  /** Index of the configuration in the run (keeps CNI subnets apart). */
  index: number;
  daemon: Partial<KuasarDaemonOptions> & Pick<KuasarDaemonOptions, "dir" | "containerdTtrpcAddress">;
  /** The sandboxer the pods run on: wasm pods run a blocking module, the others busybox sleep. */
  kind: SandboxerKind;
  /** The wasm kind's engine: which processes are its containers and which its management. */
  wasmEngine: BenchWasmEngine;
  runtimeHandler: string;
  /** containerd 1.7's CRI wants its sandbox image present even though no pause container runs. */
  importPauseImage: boolean;
  /** Checks the started daemon (e.g. its sockets are where containerd looks). */
  check?: (d: KuasarDaemon) => void;
  shimLauncher: RunningConfiguration["shimLauncher"];
}

/** Starts the daemon and images on `containerd`; on failure stops both and rethrows. */
export async function runKuasar(o: KuasarRunOptions): Promise<RunningConfiguration> {
  const { containerd } = o;
  const wasm = o.kind === "wasm";
  const engine = wasmEngineWorkload(o.wasmEngine);
  let daemon: KuasarDaemon | undefined;
  try {
    await writeBenchCni(containerd.cniConfDir, o.index);
    daemon = await startKuasarDaemon(o.daemon);
    o.check?.(daemon);
    if (wasm) await importBenchWasmImage(containerd, "k8s.io");
    else await importBusybox(containerd, "k8s.io");
    if (o.importPauseImage) await importPause(containerd, "k8s.io");
  } catch (err) {
    await containerd.stop();
    await daemon?.stop();
    throw err;
  }
  const d = daemon;
  const cri = criClient(containerd);
  let closing: Promise<void> | undefined;
  return {
    cri,
    runtimeHandler: o.runtimeHandler,
    containerdPid: containerd.pid,
    fixedPids: [containerd.pid, d.pid, d.endpointPid, d.custodyPid],
    container: wasm ? blockingWasmContainer() : sleepContainer(),
    managementRole: (p) => d.roleOf(p) ?? (wasm ? engine.managementRole(p) : undefined),
    workloadRole: wasm ? engine.workloadRole : o.kind === "gvisor" ? gvisorSandboxRole : sleepContainerRole,
    phaseLog: d.phaseLog,
    shimLauncher: o.shimLauncher,
    logs: async () => `==> containerd ${containerd.logPath}\n${await containerd.logs()}\n==> ${o.kind === "runc" ? "runc-sandboxer" : "kuasard"}\n${d.logs()}\n==> kuasar-endpoint\n${d.endpointLogs()}`,
    close() {
      closing ??= (async () => {
        cri.close();
        await containerd.stop();
        await d.stop();
      })();
      return closing;
    },
  };
}
