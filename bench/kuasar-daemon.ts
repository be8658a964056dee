/**
 * Our resident daemon as the benchmark runs it, through the e2e harness at log level info
 * like containerd: `bin/runc-sandboxer`'s program for the runc sandboxer alone, or
 * `bin/kuasard` naming several sandboxers (each on its own socket and directory, as
 * `testing/kuasar-containerd2.ts` does for runc + wasm). Either gets a config file with its
 * `phase_log` (the report's steps inside kuasard) and the runc kind's `runtime` when asked. Also the rule
 * that says which processes are ours: the daemon, the kuasar-endpoint it started, every pod
 * holder (by executable, so forks such as a pod's `pod-init` count too) and any
 * `containerd-shim-*` process. A wasm container's runner, although the holder starts it, is
 * the container itself: workload, not management (`wasm-workload.ts`); so is a gvisor pod's
 * runsc sandbox, while its gofers and exit reporters are management (`gvisor-workload.ts`).
 *
 * @internal benchmark, not part of the runtime
 */
import { readFileSync, realpathSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { startSandboxer } from "../testing/kuasard.js";
import { stopEndpoint } from "../src/daemon/endpoint-launcher.js";
import { defaultHolderBinary, POD_INIT_COMM } from "../src/holder/start-holder.js";
import { runscManagementRole } from "./gvisor-workload.js";
import type { ProcessInfo } from "../testing/process-table.js";
import { WASM_ZYGOTE_COMM } from "../src/sandboxers/wasm/wasmedge-pod-engine.js";

/** Options of {@link startKuasarDaemon}. */
export interface KuasarDaemonOptions {
  /** Directory for the sockets and `--dir` (short: unix socket paths). */
  readonly dir: string;
  /** containerd's ttrpc socket (`--containerd-ttrpc-address`). */
  readonly containerdTtrpcAddress: string;
  /** Flags added after the harness's (the last `--log-level` wins). Default `["--log-level", "info"]`. */
  readonly args: readonly string[];
  /**
   * Sandboxers to host. Default `["runc"]`: `runc-sandboxer` with `--listen <dir>/runc.sock
   * --dir <dir>/state`. Anything else: `kuasard --config <dir>/kuasard.toml --state-dir
   * <dir>/state`, each kind listening on `<dir>/<kind>.sock` with its state in `<dir>/<kind>`.
   */
  readonly sandboxers: readonly SandboxerKind[];
  /** The runc kind's OCI runtime (`[sandboxers.runc] runtime`: "runc", "crun" or a path). Default: the daemon's default. */
  readonly runtime?: string;
  /** The wasm kind's engine (`[sandboxers.wasm] wasm_engine`). Default: the daemon's default. */
  readonly wasmEngine?: string;
  /** `[sandboxers.vmm.hypervisor] template = true`: vmm pods are restored from a VM template. Default false. */
  readonly vmmTemplate?: boolean;
}

/** A sandboxer kind the benchmark can host (see `src/daemon/kuasard-options.ts`). */
export type SandboxerKind = "runc" | "wasm" | "gvisor" | "vmm";

/** A running daemon with the pids it is allowed to stop. */
export interface KuasarDaemon {
  /** Sandbox API socket of the runc sandboxer (`--listen`), or of the first kind hosted. */
  readonly listen: string;
  /** Sandbox API socket of each hosted kind. */
  readonly listens: Readonly<Partial<Record<SandboxerKind, string>>>;
  readonly pid: number;
  readonly endpointPid: number;
  /** Pid of the endpoint's custody process (management too). */
  readonly custodyPid: number;
  /** kuasard's phase log (`phase_log`: one JSON line per pod phase and RPC served). */
  readonly phaseLog: string;
  /** The role of `p` among our management processes (see the module comment), or undefined. */
  roleOf(p: ProcessInfo): string | undefined;
  /** The daemon's log so far. */
  logs(): string;
  /** The endpoint's log so far (`<state dir>/endpoint.log`). */
  endpointLogs(): string;
  /** SIGTERM to the daemon, then the endpoint it started is stopped (recorded pids only). */
  stop(): Promise<void>;
}

function holderPath(): string {
  try {
    return realpathSync(defaultHolderBinary);
  } catch {
    return defaultHolderBinary;
  }
}

/** Starts the daemon (see {@link KuasarDaemonOptions.sandboxers}) and waits until it is ready. */
export async function startKuasarDaemon(options: Partial<KuasarDaemonOptions> & Pick<KuasarDaemonOptions, "dir" | "containerdTtrpcAddress">): Promise<KuasarDaemon> {
  const o: KuasarDaemonOptions = { args: ["--log-level", "info"], sandboxers: ["runc"], ...options };
  if (o.sandboxers.length === 0) throw new RangeError("sandboxers: want at least one kind");
  const stateDir = join(o.dir, "state");
  const listens = Object.fromEntries(o.sandboxers.map((k) => [k, join(o.dir, `${k}.sock`)])) as Partial<Record<SandboxerKind, string>>;
  const listen = listens.runc ?? (listens[o.sandboxers[0] as SandboxerKind] as string);
  const single = o.sandboxers.length === 1 && o.sandboxers[0] === "runc";
  const phaseLog = join(o.dir, "phases.jsonl");
  // Every daemon gets a config file: the phase log (the per-phase breakdown), the runc kind's runtime, the wasm kind's engine.
  const config = join(o.dir, "kuasard.toml");
  await mkdir(o.dir, { recursive: true });
  const kindTable = (k: SandboxerKind) =>
    k === "runc" && o.runtime !== undefined
      ? `runtime = "${o.runtime}"\n`
      : k === "wasm" && o.wasmEngine !== undefined
        ? `wasm_engine = "${o.wasmEngine}"\n`
        : k === "vmm" && o.vmmTemplate === true
          ? "[sandboxers.vmm.hypervisor]\ntemplate = true\n"
          : "";
  const tables = single
    ? [`[sandboxers.runc]\n${kindTable("runc")}`]
    : o.sandboxers.map((k) => `[sandboxers.${k}]\nlisten = "${listens[k] as string}"\ndir = "${join(o.dir, k)}"\n${kindTable(k)}`);
  await writeFile(config, [`phase_log = "${phaseLog}"\n`, ...tables].join("\n"));
  let proc;
  if (single) {
    proc = startSandboxer({ program: "runc-sandboxer", listen, dir: stateDir, containerdTtrpcAddress: o.containerdTtrpcAddress, args: ["--config", config, "--state-dir", stateDir, ...o.args] });
  } else {
    // The harness adds --shim-listen only through `args`; without one kuasard would take /run/kuasar/shim.sock.
    const shim = o.args.includes("--shim-listen") ? [] : ["--shim-listen", ""];
    proc = startSandboxer({ program: "kuasard", dir: stateDir, containerdTtrpcAddress: o.containerdTtrpcAddress, args: ["--config", config, "--state-dir", stateDir, ...shim, ...o.args] });
  }
  const daemonRole = single ? "kuasard (runc-sandboxer)" : `kuasard (${o.sandboxers.join(" + ")})`;
  let endpointPid: number, custodyPid: number;
  try {
    ({ endpointPid, custodyPid } = await proc.ready);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  const holder = holderPath();
  return {
    listen,
    listens,
    pid: proc.pid,
    endpointPid,
    custodyPid,
    phaseLog,
    roleOf: (p) => {
      if (p.pid === proc.pid) return daemonRole;
      if (p.pid === endpointPid) return "kuasar-endpoint";
      if (p.pid === custodyPid) return "kuasar-endpoint (custody)";
      if (p.exe === holder || p.comm === "kuasar-holder") return p.comm === "kuasar-holder" ? "kuasar-holder" : `kuasar-holder fork (${p.comm})`;
      if (p.comm === POD_INIT_COMM) return "kuasar-pod-init";
      // Its own zygote only: each configuration's daemon has one, and they run side by side.
      if (p.comm === WASM_ZYGOTE_COMM) return p.ppid === proc.pid ? "kuasar-wasm-host (node's zygote)" : undefined;
      if (p.comm.startsWith("containerd-shim")) return basename(p.exe ?? p.comm);
      return runscManagementRole(p);
    },
    logs: () => proc.logs(),
    endpointLogs: () => {
      try {
        return readFileSync(join(o.dir, "state", "endpoint.log"), "utf8");
      } catch {
        return "";
      }
    },
    async stop() {
      await proc.stop();
      await stopEndpoint(stateDir, [endpointPid, custodyPid]);
    },
  };
}
