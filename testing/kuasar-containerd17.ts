import type { Teardowns } from "./teardown-scope.js";
import { mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { criClient } from "./cri.js";
import type { E2eKind } from "./kuasar-containerd2.js";
import { readyKuasarEnv, type ShimBridgeEnv, sandboxersToml, shimBridgeContainerdOptions, startContainerdWithTestCni } from "./kuasar-env.js";
import { startSandboxer, type SandboxerProcess } from "./kuasard.js";

/** The CRI runtime handler the 1.7 tests configure, backed by `io.containerd.kuasar.v1`. */
export const HANDLER_17 = "kuasar";

export interface Containerd17WithKuasar extends ShimBridgeEnv {
  /** Starts kuasard again with the same flags (after a crash). */
  restartKuasard(): Promise<SandboxerProcess>;
  /** Restarts containerd itself on the same root and state. */
  restartContainerd(): Promise<void>;
}

/**
 * Stock containerd 1.7 using the shim bridge: `containerd-shim-kuasar-v1` on
 * its PATH, `KUASAR_SHIM_SOCKET` in its environment, a CRI runtime handler of
 * type `io.containerd.kuasar.v1`, and kuasard with `--shim-listen`. The CRI
 * sandbox image setting names the busybox image: CRI 1.7 insists on having
 * one in its store, but the bridge never runs it.
 */
/** The 1.7 runtime handler whose options pick the wasm sandboxer (`sandboxer = "wasm"`). */
export const WASM_HANDLER_17 = handler17Of("wasm");

/** The 1.7 runtime handler whose options pick the gvisor sandboxer. */
export const GVISOR_HANDLER_17 = handler17Of("gvisor");

/** The 1.7 runtime handler whose options pick sandboxer `kind` (`sandboxer = "<kind>"`); runc is the default handler's. */
export function handler17Of(kind: string): string {
  return kind === "runc" ? HANDLER_17 : `kuasar-${kind}`;
}

/**
 * containerd 1.7 TOML: a CRI runtime handler of type `io.containerd.kuasar.v1`,
 * and one more per extra sandboxer kind whose options table sends its pods there.
 */
export function bridgeRuntimesToml(handler: string, extraKinds: readonly string[] = []): string {
  // pod_annotations as the README's config has it: io.kuasar.* pod annotations reach kuasard.
  const runtime = (name: string) => `\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${name}]\n  runtime_type = "io.containerd.kuasar.v1"\n  pod_annotations = ["io.kuasar.*"]\n`;
  return (
    runtime(handler) +
    extraKinds
      .filter((k) => k !== "runc")
      .map((k) => `${runtime(handler17Of(k))}[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${handler17Of(k)}.options]\n  sandboxer = "${k}"\n`)
      .join("")
  );
}

export async function containerd17WithKuasar(t: Teardowns, kinds: readonly E2eKind[] = ["runc"], extraConfig = ""): Promise<Containerd17WithKuasar> {
  const dir = mkdtempSync("/tmp/k17-");
  const shimSocket = join(dir, "shim.sock");
  const containerd = await startContainerdWithTestCni({ version: "1.7", ...shimBridgeContainerdOptions("1.7", shimSocket), extraToml: bridgeRuntimesToml(HANDLER_17, kinds) });
  let run = 0;
  // One kind is served by flags alone, unless the test adds config for it.
  const withConfig = kinds.length > 1 || extraConfig !== "";
  const opts = {
    program: "kuasard" as const,
    listen: kinds.length > 1 ? undefined : join(dir, "runc.sock"),
    dir: join(dir, "kr"),
    containerdTtrpcAddress: containerd.ttrpcAddress,
    args: ["--state-dir", join(dir, "ks"), "--shim-listen", shimSocket, ...(withConfig ? ["--config", join(dir, "kuasard.toml")] : [])],
  };
  if (withConfig) {
    writeFileSync(join(dir, "kuasard.toml"), sandboxersToml(kinds, (k) => join(dir, `${k}.sock`), (k) => join(dir, `k${k[0]}`), undefined, extraConfig));
  }
  const env: Containerd17WithKuasar = {
    dir,
    shimSocket,
    containerd,
    kuasard: startSandboxer(opts, run),
    endpointPid: 0,
    custodyPid: 0,
    cri: criClient(containerd),
    async restartKuasard() {
      env.kuasard = startSandboxer(opts, ++run);
      await env.kuasard.ready;
      return env.kuasard;
    },
    async restartContainerd() {
      env.cri.close();
      await containerd.restart();
      env.cri = criClient(containerd);
      // CRI answers "server is not initialized yet" until it has recovered its state.
      for (let i = 0; ; i++) {
        try {
          await env.cri.runtime.listPodSandbox({});
          return;
        } catch (err) {
          if (i >= 300 || !/not initialized/.test((err as Error).message)) throw err;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
  };
  return readyKuasarEnv(t, dir, env, () => env.kuasard, ["k8s.io", "default"]);
}
