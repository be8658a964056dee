/**
 * Our resident daemon as the benchmark runs it (`bin/runc-sandboxer`'s program through the
 * e2e harness, at log level info like containerd), and the rule that says which processes
 * are ours: the daemon, the kuasar-endpoint it started, every pod holder (by executable, so
 * forks such as a pod's `pod-init` count too) and any `containerd-shim-*` process.
 *
 * @internal benchmark, not part of the runtime
 */
import { readFileSync, realpathSync } from "node:fs";
import { basename, join } from "node:path";
import { killRecorded, startSandboxer } from "../../test/harness/kuasard.js";
import { defaultHolderBinary } from "../holder/start-holder.js";
import type { ProcessInfo } from "./process-table.js";

/** Options of {@link startKuasarDaemon}. */
export interface KuasarDaemonOptions {
  /** Directory for the sockets and `--dir` (short: unix socket paths). */
  readonly dir: string;
  /** containerd's ttrpc socket (`--containerd-ttrpc-address`). */
  readonly containerdTtrpcAddress: string;
  /** Flags added after the harness's (the last `--log-level` wins). Default `["--log-level", "info"]`. */
  readonly args: readonly string[];
}

/** A running daemon with the pids it is allowed to stop. */
export interface KuasarDaemon {
  /** Sandbox API socket (`--listen`). */
  readonly listen: string;
  readonly pid: number;
  readonly endpointPid: number;
  /** The role of `p` among our management processes (see the module comment), or undefined. */
  roleOf(p: ProcessInfo): string | undefined;
  /** The daemon's log so far. */
  logs(): string;
  /** The endpoint's log so far (`<state dir>/endpoint.log`). */
  endpointLogs(): string;
  /** SIGTERM to the daemon, SIGKILL to the endpoint it started (recorded pids only). */
  stop(): Promise<void>;
}

function holderPath(): string {
  try {
    return realpathSync(defaultHolderBinary);
  } catch {
    return defaultHolderBinary;
  }
}

/** Starts `runc-sandboxer --listen <dir>/runc.sock --dir <dir>/state ...` and waits until it is ready. */
export async function startKuasarDaemon(options: Partial<KuasarDaemonOptions> & Pick<KuasarDaemonOptions, "dir" | "containerdTtrpcAddress">): Promise<KuasarDaemon> {
  const o: KuasarDaemonOptions = { args: ["--log-level", "info"], ...options };
  const listen = join(o.dir, "runc.sock");
  const proc = startSandboxer({ program: "runc-sandboxer", listen, dir: join(o.dir, "state"), containerdTtrpcAddress: o.containerdTtrpcAddress, args: o.args });
  let endpointPid: number;
  try {
    endpointPid = (await proc.ready).endpointPid;
  } catch (err) {
    await proc.stop();
    throw err;
  }
  const holder = holderPath();
  return {
    listen,
    pid: proc.pid,
    endpointPid,
    roleOf: (p) => {
      if (p.pid === proc.pid) return "kuasard (runc-sandboxer)";
      if (p.pid === endpointPid) return "kuasar-endpoint";
      if (p.exe === holder || p.comm === "kuasar-holder") return p.comm === "kuasar-holder" ? "kuasar-holder" : `kuasar-holder fork (${p.comm})`;
      if (p.comm.startsWith("containerd-shim")) return basename(p.exe ?? p.comm);
      return undefined;
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
      killRecorded(endpointPid);
    },
  };
}
