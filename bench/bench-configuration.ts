/**
 * What the benchmark needs from a configuration (a containerd version plus a runtime
 * path): how to tell whether it exists, how to bring it up, which processes are its
 * management processes, and (for shim paths) how containerd would execute its shim.
 * New sandboxers (wasm, vmm, gvisor) plug in by adding one of these to `configurations.ts`.
 *
 * @internal benchmark, not part of the runtime
 */
import type { CriClient } from "../testing/cri.js";
import type { ContainerConfigInit } from "./pod-workload.js";
import type { ProcessInfo } from "../testing/process-table.js";
import type { ConfigurationRole } from "./results.js";

/** How containerd would run the configuration's shim binary for a new task (protocols.md §3.2). */
export interface ShimLauncher {
  /** Absolute path of the shim binary. */
  readonly binary: string;
  /** containerd's gRPC socket (`-address`, `GRPC_ADDRESS`). */
  readonly containerdAddress: string;
  /** containerd's ttrpc socket (`TTRPC_ADDRESS`). */
  readonly containerdTtrpcAddress: string;
  /** The containerd executable (`-publish-binary`). */
  readonly publishBinary: string;
  /** Whether the containerd in question accepts `{"version":3,...}` from `start` (2.x yes, 1.7 no). */
  readonly acceptsVersion3: boolean;
  /** containerd's environment as the shim inherits it (PATH, plus configuration-specific variables). */
  readonly env: Readonly<Record<string, string>>;
  /** Undoes what one successful `start` left behind (a spawned shim server, ...), given the bundle dir and task id. */
  cleanup(bundleDir: string, id: string, output: string): Promise<void>;
}

/** A configuration brought up by {@link BenchConfiguration.setup}. */
export interface RunningConfiguration {
  /** CRI client on the configuration's containerd. */
  readonly cri: CriClient;
  /** CRI runtime handler to put in RunPodSandbox. */
  readonly runtimeHandler: string;
  /** Pid of containerd (reported separately from the management processes). */
  readonly containerdPid: number;
  /** Pids of the long-lived processes this configuration started (containerd, daemons): left out of the other configurations' memory snapshots. */
  readonly fixedPids: readonly number[];
  /** The workload container of every pod (same for all runc-style configurations). */
  readonly container: ContainerConfigInit;
  /**
   * The workload role of `p` when `p` is a pod's container process: the runc container's own
   * process, or the runner process of a wasm container ("container process (busybox sleep)",
   * "wasm runner (node:wasi)"); else undefined. Workload is counted apart from management.
   */
  workloadRole(p: ProcessInfo): string | undefined;
  /**
   * The management role of `p` ("kuasard", "kuasar-endpoint", "kuasar-holder",
   * "containerd-shim-runc-v2", ...), or undefined when `p` is not a management process.
   */
  managementRole(p: ProcessInfo): string | undefined;
  /** kuasard's phase log (`phase_log`), for ours; undefined for stock configurations. */
  readonly phaseLog: string | undefined;
  /** Set for shim paths: how to time `<shim> start`. */
  readonly shimLauncher: ShimLauncher | undefined;
  /** containerd's log and the logs of the configuration's daemons so far (kept when the configuration fails). */
  logs(): Promise<string>;
  /** Stops everything this configuration started (recorded pids only). Idempotent. */
  close(): Promise<void>;
}

/** Where a configuration may put its files. */
export interface SetupContext {
  /** A fresh directory for this configuration (short: socket paths go under it). */
  readonly dir: string;
  /**
   * A fresh directory on tmpfs for the runtime state a node keeps under /run: containerd's
   * `state` (/run/containerd: the shims' bundles, FIFOs, sockets) and kuasard's sockets and
   * kind dirs (their defaults: /run/kuasar, /run/kuasar-<kind>). Absent: under `dir`, on disk.
   */
  readonly runDir?: string;
  /** Index of the configuration in the run; keeps CNI networks apart. */
  readonly index: number;
  /** Progress lines. */
  readonly log: (line: string) => void;
}

/** One line of the comparison. */
export interface BenchConfiguration {
  /** Stable id (JSON, `--only`). */
  readonly id: string;
  /** Label in tables and charts. */
  readonly label: string;
  readonly role: ConfigurationRole;
  /** `"1.7"` or `"2"`. */
  readonly containerdVersion: "1.7" | "2";
  /** What runs, in one sentence. */
  readonly description: string;
  /** The management processes counted, in words (documentation and JSON). */
  readonly managementProcesses: string;
  /** The container each pod runs and the process(es) it amounts to, in words (documentation and JSON). */
  readonly workload: string;
  /** The wasm kind's engine (`wasm_engine`) for a wasm configuration; null or absent otherwise. */
  readonly wasmEngine?: string | null;
  /**
   * Id of the configuration this one is set beside in the report's same-path comparison (a
   * wasm configuration names the runc sandboxer on the same containerd path), or null.
   */
  readonly compareWith: string | null;
  /** The largest pod count its memory curve goes to on this host (the run's larger counts are skipped for it); absent: all of them. */
  readonly maxMemoryPods?: number;
  /** undefined when the configuration can run here; otherwise why not ("not available yet: ..."). */
  availability(): Promise<string | undefined>;
  /** Brings the configuration up (containerd, daemons, images, CNI). */
  setup(ctx: SetupContext): Promise<RunningConfiguration>;
}
