import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { criClient } from "./cri.js";
import type { E2eKind } from "./kuasar-containerd2.js";
import { readyKuasarEnv, type KuasarEnvParts, sandboxersToml, startContainerdWithTestCni } from "./kuasar-env.js";
import { startSandboxer, type SandboxerProcess } from "./kuasard.js";

/** The CRI runtime handler (and proxy plugin name) of each kind on the fork, as Kuasar's docs name them. */
export const forkHandlerOf: Record<E2eKind, string> = { runc: "kuasar-runc", wasm: "kuasar-wasm", gvisor: "kuasar-gvisor", vmm: "kuasar-vmm" };

/**
 * The fork's config (version 2, modeled on its example config): one `type = "sandbox"` proxy
 * plugin per kind and a CRI handler naming it with `sandboxer`. `runtime_type` is never run:
 * the sandboxer's task address is always set, so the fork dials it instead of a shim.
 */
export function forkSandboxerToml(handler: string, socket: string): string {
  return `
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${handler}]
  runtime_type = "io.containerd.kuasar.v1"
  sandboxer = "${handler}"

[proxy_plugins.${handler}]
  type = "sandbox"
  address = "${socket}"
`;
}

export interface ForkWithKuasar extends KuasarEnvParts {
  /** State dir of each kind. */
  dirOf: (k: E2eKind) => string;
  sandboxer: SandboxerProcess;
}

/**
 * The kuasar-io containerd fork (`ENABLE_CRI_SANDBOXES=1`) in the test's private dirs,
 * and our sandboxers speaking its Sandbox API: runc alone through `runc-sandboxer
 * --sandbox-api kuasar-io` (Kuasar's own flags plus ours), several kinds through one
 * kuasard whose sockets say `sandbox_api = "kuasar-io"`. Busybox is in k8s.io.
 */
export async function forkWithKuasar(t: TestContext, kinds: readonly E2eKind[] = ["runc"], extraConfig = ""): Promise<ForkWithKuasar> {
  const dir = mkdtempSync("/tmp/kf-");
  const sock = (k: E2eKind) => join(dir, `${k}.sock`);
  const dirOf = (k: E2eKind) => join(dir, `k${k[0]}`);
  const containerd = await startContainerdWithTestCni({
    version: "1.7",
    flavour: "kuasar-io",
    extraToml: kinds.map((k) => forkSandboxerToml(forkHandlerOf[k], sock(k))).join(""),
  });
  const single = kinds.length === 1 && kinds[0] === "runc" && extraConfig === "";
  if (!single) {
    writeFileSync(
      join(dir, "kuasard.toml"),
      sandboxersToml(kinds, sock, dirOf, "kuasar-io", extraConfig),
    );
  }
  const opts = single
    ? { program: "runc-sandboxer" as const, listen: sock("runc"), dir: dirOf("runc"), containerdTtrpcAddress: containerd.ttrpcAddress, args: ["--sandbox-api", "kuasar-io", "--state-dir", join(dir, "ks")] }
    : { program: "kuasard" as const, dir: join(dir, "ks"), containerdTtrpcAddress: containerd.ttrpcAddress, args: ["--config", join(dir, "kuasard.toml"), "--state-dir", join(dir, "ks"), "--shim-listen", ""] };
  for (const k of kinds) mkdirSync(dirOf(k), { recursive: true });
  const env: ForkWithKuasar = {
    dir,
    dirOf,
    containerd,
    sandboxer: startSandboxer(opts),
    endpointPid: 0,
    custodyPid: 0,
    cri: criClient(containerd),
  };
  return readyKuasarEnv(t, dir, env, () => env.sandboxer);
}
