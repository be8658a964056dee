import type { Teardowns } from "./teardown-scope.js";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./deps.js";
import { criClient } from "./cri.js";
import { readyKuasarEnv, type KuasarEnvParts, sandboxersToml, startContainerdWithTestCni } from "./kuasar-env.js";
import { startSandboxer, type SandboxerProcess } from "./kuasard.js";

/** The CRI runtime handler (and proxy plugin name) the e2e tests configure. */
export const HANDLER = "kuasar-runc";

export interface Containerd2WithKuasar extends KuasarEnvParts {
  listen: string;
  sandboxerDir: string;
  sandboxer: SandboxerProcess;
  /** Starts the sandboxer again with the same flags (after a crash). */
  restartSandboxer(): Promise<SandboxerProcess>;
}

/**
 * Stock containerd 2.x configured only by a `proxy_plugins` sandbox entry and a
 * CRI runtime handler with `sandboxer = ...`, plus our runc sandboxer, plus the
 * busybox image in k8s.io. Everything is stopped, by recorded pid, after the test.
 */
/** The CRI runtime handler (and proxy plugin name) of the wasm sandboxer. */
export const WASM_HANDLER = "kuasar-wasm";

/** The CRI runtime handler (and proxy plugin name) of the gvisor sandboxer. */
export const GVISOR_HANDLER = "kuasar-gvisor";

/** The CRI runtime handler (and proxy plugin name) of the vmm sandboxer. */
export const VMM_HANDLER = "kuasar-vmm";

/** Sandboxer kinds the e2e environments can host. */
export type E2eKind = "runc" | "wasm" | "gvisor" | "vmm";

const handlerOf: Record<E2eKind, string> = { runc: HANDLER, wasm: WASM_HANDLER, gvisor: GVISOR_HANDLER, vmm: VMM_HANDLER };
/** Each kind's socket and state dir names under the test dir (runc's are the historical `runc.sock`, `kr`). */
const filesOf: Record<E2eKind, { sock: string; dir: string }> = {
  runc: { sock: "runc.sock", dir: "kr" },
  wasm: { sock: "wasm.sock", dir: "kw" },
  gvisor: { sock: "gvisor.sock", dir: "kg" },
  vmm: { sock: "vmm.sock", dir: "kv" },
};

/**
 * containerd 2.x TOML wiring one sandboxer socket as a proxy plugin plus a CRI runtime handler.
 * With `launcherForInfo` (the launcher, by the name of its kind) the handler is declared
 * `io.containerd.runc.v2` with that `runtime_path`: containerd up to 2.3 asks only such
 * handlers for their features (it runs `<runtime_path> -info`); tasks still go to the sandboxer.
 */
export function proxySandboxerToml(handler: string, socket: string, launcherForInfo?: string): string {
  const runtime = launcherForInfo ? `runtime_type = "io.containerd.runc.v2"\n  runtime_path = "${launcherForInfo}"` : `runtime_type = "io.containerd.kuasar.v1"`;
  return `
[proxy_plugins.${handler}]
  type = "sandbox"
  address = "${socket}"

[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.${handler}]
  ${runtime}
  sandboxer = "${handler}"
`;
}

/** The launcher by the name that asks for `kind` (`bin/containerd-shim-kuasar-<kind>-v2`). */
export function launcherOf(kind: E2eKind): string {
  return join(repoRoot(), "bin", `containerd-shim-kuasar-${kind}-v2`);
}

/**
 * With one kind its single-kind binary (`runc-sandboxer`, `gvisor-sandboxer`)
 * serves; with more kinds one `kuasard` serves them all, each on its own socket
 * and handler. `extraConfig` is appended to kuasard's TOML (e.g. `[sandboxers.vmm.hypervisor]`).
 */
export async function containerd2WithKuasar(
  t: Teardowns,
  kinds: readonly E2eKind[] = ["runc"],
  extraConfig = "",
  options: {
    /** `stateDirPath(dir)`: the first kind's --dir below the test dir (default `<dir>/<kr|kw|kg|kv>`), e.g. a very long one. */
    stateDirPath?: (dir: string) => string;
    /** Called with the first kind's state dir before the sandboxer starts (e.g. to mount a small tmpfs there). */
    prepareSandboxerDir?: (dir: string) => void;
    /**
     * Declare the handlers as the README recommends, so containerd introspects their features
     * (see {@link proxySandboxerToml}); false: the older `io.containerd.kuasar.v1` form. Default true.
     */
    introspectable?: boolean;
    /** Top-level keys of kuasard's TOML (before any table), e.g. `metrics_address = "127.0.0.1:0"`; runs kuasard even for one kind. */
    topConfig?: string;
    /** Node/V8 flags of the sandboxer process (`testing/kuasard.ts`). */
    nodeFlags?: readonly string[];
    /** Flags after the harness's (e.g. `--log-level info`: the last wins). */
    sandboxerArgs?: readonly string[];
  } = {},
): Promise<Containerd2WithKuasar> {
  const dir = mkdtempSync("/tmp/k2-");
  const listen = join(dir, filesOf[kinds[0]!].sock);
  const dirOf = (k: E2eKind) => (k === kinds[0] && options.stateDirPath ? options.stateDirPath(dir) : join(dir, filesOf[k].dir));
  const sandboxerDir = dirOf(kinds[0]!);
  const containerd = await startContainerdWithTestCni({
    version: "2",
    extraToml: kinds.map((k) => proxySandboxerToml(handlerOf[k], join(dir, filesOf[k].sock), (options.introspectable ?? true) ? launcherOf(k) : undefined)).join(""),
  });
  let run = 0;
  const single = kinds.length === 1 && (kinds[0] === "runc" || kinds[0] === "gvisor") && extraConfig === "" && !options.topConfig;
  if (!single) {
    writeFileSync(
      join(dir, "kuasard.toml"),
      (options.topConfig ? `${options.topConfig}\n` : "") + sandboxersToml(kinds, (k) => join(dir, filesOf[k].sock), dirOf, undefined, extraConfig),
    );
  }
  const opts = single
    ? { program: `${kinds[0] as "runc" | "gvisor"}-sandboxer` as const, listen, dir: sandboxerDir, containerdTtrpcAddress: containerd.ttrpcAddress, args: ["--state-dir", join(dir, "ks"), ...(options.sandboxerArgs ?? [])], nodeFlags: options.nodeFlags }
    : { program: "kuasard" as const, dir: join(dir, "ks"), containerdTtrpcAddress: containerd.ttrpcAddress, args: ["--config", join(dir, "kuasard.toml"), "--state-dir", join(dir, "ks"), "--shim-listen", "", ...(options.sandboxerArgs ?? [])], nodeFlags: options.nodeFlags };
  mkdirSync(sandboxerDir, { recursive: true });
  options.prepareSandboxerDir?.(sandboxerDir);
  const env: Containerd2WithKuasar = {
    dir,
    listen,
    sandboxerDir,
    containerd,
    sandboxer: startSandboxer(opts, run),
    endpointPid: 0,
    custodyPid: 0,
    cri: criClient(containerd),
    async restartSandboxer() {
      env.sandboxer = startSandboxer(opts, ++run);
      await env.sandboxer.ready;
      return env.sandboxer;
    },
  };
  return readyKuasarEnv(t, dir, env, () => env.sandboxer);
}

/**
 * Runs `call` until containerd's gRPC client has re-dialled a restarted
 * sandboxer (it backs off up to 3 s between attempts, and a call on a connection the
 * old daemon accepted as it stopped fails with "connection error": kubelet retries alike).
 */
export async function afterRedial<T>(call: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await call();
    } catch (err) {
      if (i >= 100 || !/connection refused|connection error|Unavailable|transport/i.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
