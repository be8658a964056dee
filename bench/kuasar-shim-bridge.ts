/**
 * Ours, through the shim bridge: stock containerd 1.7 with `runtime_type =
 * "io.containerd.kuasar.v1"`, so containerd executes `bin/containerd-shim-kuasar-v1 start`
 * (a launcher that prints the resident bridge's address, issue 4) and speaks shim v2 to the
 * bridge inside our daemon (`--shim-listen`), found through `KUASAR_SHIM_SOCKET` in
 * containerd's environment. containerd 1.7's CRI insists on the sandbox image existing even
 * though no pause container runs, so the pause stand-in is imported.
 *
 * Two variants, like the direct path: the runc sandboxer alone (`runc-sandboxer
 * --shim-listen`, busybox pods on handler `kuasar-runc`), and a kuasard hosting runc and wasm
 * whose pods run on handler `kuasar-wasm`, a second `io.containerd.kuasar.v1` runtime whose
 * options table says `sandboxer = "wasm"` (as in `test/e2e/wasm-sandboxer.test.ts`).
 *
 * Only runs when the launcher exists; until then the run reports it as not available.
 *
 * @internal benchmark, not part of the runtime
 */
import { access, constants } from "node:fs/promises";
import { join } from "node:path";
import { startContainerd } from "../testing/containerd.js";
import { containerdBinaries, repoRoot } from "../testing/deps.js";
import { bridgeRuntimesToml } from "../testing/kuasar-containerd17.js";
import type { BenchConfiguration, RunningConfiguration } from "./bench-configuration.js";
import {
  checkChosenRuntime,
  kuasarBridgeId,
  kuasarHandler,
  kuasarHostedKinds,
  kuasarKindManagement,
  kuasarMissing,
  kuasarWorkload,
  resolveVariant,
  variantLabel,
  wasmPerContainer,
  KUASAR_RUNC_HANDLER,
  ociRuntimeMissing,
  type KuasarVariant,
} from "./kuasar-direct.js";
import type { KuasarDaemon, SandboxerKind } from "./kuasar-daemon.js";
import { runKuasar } from "./kuasar-running.js";
import { CONTAINERD_BASE_PATH } from "./stock-runc-v2.js";

/** The launcher containerd 1.7 executes for `io.containerd.kuasar.v1`. */
export function shimLauncherPath(): string {
  return join(repoRoot(), "bin", "containerd-shim-kuasar-v1");
}

/** Our `kind` sandboxer (in its variant: the wasm kind's engine) behind stock containerd 1.7 through `containerd-shim-kuasar-v1`. */
export function kuasarShimBridgeConfiguration(kind: SandboxerKind = "runc", variant: KuasarVariant = {}): BenchConfiguration {
  const { runtime, wasmEngine } = resolveVariant(kind, variant);
  const crun = runtime === "crun";
  const wasm = kind === "wasm";
  const gvisor = kind === "gvisor";
  const handler = kuasarHandler(kind);
  const hosted = kuasarHostedKinds(kind);
  const extra = kuasarKindManagement(kind, variant);
  return {
    id: kuasarBridgeId(kind, variant),
    label: `ours: ${variantLabel(kind, variant)} via shim bridge, containerd 1.7`,
    role: "ours",
    containerdVersion: "1.7",
    description: wasm
      ? `stock containerd 1.7 CRI, runtime io.containerd.kuasar.v1 with options sandboxer = "wasm" (handler kuasar-wasm): containerd-shim-kuasar-v1 start prints the address of the bridge inside our resident kuasard (runc and wasm sandboxers, --shim-listen, wasm_engine = "${wasmEngine}"); ${wasmPerContainer(wasmEngine)}, no pause process`
      : gvisor
        ? "stock containerd 1.7 CRI, runtime io.containerd.kuasar.v1 with options sandboxer = \"gvisor\" (handler kuasar-gvisor): containerd-shim-kuasar-v1 start prints the address of the bridge inside our resident kuasard (runc and gvisor sandboxers, --shim-listen); one C holder per pod launching one runsc sandbox the pod's containers join, no pause image run"
        : crun
          ? "as the runc sandboxer via shim bridge, with `runtime = \"crun\"`: the same holder per pod runs each container with crun (C) instead of runc (Go)"
          : "stock containerd 1.7 CRI, runtime io.containerd.kuasar.v1: containerd-shim-kuasar-v1 start prints the address of the bridge served by our resident runc-sandboxer (--shim-listen); one C holder per pod, no pause process",
    managementProcesses:
      kind === "runc"
        ? "runc-sandboxer (kuasard, bridge inside) + kuasar-endpoint + every kuasar-holder + any containerd-shim-* left running"
        : `kuasard (runc + ${kind}, bridge inside) + kuasar-endpoint + every kuasar-holder + any containerd-shim-* left running${extra === "" ? "" : `; ${extra}`}`,
    workload: kuasarWorkload(kind, variant),
    wasmEngine: wasm ? wasmEngine : null,
    compareWith: kind === "runc" && !crun ? null : kuasarBridgeId("runc"),
    async availability() {
      const launcher = shimLauncherPath();
      const exists = await access(launcher, constants.X_OK).then(
        () => true,
        () => false,
      );
      if (!exists) return `not available yet: ${launcher} does not exist (shim bridge, issue 4)`;
      try {
        containerdBinaries("1.7");
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
      return (await kuasarMissing(kind, variant)) ?? ociRuntimeMissing(runtime);
    },
    async setup(ctx): Promise<RunningConfiguration> {
      const kdir = join(ctx.runDir ?? ctx.dir, "k");
      const shimSocket = join(kdir, "shim.sock");
      const binaries = containerdBinaries("1.7");
      const path = `${join(repoRoot(), "bin")}:${binaries.binDir}:${CONTAINERD_BASE_PATH}`;
      const containerd = await startContainerd({
        version: "1.7",
        parentDir: ctx.dir,
        stateParentDir: ctx.runDir ?? "",
        env: { PATH: path, KUASAR_SHIM_SOCKET: shimSocket },
        extraToml: bridgeRuntimesToml(KUASAR_RUNC_HANDLER, [...(wasm ? ["wasm"] : []), ...(gvisor ? ["gvisor"] : [])]),
      });
      return runKuasar({
        containerd,
        index: ctx.index,
        daemon: { dir: kdir, containerdTtrpcAddress: containerd.ttrpcAddress, sandboxers: hosted, args: ["--log-level", "info", "--shim-listen", shimSocket], ...(crun ? { runtime } : {}), ...(wasm ? { wasmEngine } : {}) },
        kind,
        wasmEngine,
        runtimeHandler: handler,
        importPauseImage: true,
        ...(kind === "runc" ? { check: (d: KuasarDaemon) => checkChosenRuntime(d.logs(), runtime) } : {}),
        shimLauncher: {
          binary: shimLauncherPath(),
          containerdAddress: containerd.address,
          containerdTtrpcAddress: containerd.ttrpcAddress,
          publishBinary: binaries.containerd,
          acceptsVersion3: false,
          env: { PATH: path, HOME: "/root", KUASAR_SHIM_SOCKET: shimSocket },
          // `start` only prints the resident bridge's address: nothing to undo.
          cleanup: async () => {},
        },
      });
    },
  };
}
