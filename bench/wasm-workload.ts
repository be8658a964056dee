/**
 * The wasm configurations' workload: an OCI image holding one WASI preview1 module that
 * prints a line and then blocks in `poll_oneoff` on an hour-long clock subscription, over
 * and over, so the container stays RUNNING without burning CPU (50 spinning modules would
 * saturate a 2-core host and distort every other number). The module is written in WAT
 * here and compiled with wabt while the benchmark sets up, like the e2e test modules;
 * nothing is downloaded.
 *
 * Each wasm container is one runner process (`node` running the sandboxer's `runner.js`,
 * see `src/sandboxers/wasm/node-wasi-engine.ts`), launched by the pod's holder: that
 * process is the container, the counterpart of a runc container's own process, so the
 * benchmark counts it as workload, not management.
 *
 * @internal benchmark, not part of the runtime
 */
import { basename } from "node:path";
import type { Containerd } from "../testing/containerd.js";
import { importWasmImage } from "../testing/wasm-image.js";
import { watToWasm } from "../testing/wat-modules.js";
import { defaultNodeWasiEngineOptions } from "../src/sandboxers/wasm/node-wasi-engine.js";
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

/** Role of a wasm container's runner process in the memory snapshots. */
export const WASM_RUNNER_ROLE = "wasm runner (node:wasi)";

/** {@link WASM_RUNNER_ROLE} when `p` is a wasm runner (its argv names the sandboxer's `runner.js`), else undefined. */
export function wasmRunnerRole(p: ProcessInfo): string | undefined {
  const runner = defaultNodeWasiEngineOptions.runnerPath;
  return p.cmdline.includes(runner) ? WASM_RUNNER_ROLE : undefined;
}
