/**
 * The wasm runner: one process per wasm container, started by the pod's holder
 * in the pod's network namespace with the container's stdio FIFOs as fds
 * 0/1/2 (see {@link NodeWasiEngine} for the command line).
 *
 * 1. decodes the {@link WasmLaunch} from `$KUASAR_WASM_LAUNCH`;
 * 2. reads and compiles the module, checks it is a WASI preview1 command,
 *    and opens the preopened directories, so a broken container fails during
 *    Create (exit 126/127, before the FIFO is even opened);
 * 3. opens the start FIFO and blocks until one byte arrives (Start);
 * 4. instantiates and runs `_start` through `node:wasi`, and exits with the
 *    module's `proc_exit` code, 134 on a trap, 137 when the memory limit
 *    stopped it: its initial memory is above the cap, or it trapped or exited
 *    non-zero with its memory at the cap (see {@link RunnerExit}).
 *
 * A WASI preview 2 component (the launch names its transpiled JS) is run by
 * `component-runner.ts` instead, through the same steps and exit codes.
 *
 * Every step is synchronous on the main thread, and the runner installs no
 * signal handler: SIGTERM and SIGKILL keep their default effect and end the
 * process at once, even while the module spins in a loop or the runner waits
 * in open(2) on the FIFO. Imports are kept to `node:fs`, `node:wasi` and the
 * engine contract, because this program starts once per container.
 */
import { readFileSync } from "node:fs";
import { WASI } from "node:wasi";
import { awaitStart, errorMessage, fail, memoryLimitExceeded } from "./runner-steps.js";
import { wasmBinaryKind } from "./wasm-binary-kind.js";
import { decodeLaunch, LAUNCH_ENV, RunnerExit, WASM_PAGE_BYTES, wasmPagesForLimit, type WasmLaunch } from "./wasm-engine.js";

const WASI_MODULE = "wasi_snapshot_preview1";

/**
 * The part of the WebAssembly JS API the runner uses: the project compiles
 * without the DOM lib and @types/node 20 does not declare it. Ambient only;
 * at run time the name is V8's global.
 */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
    static exports(module: Module): { name: string; kind: string }[];
    static imports(module: Module): { module: string; name: string; kind: string }[];
  }
  class Instance {
    constructor(module: Module, imports: object);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
  }
}

function readLaunch(): WasmLaunch {
  const encoded = process.env[LAUNCH_ENV];
  if (!encoded) fail(RunnerExit.RuntimeFailure, `wasm runner: $${LAUNCH_ENV} is not set`);
  try {
    return decodeLaunch(encoded);
  } catch (err) {
    fail(RunnerExit.RuntimeFailure, `wasm runner: ${errorMessage(err)}`);
  }
}

/** Reads and compiles the module, and checks that it is a WASI preview1 command. */
function loadModule(launch: WasmLaunch, name: string): WebAssembly.Module {
  let bytes: Buffer;
  try {
    bytes = readFileSync(launch.module);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") fail(RunnerExit.NotFound, `wasm module ${name} not found`);
    fail(RunnerExit.CannotLoad, `cannot load wasm module ${name}: ${errorMessage(err)}`);
  }
  if (wasmBinaryKind(bytes) === "component") {
    fail(RunnerExit.CannotLoad, `cannot load wasm module ${name}: it is a WASI preview 2 component, and its launch names no transpiled component`);
  }
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(bytes);
  } catch (err) {
    fail(RunnerExit.CannotLoad, `cannot load wasm module ${name}: ${errorMessage(err)}`);
  }
  const exports = WebAssembly.Module.exports(module);
  if (!exports.some((e) => e.name === "_start" && e.kind === "function")) {
    fail(RunnerExit.CannotLoad, `cannot load wasm module ${name}: no _start function export (not a WASI command)`);
  }
  if (!exports.some((e) => e.name === "memory" && e.kind === "memory")) {
    fail(RunnerExit.CannotLoad, `cannot load wasm module ${name}: no memory export`);
  }
  const foreign = WebAssembly.Module.imports(module).find((i) => i.module !== WASI_MODULE);
  if (foreign) {
    fail(RunnerExit.CannotLoad, `cannot load wasm module ${name}: it imports ${foreign.module}.${foreign.name}; only ${WASI_MODULE} is provided`);
  }
  return module;
}

function makeWasi(launch: WasmLaunch, name: string): WASI {
  const env: Record<string, string> = {};
  for (const entry of launch.env) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  try {
    return new WASI({ version: "preview1", args: launch.args, env, preopens: launch.preopens, returnOnExit: true, stdin: 0, stdout: 1, stderr: 2 });
  } catch (err) {
    fail(RunnerExit.CannotLoad, `cannot start wasm module ${name}: preopened directories: ${errorMessage(err)}`);
  }
}

/**
 * True when the module's memory cannot grow by one more page under the limit.
 * A failed `memory.grow` is invisible from outside (it returns -1 to the
 * module), so the runner infers it: a module that ends badly (trap or
 * non-zero exit) with its memory at the cap is reported as out of memory.
 */
function atMemoryLimit(instance: WebAssembly.Instance, limitPages: number): boolean {
  if (limitPages === 0) return false;
  const memory = instance.exports["memory"];
  return memory instanceof WebAssembly.Memory && memory.buffer.byteLength >= limitPages * WASM_PAGE_BYTES;
}

function run(): void {
  const launch = readLaunch();
  const name = launch.args[0] ?? launch.module;
  if (launch.component !== undefined) {
    // Loaded only for a component: a core module's runner never reads the WASI preview 2 host.
    import("./component-runner.js").then(
      (c) => c.runComponent(launch, name),
      (err: unknown) => fail(RunnerExit.RuntimeFailure, `wasm runner: cannot load the component host: ${errorMessage(err)}`),
    );
    return;
  }
  const limitPages = wasmPagesForLimit(launch.memoryLimitBytes);
  const module = loadModule(launch, name);
  const wasi = makeWasi(launch, name);
  awaitStart(launch.startFifo);

  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, wasi.getImportObject());
  } catch (err) {
    // V8 refuses an initial memory above --wasm-max-mem-pages with a RangeError.
    if (limitPages > 0 && err instanceof RangeError) memoryLimitExceeded(launch);
    fail(RunnerExit.CannotLoad, `cannot instantiate wasm module ${name}: ${errorMessage(err)}`);
  }
  let code: number;
  try {
    code = wasi.start(instance);
  } catch (err) {
    // memory.grow returns -1 at the cap; the module then traps (or exits non-zero below).
    if (atMemoryLimit(instance, limitPages)) memoryLimitExceeded(launch);
    fail(RunnerExit.Trap, `wasm trap: ${errorMessage(err)}`);
  }
  if (code !== 0 && atMemoryLimit(instance, limitPages)) memoryLimitExceeded(launch);
  process.exit(code);
}

run();
