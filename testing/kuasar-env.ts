import type { Teardowns } from "./teardown-scope.js";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUSYBOX_IMAGE, importBusybox } from "./busybox-image.js";
import { startContainerd, type Containerd, type ContainerdOptions } from "./containerd.js";
import type { CriClient } from "./cri.js";
import { containerdBinaries, repoRoot } from "./deps.js";
import { tearDownKuasar, type SandboxerProcess } from "./kuasard.js";

/*
 * What every e2e environment of containerd plus our daemon shares, whichever way
 * containerd reaches it (sandbox proxy plugin, shim bridge, the kuasar-io fork).
 */

/**
 * A CNI config giving each pod its own network namespace with an address on a
 * bridge that lives in the test's private network namespace (the e2e runner's
 * `unshare --net`): TEST-NET-1 addresses, no gateway, no masquerading, so no
 * packet can leave it. One route (TEST-NET-2 through the test's own bridge address,
 * see testing/vm-pod.ts `joinPodBridge`) gives every pod a gateway route that a VM
 * pod's guest must carry over.
 */
const TEST_CNI = JSON.stringify({
  cniVersion: "1.0.0",
  name: "kuasar-e2e",
  plugins: [
    { type: "bridge", bridge: "kuasar0", isGateway: false, ipMasq: false, ipam: { type: "host-local", ranges: [[{ subnet: "192.0.2.0/24" }]], routes: [{ dst: "198.51.100.0/24", gw: "192.0.2.254" }] } },
    { type: "loopback" },
  ],
});

/** Starts containerd with {@link TEST_CNI} as its only network. */
export async function startContainerdWithTestCni(options: Partial<ContainerdOptions> & Pick<ContainerdOptions, "version">): Promise<Containerd> {
  const containerd = await startContainerd(options);
  writeFileSync(join(containerd.cniConfDir, "10-kuasar-e2e.conflist"), TEST_CNI);
  return containerd;
}

/**
 * containerd options for handlers that name only our shim: `bin/` on containerd's PATH
 * so it finds the launcher, `KUASAR_SHIM_SOCKET` naming the bridge, and busybox as CRI's
 * sandbox image (CRI wants one in its store; the bridge never runs it).
 */
export function shimBridgeContainerdOptions(version: "1.7" | "2", shimSocket: string): Pick<ContainerdOptions, "sandboxImage" | "env"> {
  return {
    sandboxImage: BUSYBOX_IMAGE,
    env: {
      PATH: `${containerdBinaries(version).binDir}:${join(repoRoot(), "bin")}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
      KUASAR_SHIM_SOCKET: shimSocket,
    },
  };
}

/**
 * kuasard's `[sandboxers.<kind>]` tables: one socket and state dir per kind, and the Sandbox API
 * it speaks if not containerd's, then `extraConfig`. The wasm kind runs on `node` unless
 * `extraConfig` names its engine (the daemon's default, `auto`, would pick wasmedge-pod where
 * WasmEdge is installed): the wasm suites keep testing node, and the engine suites
 * (wasm-pod-host, wasm-wasmedge) name theirs.
 */
export function sandboxersToml<K extends string>(kinds: readonly K[], sockOf: (k: K) => string, dirOf: (k: K) => string, sandboxApi?: string, extraConfig = ""): string {
  const pin = (k: K) => (k === "wasm" && !/^\s*wasm_engine\s*=/m.test(extraConfig) ? `wasm_engine = "node"\n` : "");
  return kinds.map((k) => `[sandboxers.${k}]\nlisten = "${sockOf(k)}"\n${sandboxApi ? `sandbox_api = "${sandboxApi}"\n` : ""}dir = "${dirOf(k)}"\n${pin(k)}`).join("\n") + extraConfig;
}

/** What every environment has, and what {@link readyKuasarEnv} needs of one. */
export interface KuasarEnvParts {
  /** The test's dir: the daemons' sockets, state and logs are below it. */
  dir: string;
  containerd: Containerd;
  cri: CriClient;
  endpointPid: number;
  /** Pid of the endpoint's custody process. */
  custodyPid: number;
}

/** An environment whose containerd reaches kuasard through the shim bridge. */
export interface ShimBridgeEnv extends KuasarEnvParts {
  /** The bridge's socket (`KUASAR_SHIM_SOCKET`). */
  shimSocket: string;
  kuasard: SandboxerProcess;
}

/**
 * Registers the environment's teardown (CRI client, containerd, the daemon `daemon()` names
 * at that time, then the endpoint and every pod process recorded under `dir`, by pid),
 * waits for the daemon to be ready, records the endpoint's pids and imports busybox into
 * `namespaces`. The daemon's state dir is `<dir>/ks`.
 */
export async function readyKuasarEnv<E extends KuasarEnvParts>(t: Teardowns, dir: string, env: E, daemon: () => SandboxerProcess, namespaces: readonly string[] = ["k8s.io"]): Promise<E> {
  t.after(() =>
    tearDownKuasar(dir, () => ({ stateDir: join(dir, "ks"), pids: [env.endpointPid, env.custodyPid] }), async () => {
      env.cri.close();
      await env.containerd.stop();
      await daemon().stop();
    }),
  );
  ({ endpointPid: env.endpointPid, custodyPid: env.custodyPid } = await daemon().ready);
  for (const ns of namespaces) await importBusybox(env.containerd, ns);
  return env;
}
