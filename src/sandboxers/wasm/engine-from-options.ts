import { existsSync } from "node:fs";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { which } from "../../fs/which.js";
import { defaultNodeWasiEngineOptions, NodeWasiEngine } from "./node-wasi-engine.js";
import type { WasmEngine } from "./wasm-engine.js";
import { WasmEdgeEngine } from "./wasmedge-engine.js";
import { locateWasmEdgePod, WasmEdgePodEngine } from "./wasmedge-pod-engine.js";
import { locateWasmEdge } from "./wasmedge-location.js";
import { WasmtimeEngine } from "./wasmtime-engine.js";

import { wasmEngineNames, wasmEngineSettings, type WasmEngineName, type WasmEngineSetting } from "./wasm-engine-names.js";

export { wasmEngineNames, wasmEngineSettings, type WasmEngineName, type WasmEngineSetting };

/** How the wasm sandboxer runs modules. */
export interface WasmEngineOptions {
  /**
   * `"node"` (V8 through `node:wasi`, nothing to install), `"wasmtime"` (a system binary),
   * `"wasmedge"` (the WasmEdge CLI, a process per container), `"wasmedge-pod"` (WasmEdge in
   * one host per pod, a fork per container) or `"auto"` (`wasmedge-pod` where it is
   * installed, else `node`: {@link autoEngine}). Default `"node"`.
   */
  engine: WasmEngineSetting;
  /** The node binary of the `node` engine. Default `process.execPath`. */
  nodeBinary: string;
  /** V8 old-space cap of each node runner in MiB (`--max-old-space-size`). Default 32. */
  nodeMaxOldSpaceMiB: number;
  /** The wasmtime binary of the `wasmtime` engine, a name looked up on PATH or a path. Default `wasmtime`. */
  wasmtimeBinary: string;
  /** Extra `wasmtime run` flags. Default none. */
  wasmtimeArgs: string[];
  /** The WasmEdge CLI of the `wasmedge` engine: `wasmedge` (the private copy of install-deps.sh, else PATH), another name on PATH or a path. Default `wasmedge`. */
  wasmedgeBinary: string;
  /** Extra `wasmedge` flags (e.g. `--enable-jit`). Default none. */
  wasmedgeArgs: string[];
}

/** Defaults of {@link WasmEngineOptions}. */
export const defaultWasmEngineOptions: WasmEngineOptions = {
  engine: "node",
  nodeBinary: defaultNodeWasiEngineOptions.nodeBinary,
  nodeMaxOldSpaceMiB: defaultNodeWasiEngineOptions.maxOldSpaceMiB,
  wasmtimeBinary: "wasmtime",
  wasmtimeArgs: [],
  wasmedgeBinary: "wasmedge",
  wasmedgeArgs: [],
};

/** Merges `partial` over the defaults and validates each field eagerly (InvalidArgument naming the field). */
export function resolveWasmEngineOptions(partial: Partial<WasmEngineOptions> = {}): WasmEngineOptions {
  const o: WasmEngineOptions = { ...defaultWasmEngineOptions, ...partial };
  if (!(wasmEngineSettings as readonly string[]).includes(o.engine)) {
    throw new RuntimeError(Code.InvalidArgument, `wasm engine: unknown engine ${JSON.stringify(o.engine)} (known: ${wasmEngineSettings.join(", ")})`);
  }
  if (typeof o.nodeBinary !== "string" || o.nodeBinary === "") throw new RuntimeError(Code.InvalidArgument, "wasm engine: nodeBinary must be a non-empty string");
  if (!Number.isSafeInteger(o.nodeMaxOldSpaceMiB) || o.nodeMaxOldSpaceMiB < 8) {
    throw new RuntimeError(Code.InvalidArgument, `wasm engine: nodeMaxOldSpaceMiB must be an integer >= 8, got ${o.nodeMaxOldSpaceMiB}`);
  }
  if (typeof o.wasmtimeBinary !== "string" || o.wasmtimeBinary === "") throw new RuntimeError(Code.InvalidArgument, "wasm engine: wasmtimeBinary must be a non-empty string");
  if (!Array.isArray(o.wasmtimeArgs) || !o.wasmtimeArgs.every((a) => typeof a === "string")) {
    throw new RuntimeError(Code.InvalidArgument, "wasm engine: wasmtimeArgs must be a list of strings");
  }
  if (typeof o.wasmedgeBinary !== "string" || o.wasmedgeBinary === "") throw new RuntimeError(Code.InvalidArgument, "wasm engine: wasmedgeBinary must be a non-empty string");
  if (!Array.isArray(o.wasmedgeArgs) || !o.wasmedgeArgs.every((a) => typeof a === "string")) {
    throw new RuntimeError(Code.InvalidArgument, "wasm engine: wasmedgeArgs must be a list of strings");
  }
  return o;
}

/**
 * The engine the options name, with its binary resolved to an absolute path
 * (the holder executes argv[0] without a PATH search). A missing or
 * non-executable binary (or a missing node runner) fails with FailedPrecondition, so the sandboxer can
 * refuse to start, or refuse the container, with a clear reason.
 */
export function engineFromOptions(partial: Partial<WasmEngineOptions> = {}, path = process.env["PATH"] ?? "", wasmedgeDir?: string): WasmEngine {
  const o = resolveWasmEngineOptions(partial);
  if (o.engine === "auto") return autoEngine((engine) => engineFromOptions({ ...partial, engine }, path, wasmedgeDir)).engine;
  if (o.engine === "wasmedge-pod") return new WasmEdgePodEngine(locateWasmEdgePod(wasmedgeDir ? { wasmedgeDir } : {}));
  if (o.engine === "wasmedge") {
    return new WasmEdgeEngine({ wasmedge: locateWasmEdge(o.wasmedgeBinary, { path, ...(wasmedgeDir ? { dir: wasmedgeDir } : {}) }), extraArgs: o.wasmedgeArgs, shell: "/bin/sh" });
  }
  const binary = o.engine === "node" ? o.nodeBinary : o.wasmtimeBinary;
  const resolved = which(binary, path);
  if (!resolved) {
    throw new RuntimeError(Code.FailedPrecondition, `wasm engine ${o.engine}: binary ${JSON.stringify(binary)} not found or not executable`);
  }
  switch (o.engine) {
    case "node":
      if (!existsSync(defaultNodeWasiEngineOptions.runnerPath)) {
        throw new RuntimeError(Code.FailedPrecondition, `wasm engine node: runner ${defaultNodeWasiEngineOptions.runnerPath} not found (not built?)`);
      }
      return new NodeWasiEngine({ ...defaultNodeWasiEngineOptions, nodeBinary: resolved, maxOldSpaceMiB: o.nodeMaxOldSpaceMiB });
    case "wasmtime":
      return new WasmtimeEngine({ binary: resolved, extraArgs: o.wasmtimeArgs, shell: "/bin/sh" });
  }
}

/** What `"auto"` chose: the engine, and why it is not `wasmedge-pod` when it is not. */
export interface AutoEngine {
  readonly engine: WasmEngine;
  /** Why `wasmedge-pod` could not be made (what is missing); undefined when it was. */
  readonly fallback: string | undefined;
}

/**
 * `wasm_engine = "auto"`: the pod-level WasmEdge host when it can be made (per container a
 * fork costing a few hundred KB and a few ms, docs/adr/0008-wasm-pod-host.md), else `node`.
 */
export function autoEngine(make: (engine: WasmEngineName) => WasmEngine): AutoEngine {
  try {
    return { engine: make("wasmedge-pod"), fallback: undefined };
  } catch (err) {
    return { engine: make("node"), fallback: RuntimeError.from(err).message };
  }
}
