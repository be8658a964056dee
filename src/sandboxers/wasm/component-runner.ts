/**
 * The node runner's path for a WASI preview 2 component (`wasi:cli/command`), loaded by
 * `runner.ts` only when the launch names a transpiled component (a `ComponentCache` entry:
 * jco's `component.js`, its core modules and manifest). Same steps and exit codes as for a
 * core module ({@link RunnerExit}):
 *
 * 1. at Create: reads the manifest, checks the component exports `wasi:cli/run` and imports
 *    only what this host provides (preview2-shim's `wasi:cli`, `filesystem`, `io`, `clocks`,
 *    `random`, `sockets`), compiles the core modules, sets args, env, cwd and the preopens
 *    (126 on any failure);
 * 2. waits on the start FIFO;
 * 3. instantiates (synchronously: jco's sync instantiation) and calls `run`. `wasi:cli/exit`
 *    is ours: `exit-with-code(n)` exits n, `exit(ok|err)` 0|1, as does `run` returning;
 *    a trap exits 134. The memory cap is V8's `--wasm-max-mem-pages`, which covers every core
 *    module's memory: an initial memory above it, or a trap or non-zero exit with a memory
 *    at the cap, exits 137 with the OOM marker, as for modules.
 *
 * stdio goes through preview2-shim's I/O worker to fds 0/1/2 (the container's FIFOs).
 */
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as cli from "@bytecodealliance/preview2-shim/cli";
import * as clocks from "@bytecodealliance/preview2-shim/clocks";
import * as filesystem from "@bytecodealliance/preview2-shim/filesystem";
import * as io from "@bytecodealliance/preview2-shim/io";
import * as random from "@bytecodealliance/preview2-shim/random";
import { COMPONENT_JS, MANIFEST, type ComponentManifest } from "./component-cache.js";
import { awaitStart, errorMessage, fail, memoryLimitExceeded } from "./runner-steps.js";
import { RunnerExit, WASM_PAGE_BYTES, wasmPagesForLimit, type WasmLaunch } from "./wasm-engine.js";

/** The part of the WebAssembly JS API used here (ambient; see runner.ts). */
declare namespace WebAssembly {
  class Module {
    constructor(bytes: Uint8Array);
  }
  class Instance {
    constructor(module: Module, imports: object);
    readonly exports: Record<string, unknown>;
  }
  class Memory {
    readonly buffer: ArrayBuffer;
  }
}

type Instantiate = (getCoreModule: (name: string) => WebAssembly.Module, imports: Record<string, object>, instantiateCore: (m: WebAssembly.Module, i: object) => WebAssembly.Instance) => Record<string, unknown>;

/** Thrown through the component by `wasi:cli/exit` to end `run` with a status. */
class ComponentExit {
  constructor(readonly code: number) {}
}

const exit = {
  exit(status: { tag: "ok" | "err" }): never {
    throw new ComponentExit(status.tag === "err" ? 1 : 0);
  },
  exitWithCode(code: number): never {
    throw new ComponentExit(code & 0xff);
  },
};

/** The WASI preview 2 interfaces this host provides, unversioned as jco names them. */
function hostInterfaces(sockets: Record<string, object> | undefined): Record<string, object> {
  return {
    "wasi:cli/environment": cli.environment,
    "wasi:cli/exit": exit,
    "wasi:cli/stdin": cli.stdin,
    "wasi:cli/stdout": cli.stdout,
    "wasi:cli/stderr": cli.stderr,
    "wasi:cli/terminal-input": cli.terminalInput,
    "wasi:cli/terminal-output": cli.terminalOutput,
    "wasi:cli/terminal-stdin": cli.terminalStdin,
    "wasi:cli/terminal-stdout": cli.terminalStdout,
    "wasi:cli/terminal-stderr": cli.terminalStderr,
    "wasi:filesystem/preopens": filesystem.preopens,
    "wasi:filesystem/types": filesystem.types,
    "wasi:io/error": io.error,
    "wasi:io/poll": io.poll,
    "wasi:io/streams": io.streams,
    "wasi:clocks/monotonic-clock": clocks.monotonicClock,
    "wasi:clocks/wall-clock": clocks.wallClock,
    "wasi:random/random": random.random,
    "wasi:random/insecure": random.insecure,
    "wasi:random/insecure-seed": random.insecureSeed,
    ...(sockets ?? {}),
  };
}

async function socketInterfaces(): Promise<Record<string, object>> {
  const s = await import("@bytecodealliance/preview2-shim/sockets");
  return {
    "wasi:sockets/instance-network": s.instanceNetwork,
    "wasi:sockets/ip-name-lookup": s.ipNameLookup,
    "wasi:sockets/network": s.network,
    "wasi:sockets/tcp": s.tcp,
    "wasi:sockets/tcp-create-socket": s.tcpCreateSocket,
    "wasi:sockets/udp": s.udp,
    "wasi:sockets/udp-create-socket": s.udpCreateSocket,
  };
}

/** Runs the component of `launch` (its `component` set) and exits; never returns normally. */
export async function runComponent(launch: WasmLaunch, name: string): Promise<void> {
  const dir = launch.component!;
  const cannot: (why: string) => never = (why) => fail(RunnerExit.CannotLoad, `cannot load wasm component ${name}: ${why}`);
  let manifest: ComponentManifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, MANIFEST), "utf8")) as ComponentManifest;
  } catch (err) {
    cannot(`its transpiled form ${dir}: ${errorMessage(err)}`);
  }
  if (!manifest.exports.some((e) => e === "run" || e.startsWith("wasi:cli/run@"))) cannot("no wasi:cli/run export (not a wasi:cli/command)");
  const imports = hostInterfaces(manifest.imports.some((i) => i.startsWith("wasi:sockets/")) ? await socketInterfaces() : undefined);
  const missing = manifest.imports.find((i) => !(i in imports));
  if (missing !== undefined) cannot(`it imports ${missing}, which this host does not provide`);

  let instantiate: Instantiate;
  try {
    instantiate = ((await import(pathToFileURL(join(dir, COMPONENT_JS)).href)) as { instantiate: Instantiate }).instantiate;
  } catch (err) {
    cannot(errorMessage(err));
  }
  const modules = new Map<string, WebAssembly.Module>();
  for (const file of Object.keys(manifest.files).filter((f) => f.endsWith(".wasm"))) {
    try {
      modules.set(file, new WebAssembly.Module(readFileSync(join(dir, file))));
    } catch (err) {
      cannot(`${file}: ${errorMessage(err)}`);
    }
  }
  const env: Record<string, string> = {};
  for (const entry of launch.env) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  cli._setArgs(launch.args);
  cli._setEnv(env);
  cli._setCwd(launch.cwd);
  // preview2-shim opens a preopen lazily: a missing directory is caught here, at Create.
  for (const host of Object.values(launch.preopens)) {
    let isDir = false;
    try {
      isDir = statSync(host).isDirectory();
    } catch (err) {
      fail(RunnerExit.CannotLoad, `cannot start wasm component ${name}: preopened directory ${host}: ${errorMessage(err)}`);
    }
    if (!isDir) fail(RunnerExit.CannotLoad, `cannot start wasm component ${name}: preopened directory ${host}: not a directory`);
  }
  try {
    // Typed for the browser shim's in-memory files; the node shim takes guest → host paths.
    filesystem._setPreopens(launch.preopens as unknown as Parameters<typeof filesystem._setPreopens>[0]);
  } catch (err) {
    fail(RunnerExit.CannotLoad, `cannot start wasm component ${name}: preopened directories: ${errorMessage(err)}`);
  }

  awaitStart(launch.startFifo);

  const limitPages = wasmPagesForLimit(launch.memoryLimitBytes);
  const memories: WebAssembly.Memory[] = [];
  const atLimit = (): boolean => limitPages > 0 && memories.some((m) => m.buffer.byteLength >= limitPages * WASM_PAGE_BYTES);
  let instance: Record<string, unknown>;
  try {
    instance = instantiate(
      (file) => modules.get(file) ?? cannot(`its JS asks for a core module ${file} it does not have`),
      imports,
      (module, importObject) => {
        const i = new WebAssembly.Instance(module, importObject);
        for (const v of Object.values(i.exports)) if (v instanceof WebAssembly.Memory) memories.push(v);
        return i;
      },
    );
  } catch (err) {
    if (err instanceof ComponentExit) process.exit(err.code); // a start function that exits
    // V8 refuses an initial memory above --wasm-max-mem-pages with a RangeError.
    if (limitPages > 0 && err instanceof RangeError) memoryLimitExceeded(launch);
    cannot(`instantiation: ${errorMessage(err)}`);
  }
  const runner = (instance["run"] ?? Object.entries(instance).find(([k]) => k.startsWith("wasi:cli/run@"))?.[1]) as { run?: () => void } | undefined;
  const run = runner?.run;
  if (typeof run !== "function") return cannot("no wasi:cli/run export (not a wasi:cli/command)");
  let code = 0;
  try {
    run.call(runner);
  } catch (err) {
    if (err instanceof ComponentExit) code = err.code;
    else if (isComponentError(err)) code = 1; // run returned err
    else {
      if (atLimit()) memoryLimitExceeded(launch);
      fail(RunnerExit.Trap, `wasm trap: ${errorMessage(err)}`);
    }
  }
  if (code !== 0 && atLimit()) memoryLimitExceeded(launch);
  process.exit(code);
}

/** jco's error for an export returning `err` (a `ComponentError` with a payload), as opposed to a trap. */
function isComponentError(err: unknown): boolean {
  return err instanceof Error && err.constructor.name === "ComponentError" && "payload" in err;
}
