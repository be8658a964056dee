import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { criClient } from "./cri.js";
import type { E2eKind } from "./kuasar-containerd2.js";
import { readyKuasarEnv, type ShimBridgeEnv, sandboxersToml, shimBridgeContainerdOptions, startContainerdWithTestCni } from "./kuasar-env.js";
import { startSandboxer } from "./kuasard.js";

/**
 * How containerd 2.x drives a handler that names only a shim `runtime_type`:
 * `podsandbox` (its default: a pause-container task through the shim's Task API) or
 * `shim` (`sandboxer = "shim"`: the shim's own `containerd.runtime.sandbox.v1.Sandbox`).
 */
export type ShimSandboxMode = "podsandbox" | "shim";

/** One CRI runtime handler of the environment. */
export interface ShimHandler {
  name: string;
  /** e.g. `io.containerd.kuasar.v1`, or Kuasar's `io.containerd.kuasar-wasm.v2`. */
  runtimeType: string;
}

/** containerd 2.x reaching kuasard through the shim bridge. */
export type Containerd2ShimWithKuasar = ShimBridgeEnv;

/** containerd 2.x (config version 3) TOML of `handlers`, with nothing but the shim named (plus `sandboxer = "shim"` in mode shim). */
export function shimHandlersToml(mode: ShimSandboxMode, handlers: readonly ShimHandler[]): string {
  return handlers
    .map((h) => {
      const table = `plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.${h.name}`;
      let s = `\n[${table}]\n  runtime_type = "${h.runtimeType}"\n`;
      if (mode === "shim") s += `  sandboxer = "shim"\n`;
      return s;
    })
    .join("");
}

/**
 * Stock containerd 2.x whose handlers name only our shim (`bin/` on its PATH,
 * `KUASAR_SHIM_SOCKET` in its environment), and one kuasard serving the shim bridge
 * for `kinds` (plus `extraConfig`, e.g. the vmm sandboxer's hypervisor table). CRI's pinned
 * sandbox image is the busybox image (podsandbox mode wants one in its store; the bridge never
 * runs it). Everything is stopped after the test.
 */
export async function containerd2ShimWithKuasar(
  t: TestContext,
  mode: ShimSandboxMode,
  handlers: readonly ShimHandler[],
  kinds: readonly E2eKind[] = ["runc"],
  extraConfig = "",
): Promise<Containerd2ShimWithKuasar> {
  const dir = mkdtempSync("/tmp/k2s-");
  const shimSocket = join(dir, "shim.sock");
  const containerd = await startContainerdWithTestCni({ version: "2", ...shimBridgeContainerdOptions("2", shimSocket), extraToml: shimHandlersToml(mode, handlers) });
  writeFileSync(join(dir, "kuasard.toml"), sandboxersToml(kinds, (k) => join(dir, `${k}.sock`), (k) => join(dir, `k${k[0]}`), undefined, extraConfig));
  const opts = {
    program: "kuasard" as const,
    dir: join(dir, "ks"),
    containerdTtrpcAddress: containerd.ttrpcAddress,
    args: ["--config", join(dir, "kuasard.toml"), "--state-dir", join(dir, "ks"), "--shim-listen", shimSocket],
  };
  const env: Containerd2ShimWithKuasar = {
    dir,
    shimSocket,
    containerd,
    kuasard: startSandboxer(opts),
    endpointPid: 0,
    custodyPid: 0,
    cri: criClient(containerd),
  };
  return readyKuasarEnv(t, dir, env, () => env.kuasard);
}
