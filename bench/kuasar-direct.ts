/**
 * Ours, direct: stock containerd 2.x with our sandboxer as a `proxy_plugins` sandbox plugin
 * and a CRI runtime naming it (`sandboxer = ...`), as in the e2e tests
 * (`testing/kuasar-containerd2.ts`). No shim, no pause container. Two variants: the
 * runc sandboxer alone (`runc-sandboxer`, busybox pods), and the wasm sandboxer in a kuasard
 * that hosts runc and wasm side by side, each on its own socket and handler, with only wasm
 * pods (the blocking module of `wasm-workload.ts`).
 *
 * @internal benchmark, not part of the runtime
 */
import { access, constants } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { startContainerd } from "../testing/containerd.js";
import { containerdBinaries } from "../testing/deps.js";
import { which } from "../src/fs/which.js";
import { defaultHolderBinary } from "../src/holder/start-holder.js";
import { defaultPauseBinary } from "../src/sandboxers/gvisor/gvisor-sandboxer.js";
import { locateOciRuntime } from "../src/oci-runtime/oci-runtime-command.js";
import type { BenchConfiguration, RunningConfiguration } from "./bench-configuration.js";
import type { SandboxerKind } from "./kuasar-daemon.js";
import { runKuasar } from "./kuasar-running.js";
import { wasmEngineWorkload, type BenchWasmEngine } from "./wasm-workload.js";

/** CRI runtime handler and proxy plugin name of the runc sandboxer. */
export const KUASAR_RUNC_HANDLER = "kuasar-runc";

/** CRI runtime handler (and, on containerd 2.x, proxy plugin name) of the wasm sandboxer. */
export const KUASAR_WASM_HANDLER = "kuasar-wasm";

/** CRI runtime handler (and, on containerd 2.x, proxy plugin name) of the gvisor sandboxer. */
export const KUASAR_GVISOR_HANDLER = "kuasar-gvisor";

/** CRI runtime handler (and proxy plugin name) of the vmm sandboxer (the VM section, `vmm-section.ts`). */
export const KUASAR_VMM_HANDLER = "kuasar-vmm";

/** The CRI runtime handler of `kind`. */
export const kuasarHandler = (kind: SandboxerKind): string =>
  kind === "wasm" ? KUASAR_WASM_HANDLER : kind === "gvisor" ? KUASAR_GVISOR_HANDLER : kind === "vmm" ? KUASAR_VMM_HANDLER : KUASAR_RUNC_HANDLER;

/** The kinds a daemon hosts to run `kind`'s pods: runc alone, or runc beside the other kind (how a node runs both). */
export const kuasarHostedKinds = (kind: SandboxerKind): SandboxerKind[] => (kind === "runc" ? ["runc"] : ["runc", kind]);

/** The OCI runtimes the runc sandboxer is measured on (`[sandboxers.runc] runtime`). */
export type BenchOciRuntime = "runc" | "crun";

/**
 * What varies within a kind: the runc kind's OCI runtime (`[sandboxers.runc] runtime`) and the
 * wasm kind's engine (`[sandboxers.wasm] wasm_engine`). Defaults: runc, node.
 */
export interface KuasarVariant {
  readonly runtime?: BenchOciRuntime;
  readonly wasmEngine?: BenchWasmEngine;
  /** vmm pods restored from a VM template (`[sandboxers.vmm.hypervisor] template = true`). */
  readonly vmmTemplate?: boolean;
}

/** The variant with its defaults; a runtime for another kind than runc, or an engine for another than wasm, is a RangeError. */
export function resolveVariant(kind: SandboxerKind, v: KuasarVariant): Required<KuasarVariant> {
  const runtime = v.runtime ?? "runc";
  const wasmEngine = v.wasmEngine ?? "node";
  const vmmTemplate = v.vmmTemplate ?? false;
  if (runtime !== "runc" && kind !== "runc") throw new RangeError(`runtime ${runtime}: only the runc kind has one`);
  if (wasmEngine !== "node" && kind !== "wasm") throw new RangeError(`wasm engine ${wasmEngine}: only the wasm kind has one`);
  if (vmmTemplate && kind !== "vmm") throw new RangeError("vmmTemplate: only the vmm kind has templates");
  return { runtime, wasmEngine, vmmTemplate };
}

/** The id part naming a variant other than the default ("-crun", "-wasmedge-pod"), else "". */
const variantSuffix = (kind: SandboxerKind, v: KuasarVariant): string => {
  const { runtime, wasmEngine, vmmTemplate } = resolveVariant(kind, v);
  return runtime !== "runc" ? `-${runtime}` : wasmEngine !== "node" ? `-${wasmEngine}` : vmmTemplate ? "-template" : "";
};

/** The label part naming the variant: the OCI runtime when it is not runc, the wasm kind's engine always. */
export const variantLabel = (kind: SandboxerKind, v: KuasarVariant): string => {
  const { runtime, wasmEngine, vmmTemplate } = resolveVariant(kind, v);
  return kind === "wasm" ? `wasm sandboxer (${wasmEngine})` : runtime !== "runc" ? `${kind} sandboxer on ${runtime},` : vmmTemplate ? `${kind} sandboxer (VM template)` : `${kind} sandboxer`;
};

/** Id of {@link kuasarDirectConfiguration} for `kind` and its variant. */
export const kuasarDirectId = (kind: SandboxerKind, v: KuasarVariant = {}): string => `kuasar-${kind}${variantSuffix(kind, v)}-direct-ctrd2`;

/** Why the runc sandboxer cannot run on `runtime` here, or undefined (runc itself is checked by the harness). */
export function ociRuntimeMissing(runtime: BenchOciRuntime): string | undefined {
  if (runtime === "runc") return undefined;
  try {
    locateOciRuntime(runtime, "runc");
    return undefined;
  } catch (err) {
    return `${err instanceof Error ? err.message : String(err)} (run packaging/install-deps.sh)`;
  }
}

/**
 * Fails unless the daemon logged that it chose `runtime`: the runc kind falls back to runc when
 * its runtime fails the start probe, and a crun configuration measuring runc would lie.
 */
export function checkChosenRuntime(logs: string, runtime: BenchOciRuntime): void {
  // runc is taken as configured, unprobed and unlogged: it is the fallback itself.
  if (runtime === "runc") return;
  for (const line of logs.split("\n")) {
    if (!line.includes('"OCI runtime')) continue;
    const m = /"oci_runtime":"([^"]+)"/.exec(line);
    if (m?.[1] === runtime) return;
    throw new Error(`kuasard runs ${m?.[1] ?? "?"}, not ${runtime}: ${line}`);
  }
  throw new Error(`kuasard did not log which OCI runtime it chose (wanted ${runtime})`);
}

/** Id of the shim-bridge configuration for `kind` and its variant (`kuasar-shim-bridge.ts`). */
export const kuasarBridgeId = (kind: SandboxerKind, v: KuasarVariant = {}): string => `kuasar-${kind}${variantSuffix(kind, v)}-bridge-ctrd17`;

/** What a wasm pod runs per container under `engine`, for the descriptions. */
export const wasmPerContainer = (engine: BenchWasmEngine): string =>
  engine === "node"
    ? "one C holder per pod launching one node:wasi runner per container"
    : "one C holder per pod launching one kuasar-wasm-run per container, which hands the container to the pod's kuasar-wasm-host (WasmEdge, module validated once) to run in a fork";

/** The workload description of `kind` (JSON `workload`). */
export function kuasarWorkload(kind: SandboxerKind, v: KuasarVariant = {}): string {
  return kind === "wasm" ? wasmEngineWorkload(resolveVariant(kind, v).wasmEngine).workload : KUASAR_WORKLOAD[kind];
}

/** The management processes of `kind` beyond kuasard, kuasar-endpoint and the holders, in words. */
export function kuasarKindManagement(kind: SandboxerKind, v: KuasarVariant = {}): string {
  if (kind === "wasm") return wasmEngineWorkload(resolveVariant(kind, v).wasmEngine).management;
  if (kind === "gvisor") return "runsc gofers + runsc wait per container (the runsc sandboxes are the containers: workload)";
  return "";
}

const KUASAR_WORKLOAD: Readonly<Record<Exclude<SandboxerKind, "wasm">, string>> = {
  runc: "busybox `/bin/sleep 86400`; per-container memory = that process",
  gvisor: "busybox `/bin/sleep 86400` inside the pod's gVisor sandbox (runsc, ptrace platform); per-container memory = the runsc sandbox process and its ptrace stubs (gofers and runsc wait count as management)",
  vmm: "busybox `/bin/sleep 86400` inside the pod's QEMU micro-VM (guest agent = our holder); QEMU and virtiofsd are reported per pod, apart from management",
};

/** containerd 2.x TOML wiring `socket` as sandbox proxy plugin `handler` plus a CRI runtime of that name. */
function proxySandboxerToml(handler: string, socket: string): string {
  return `
[proxy_plugins.${handler}]
  type = "sandbox"
  address = "${socket}"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.${handler}]
  runtime_type = "io.containerd.kuasar.v1"
  sandboxer = "${handler}"
`;
}

/** The first of the `[path, what it is]` files that cannot be read, as a reason; undefined when all can. */
async function firstMissing(need: ReadonlyArray<readonly [string, string]>): Promise<string | undefined> {
  for (const [path, what] of need) {
    const ok = await access(path, constants.R_OK).then(
      () => true,
      () => false,
    );
    if (!ok) return `${what} missing at ${path}`;
  }
  return undefined;
}

/** Why our runc sandboxer cannot run here (not built), or undefined. */
export async function kuasarRuncMissing(): Promise<string | undefined> {
  const need = [
    [defaultHolderBinary, "the pod holder (make -C native)"],
    [fileURLToPath(new URL("../src/cli/runc-sandboxer.js", import.meta.url)), "dist/src/cli/runc-sandboxer.js (npm run build)"],
  ] as const;
  return firstMissing(need);
}

/** Why kuasard cannot host `kind` (in its variant) here (not built, no runsc, no WasmEdge), or undefined. */
export async function kuasarMissing(kind: SandboxerKind, v: KuasarVariant = {}): Promise<string | undefined> {
  const missing = await kuasarRuncMissing();
  if (missing !== undefined || kind === "runc") return missing;
  if (kind === "wasm") {
    const engine = wasmEngineWorkload(resolveVariant(kind, v).wasmEngine).missing();
    if (engine !== undefined) return engine;
  }
  if (kind === "gvisor" && which("runsc") === undefined) return "runsc not found on PATH (Debian package runsc)";
  const need: ReadonlyArray<readonly [string, string]> = [
    [fileURLToPath(new URL("../src/cli/kuasard.js", import.meta.url)), "dist/src/cli/kuasard.js (npm run build)"],
    kind === "wasm"
      ? [fileURLToPath(new URL("../src/sandboxers/wasm/runner.js", import.meta.url)), "dist/src/sandboxers/wasm/runner.js (npm run build)"]
      : kind === "vmm"
        ? [fileURLToPath(new URL("../src/sandboxers/vmm/vmm-sandboxer.js", import.meta.url)), "dist/src/sandboxers/vmm/vmm-sandboxer.js (npm run build)"]
        : [defaultPauseBinary, "build/native/kuasar-pause (make -C native)"],
  ];
  return firstMissing(need);
}

/** Where {@link kuasarDirectConfiguration}'s daemon keeps `kind`'s state (`dir` of its table) under the setup's `runDir`, else its `dir`. */
export const kuasarDirectKindDir = (setupDir: string, kind: SandboxerKind): string => join(setupDir, "k", kind);

/**
 * Our `kind` sandboxer behind stock containerd 2.x's Sandbox API client: `runc` served by
 * `runc-sandboxer` alone; `wasm` served by a kuasard hosting runc and wasm (how a node runs
 * both, as in `test/e2e/wasm-sandboxer.test.ts`), with only wasm pods started. `vmmTemplate`:
 * vmm pods restored from a VM template (`[sandboxers.vmm.hypervisor] template = true`).
 */
export function kuasarDirectConfiguration(kind: SandboxerKind = "runc", variant: KuasarVariant = {}): BenchConfiguration {
  const { runtime, wasmEngine, vmmTemplate } = resolveVariant(kind, variant);
  const crun = runtime === "crun";
  const wasm = kind === "wasm";
  const gvisor = kind === "gvisor";
  const handler = kuasarHandler(kind);
  const hosted = kuasarHostedKinds(kind);
  const extra = kuasarKindManagement(kind, variant);
  return {
    id: kuasarDirectId(kind, variant),
    label: `ours: ${variantLabel(kind, variant)} direct, containerd 2.x`,
    role: "ours",
    containerdVersion: "2",
    description: wasm
      ? `stock containerd 2.x CRI with our kuasard (runc and wasm sandboxers, one socket and handler each) as proxy sandbox plugins; pods on handler kuasar-wasm, wasm_engine = "${wasmEngine}": ${wasmPerContainer(wasmEngine)}, no shim, no pause container`
      : gvisor
        ? "stock containerd 2.x CRI with our kuasard (runc and gvisor sandboxers, one socket and handler each) as proxy sandbox plugins; pods on handler kuasar-gvisor: one C holder per pod launching one runsc sandbox (root container: a static pause program, no image) that the pod's containers join, no shim"
        : crun
          ? "as the runc sandboxer direct, with `runtime = \"crun\"`: the same holder per pod runs each container with crun (C) instead of runc (Go)"
          : "stock containerd 2.x CRI with our runc-sandboxer as proxy sandbox plugin (Sandbox API over gRPC, Task API through kuasar-endpoint); one C holder per pod, no shim, no pause container",
    managementProcesses: kind === "runc" ? "runc-sandboxer (kuasard) + kuasar-endpoint + every kuasar-holder" : `kuasard (runc + ${kind}) + kuasar-endpoint + every kuasar-holder${extra === "" ? "" : `; ${extra}`}`,
    workload: kuasarWorkload(kind, variant),
    wasmEngine: wasm ? wasmEngine : null,
    compareWith: kind === "runc" && !crun ? null : kuasarDirectId("runc"),
    async availability() {
      try {
        containerdBinaries("2");
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
      return (await kuasarMissing(kind, variant)) ?? ociRuntimeMissing(runtime);
    },
    async setup(ctx): Promise<RunningConfiguration> {
      const kdir = dirname(kuasarDirectKindDir(ctx.runDir ?? ctx.dir, kind));
      const listens = Object.fromEntries(hosted.map((k) => [k, join(kdir, `${k}.sock`)])) as Record<SandboxerKind, string>;
      const containerd = await startContainerd({
        version: "2",
        parentDir: ctx.dir,
        stateParentDir: ctx.runDir ?? "",
        extraToml: hosted.map((k) => proxySandboxerToml(kuasarHandler(k), listens[k])).join(""),
      });
      return runKuasar({
        containerd,
        index: ctx.index,
        daemon: { dir: kdir, containerdTtrpcAddress: containerd.ttrpcAddress, sandboxers: hosted, ...(crun ? { runtime } : {}), ...(wasm ? { wasmEngine } : {}), vmmTemplate },
        kind,
        wasmEngine,
        runtimeHandler: handler,
        importPauseImage: false,
        check: (d) => {
          for (const k of hosted) {
            if (d.listens[k] !== listens[k]) throw new Error(`${k} sandboxer listens on ${d.listens[k]}, containerd expects ${listens[k]}`);
          }
          if (kind === "runc") checkChosenRuntime(d.logs(), runtime);
        },
        shimLauncher: undefined,
      });
    },
  };
}
