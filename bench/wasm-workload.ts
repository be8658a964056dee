/**
 * The wasm configurations' workload: an OCI image holding one WASI preview1 module that
 * prints a line and then blocks in `poll_oneoff` on an hour-long clock subscription, over
 * and over, so the container stays RUNNING without burning CPU (50 spinning modules would
 * saturate a 2-core host and distort every other number). The module is written in WAT
 * here and compiled with wabt while the benchmark sets up, like the e2e test modules;
 * nothing is downloaded.
 *
 * Which process is the container depends on the engine ({@link BenchWasmEngine}), and that
 * process is counted as workload, the counterpart of a runc container's own process:
 *
 * - `node`: one runner process per container (`node` running the sandboxer's `runner.js`,
 *   see `src/sandboxers/wasm/node-wasi-engine.ts`), launched by the pod's holder.
 * - `wasmedge-pod`: the instance, a fork of the pod's `kuasar-wasm-host` that runs the
 *   module (its own VM, WASI, linear memory). The host (one per pod: WasmEdge loaded, the
 *   module validated, no guest code) and each container's `kuasar-wasm-run` (the holder's
 *   handle: stdio hand-over, signals, exit status) are the runtime's, like a gvisor pod's
 *   gofer and `runsc wait`: management, as is the node's one zygote the hosts are forked
 *   from (counted with its daemon, kuasar-daemon.ts). Forks share pages copy-on-write, so PSS splits those pages between the zygote and
 *   the hosts (management) and the instances (workload).
 *
 * @internal benchmark, not part of the runtime
 */
import { basename } from "node:path";
import type { Containerd } from "../testing/containerd.js";
import { importWasmImage } from "../testing/wasm-image.js";
import { watToWasm } from "../testing/wat-modules.js";
import { defaultNodeWasiEngineOptions } from "../src/sandboxers/wasm/node-wasi-engine.js";
import { locateWasmEdgePod, WASM_HOST_COMM, WASM_INSTANCE_COMM, WASM_RUN_COMM } from "../src/sandboxers/wasm/wasmedge-pod-engine.js";
import type { ContainerConfigInit } from "./pod-workload.js";
import type { ProcessInfo } from "../testing/process-table.js";

/** Reference of the benchmark's wasm image (imported, never pulled). */
export const BENCH_WASM_IMAGE = "docker.io/library/kuasar-bench-wasm:latest";

/** Path of the module inside the image, and the container's command. */
export const BENCH_WASM_MODULE = "/block.wasm";

/** Timeout of each `poll_oneoff` clock subscription, ns (one hour). */
export const BLOCK_TIMEOUT_NS = 3_600_000_000_000n;

/**
 * The blocking module, as WAT:
 *
 * 1. `fd_write(1, ...)` of `ready\n` (one iovec at address 0, `nwritten` at 8);
 * 2. one subscription at 64 (48 bytes, preview1 layout): `userdata` u64 at +0, tag u8 at +8
 *    (0 = clock), clock id u32 at +16 (1 = monotonic), `timeout` u64 at +24, `precision`
 *    u64 at +32, flags u16 at +40 (0 = relative); the event goes to 128, `nevents` to 160;
 * 3. `poll_oneoff` in a loop: when the hour is up it simply waits another hour.
 */
export const BLOCKING_WAT = `
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 256) "ready\\n")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 256))
    (i32.store (i32.const 4) (i32.const 6))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i64.store (i32.const 64) (i64.const 0))
    (i32.store8 (i32.const 72) (i32.const 0))
    (i32.store (i32.const 80) (i32.const 1))
    (i64.store (i32.const 88) (i64.const ${BLOCK_TIMEOUT_NS}))
    (i64.store (i32.const 96) (i64.const 0))
    (i32.store16 (i32.const 104) (i32.const 0))
    (loop $forever
      (drop (call $poll_oneoff (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 160)))
      (br $forever))))
`;

/** {@link BLOCKING_WAT} compiled to a validated wasm binary. */
export function blockingWasmModule(): Promise<Uint8Array> {
  return watToWasm("bench-block", BLOCKING_WAT);
}

/** Builds the image (only {@link BENCH_WASM_MODULE}, entrypoint it) and imports it into `namespace`. */
export async function importBenchWasmImage(containerd: Containerd, namespace: string): Promise<void> {
  await importWasmImage(containerd, namespace, BENCH_WASM_IMAGE, { [basename(BENCH_WASM_MODULE)]: await blockingWasmModule() }, BENCH_WASM_MODULE);
}

/** The workload container of the wasm configurations: the blocking module as the only process of its runner. */
export function blockingWasmContainer(): ContainerConfigInit {
  return {
    metadata: { name: "app", attempt: 0 },
    image: { image: BENCH_WASM_IMAGE },
    command: [BENCH_WASM_MODULE],
    logPath: "app.log",
  };
}

/** The wasm engines the benchmark measures (`wasm_engine` of `[sandboxers.wasm]`). */
export type BenchWasmEngine = "node" | "wasmedge-pod";

/** How one engine's wasm containers appear in the process table, and whether it can run here. */
export interface WasmEngineWorkload {
  readonly engine: BenchWasmEngine;
  /** What runs per container and which process is its memory, in words (JSON `workload`). */
  readonly workload: string;
  /** The engine's management processes, in words (after the daemon's and holders'). */
  readonly management: string;
  /** The workload role of `p` (the process that is the container), else undefined. */
  workloadRole(p: ProcessInfo): string | undefined;
  /** The management role of `p` among the engine's own processes, else undefined. */
  managementRole(p: ProcessInfo): string | undefined;
  /** Why the engine cannot run here, or undefined. */
  missing(): string | undefined;
}

/** Role of a wasm container's runner process in the memory snapshots (engine `node`). */
export const WASM_RUNNER_ROLE = "wasm runner (node:wasi)";
/** Role of a wasmedge-pod container's instance (the fork running the module). */
export const WASM_INSTANCE_ROLE = "wasm instance (fork of the pod's kuasar-wasm-host)";

const none = (): undefined => undefined;

/** The process table's view of `engine` (see the module comment for what counts as what, and why). */
export function wasmEngineWorkload(engine: BenchWasmEngine): WasmEngineWorkload {
  if (engine === "node") {
    return {
      engine,
      workload:
        "a WASI module that prints a line and blocks in poll_oneoff (1 h clock, looped), run by one node:wasi runner process per container that the pod holder launches; per-container memory = that runner",
      management: "the wasm runners are the containers: workload",
      workloadRole: (p) => (p.cmdline.includes(defaultNodeWasiEngineOptions.runnerPath) ? WASM_RUNNER_ROLE : undefined),
      managementRole: none,
      missing: none,
    };
  }
  return {
    engine,
    workload:
      "a WASI module that prints a line and blocks in poll_oneoff (1 h clock, looped), run by a fork of the pod's kuasar-wasm-host (WasmEdge, module validated once per pod) per container; per-container memory = that fork (its private pages plus its PSS share of the host's copy-on-write ones)",
    management: "one kuasar-wasm-host per pod (WasmEdge loaded, module validated, no guest code) and one kuasar-wasm-run per container (stdio hand-over, signals, exit status); the instances are the containers: workload",
    workloadRole: (p) => (p.comm === WASM_INSTANCE_COMM ? WASM_INSTANCE_ROLE : undefined),
    // The node's zygote is the daemon's child: its role comes with the daemon's (kuasar-daemon.ts),
    // so another configuration's daemon's zygote, running beside, is not counted here.
    managementRole: (p) => (p.comm === WASM_HOST_COMM ? "kuasar-wasm-host (per pod)" : p.comm === WASM_RUN_COMM ? "kuasar-wasm-run (per container)" : undefined),
    missing: () => {
      try {
        locateWasmEdgePod();
        return undefined;
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    },
  };
}
