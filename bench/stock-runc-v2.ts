/**
 * Stock `io.containerd.runc.v2` through CRI: one `containerd-shim-runc-v2` per pod plus a
 * pause container. On containerd 1.7 it is issue 6's baseline; on containerd 2.x a
 * reference point that separates the containerd version from the runtime path.
 *
 * @internal benchmark, not part of the runtime
 */
import { readdir, readFile, rm } from "node:fs/promises";
import { basename } from "node:path";
import { importBusybox, importPause } from "../testing/busybox-image.js";
import { startContainerd, type Containerd } from "../testing/containerd.js";
import { criClient } from "../testing/cri.js";
import { containerdBinaries } from "../testing/deps.js";
import type { BenchConfiguration, RunningConfiguration } from "./bench-configuration.js";
import { writeBenchCni } from "./bench-network.js";
import { sleepContainer, sleepContainerRole } from "./pod-workload.js";
import type { ConfigurationRole } from "./results.js";
import { shimSocketPath } from "./shim-start-latency.js";

/** PATH the harness gives containerd after the package's own bin dir. */
export const CONTAINERD_BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Options of {@link stockRuncV2Configuration}. */
export interface StockRuncV2Options {
  /** Which stock containerd. */
  readonly containerdVersion: "1.7" | "2";
  /** `baseline` for 1.7 (issue 6), `reference` otherwise. */
  readonly role: ConfigurationRole;
}

/** Pids of `containerd-shim*` processes whose argv names task `id` (the server `start` spawned). */
async function shimServersOf(id: string): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const comm = await readFile(`/proc/${e}/comm`, "utf8").catch(() => "");
    if (!comm.startsWith("containerd-shim")) continue;
    const argv = (await readFile(`/proc/${e}/cmdline`, "utf8").catch(() => "")).split("\0");
    const i = argv.findIndex((a) => a === "-id" || a === "--id");
    if (i >= 0 && argv[i + 1] === id) out.push(Number(e));
  }
  return out;
}

/** Kills (SIGKILL) the shim servers a timed `start` left, waits for them to go, removes their socket. */
async function killShimServers(id: string, output: string): Promise<void> {
  const pids = await shimServersOf(id);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  for (let i = 0; i < 200 && (await shimServersOf(id)).length > 0; i++) await new Promise((r) => setTimeout(r, 10));
  const socket = shimSocketPath(output, true);
  if (socket !== undefined) await rm(socket, { force: true });
}

/** The stock runc v2 shim configuration on containerd `containerdVersion`. */
export function stockRuncV2Configuration(o: StockRuncV2Options): BenchConfiguration {
  const v = o.containerdVersion;
  return {
    id: `${o.role === "baseline" ? "baseline" : "stock"}-runc-v2-ctrd${v === "1.7" ? "17" : "2"}`,
    label: `${o.role === "baseline" ? "baseline" : "reference"}: runc.v2 shim, containerd ${v === "1.7" ? "1.7" : "2.x"}`,
    role: o.role,
    containerdVersion: v,
    description: `stock containerd ${v === "1.7" ? "1.7" : "2.x"} CRI, runtime io.containerd.runc.v2: one containerd-shim-runc-v2 per pod plus a pause container (busybox \`sleep infinity\` stand-in for registry.k8s.io/pause:3.10)`,
    managementProcesses: "every containerd-shim-* process",
    workload: "busybox `/bin/sleep 86400`; per-container memory = that process (the pause container is counted as other)",
    compareWith: null,
    async availability() {
      try {
        containerdBinaries(v);
        return undefined;
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    },
    async setup(ctx): Promise<RunningConfiguration> {
      const containerd: Containerd = await startContainerd({ version: v, parentDir: ctx.dir, stateParentDir: ctx.runDir ?? "" });
      try {
        await writeBenchCni(containerd.cniConfDir, ctx.index);
        await importBusybox(containerd, "k8s.io");
        await importPause(containerd, "k8s.io");
      } catch (err) {
        await containerd.stop();
        throw err;
      }
      const cri = criClient(containerd);
      let closing: Promise<void> | undefined;
      return {
        cri,
        runtimeHandler: "runc",
        containerdPid: containerd.pid,
        fixedPids: [containerd.pid],
        container: sleepContainer(),
        managementRole: (p) => (p.comm.startsWith("containerd-shim") ? basename(p.exe ?? p.comm) : undefined),
        workloadRole: sleepContainerRole,
        phaseLog: undefined,
      shimLauncher: {
          binary: containerd.binaries.shimRuncV2,
          containerdAddress: containerd.address,
          containerdTtrpcAddress: containerd.ttrpcAddress,
          publishBinary: containerd.binaries.containerd,
          acceptsVersion3: v === "2",
          env: { PATH: `${containerd.binaries.binDir}:${CONTAINERD_BASE_PATH}`, HOME: "/root" },
          cleanup: (_bundle, id, output) => killShimServers(id, output),
        },
        logs: async () => `==> containerd ${containerd.logPath}\n${await containerd.logs()}`,
        close() {
          closing ??= (async () => {
            cri.close();
            await containerd.stop();
          })();
          return closing;
        },
      };
    },
  };
}
