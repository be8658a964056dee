/**
 * Ours, direct: stock containerd 2.x with our runc sandboxer as a `proxy_plugins` sandbox
 * plugin and a CRI runtime naming it (`sandboxer = ...`), as in the e2e tests
 * (`test/harness/kuasar-containerd2.ts`). No shim, no pause container.
 *
 * @internal benchmark, not part of the runtime
 */
import { access, constants } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { importBusybox } from "../../test/harness/busybox-image.js";
import { startContainerd } from "../../test/harness/containerd.js";
import { criClient } from "../../test/harness/cri.js";
import { containerdBinaries } from "../../test/harness/deps.js";
import { defaultHolderBinary } from "../holder/start-holder.js";
import type { BenchConfiguration, RunningConfiguration } from "./bench-configuration.js";
import { writeBenchCni } from "./bench-network.js";
import { startKuasarDaemon, type KuasarDaemon } from "./kuasar-daemon.js";
import { sleepContainer } from "./pod-workload.js";

/** CRI runtime handler and proxy plugin name. */
export const KUASAR_RUNC_HANDLER = "kuasar-runc";

/** Why our runc sandboxer cannot run here (not built), or undefined. */
export async function kuasarRuncMissing(): Promise<string | undefined> {
  const need = [
    [defaultHolderBinary, "the pod holder (make -C native)"],
    [fileURLToPath(new URL("../cli/runc-sandboxer.js", import.meta.url)), "dist/src/cli/runc-sandboxer.js (npm run build)"],
  ] as const;
  for (const [path, what] of need) {
    const ok = await access(path, constants.R_OK).then(
      () => true,
      () => false,
    );
    if (!ok) return `${what} missing at ${path}`;
  }
  return undefined;
}

/** The runc sandboxer behind stock containerd 2.x's Sandbox API client. */
export function kuasarDirectConfiguration(): BenchConfiguration {
  return {
    id: "kuasar-runc-direct-ctrd2",
    label: "ours: runc sandboxer direct, containerd 2.x",
    role: "ours",
    containerdVersion: "2",
    description: "stock containerd 2.x CRI with our runc-sandboxer as proxy sandbox plugin (Sandbox API over gRPC, Task API through kuasar-endpoint); one C holder per pod, no shim, no pause container",
    managementProcesses: "runc-sandboxer (kuasard) + kuasar-endpoint + every kuasar-holder",
    async availability() {
      try {
        containerdBinaries("2");
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
      return kuasarRuncMissing();
    },
    async setup(ctx): Promise<RunningConfiguration> {
      const listen = join(ctx.dir, "k", "runc.sock");
      const containerd = await startContainerd({
        version: "2",
        parentDir: ctx.dir,
        extraToml: `
[proxy_plugins.${KUASAR_RUNC_HANDLER}]
  type = "sandbox"
  address = "${listen}"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.${KUASAR_RUNC_HANDLER}]
  runtime_type = "io.containerd.kuasar.v1"
  sandboxer = "${KUASAR_RUNC_HANDLER}"
`,
      });
      let daemon: KuasarDaemon | undefined;
      try {
        await writeBenchCni(containerd.cniConfDir, ctx.index);
        daemon = await startKuasarDaemon({ dir: join(ctx.dir, "k"), containerdTtrpcAddress: containerd.ttrpcAddress });
        if (daemon.listen !== listen) throw new Error(`sandboxer listens on ${daemon.listen}, containerd expects ${listen}`);
        await importBusybox(containerd, "k8s.io");
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
        runtimeHandler: KUASAR_RUNC_HANDLER,
        containerdPid: containerd.pid,
        fixedPids: [containerd.pid, d.pid, d.endpointPid],
        container: sleepContainer(),
        managementRole: (p) => d.roleOf(p),
        shimLauncher: undefined,
        logs: async () => `==> containerd ${containerd.logPath}\n${await containerd.logs()}\n==> runc-sandboxer\n${d.logs()}\n==> kuasar-endpoint\n${d.endpointLogs()}`,
        close() {
          closing ??= (async () => {
            cri.close();
            await containerd.stop();
            await d.stop();
          })();
          return closing;
        },
      };
    },
  };
}
