import { existsSync } from "node:fs";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { which } from "../../fs/which.js";
import { defaultNodeWasiEngineOptions, NodeWasiEngine } from "./node-wasi-engine.js";
import type { WasmEngine } from "./wasm-engine.js";
import { WasmtimeEngine } from "./wasmtime-engine.js";

import { wasmEngineNames, type WasmEngineName } from "./wasm-engine-names.js";

export { wasmEngineNames, type WasmEngineName };

/** How the wasm sandboxer runs modules. */
export interface WasmEngineOptions {
  /** `"node"` (V8 through `node:wasi`, nothing to install) or `"wasmtime"` (a system binary). Default `"node"`. */
  engine: WasmEngineName;
  /** The node binary of the `node` engine. Default `process.execPath`. */
  nodeBinary: string;
  /** V8 old-space cap of each node runner in MiB (`--max-old-space-size`). Default 32. */
  nodeMaxOldSpaceMiB: number;
  /** The wasmtime binary of the `wasmtime` engine, a name looked up on PATH or a path. Default `wasmtime`. */
  wasmtimeBinary: string;
  /** Extra `wasmtime run` flags. Default none. */
  wasmtimeArgs: string[];
}

/** Defaults of {@link WasmEngineOptions}. */
export const defaultWasmEngineOptions: WasmEngineOptions = {
  engine: "node",
  nodeBinary: defaultNodeWasiEngineOptions.nodeBinary,
  nodeMaxOldSpaceMiB: defaultNodeWasiEngineOptions.maxOldSpaceMiB,
  wasmtimeBinary: "wasmtime",
  wasmtimeArgs: [],
};

/** Merges `partial` over the defaults and validates each field eagerly (InvalidArgument naming the field). */
export function resolveWasmEngineOptions(partial: Partial<WasmEngineOptions> = {}): WasmEngineOptions {
  const o: WasmEngineOptions = { ...defaultWasmEngineOptions, ...partial };
  if (!(wasmEngineNames as readonly string[]).includes(o.engine)) {
    throw new RuntimeError(Code.InvalidArgument, `wasm engine: unknown engine ${JSON.stringify(o.engine)} (known: ${wasmEngineNames.join(", ")})`);
  }
  if (typeof o.nodeBinary !== "string" || o.nodeBinary === "") throw new RuntimeError(Code.InvalidArgument, "wasm engine: nodeBinary must be a non-empty string");
  if (!Number.isSafeInteger(o.nodeMaxOldSpaceMiB) || o.nodeMaxOldSpaceMiB < 8) {
    throw new RuntimeError(Code.InvalidArgument, `wasm engine: nodeMaxOldSpaceMiB must be an integer >= 8, got ${o.nodeMaxOldSpaceMiB}`);
  }
  if (typeof o.wasmtimeBinary !== "string" || o.wasmtimeBinary === "") throw new RuntimeError(Code.InvalidArgument, "wasm engine: wasmtimeBinary must be a non-empty string");
  if (!Array.isArray(o.wasmtimeArgs) || !o.wasmtimeArgs.every((a) => typeof a === "string")) {
    throw new RuntimeError(Code.InvalidArgument, "wasm engine: wasmtimeArgs must be a list of strings");
  }
  return o;
}

/**
 * The engine the options name, with its binary resolved to an absolute path
 * (the holder executes argv[0] without a PATH search). A missing or
 * non-executable binary (or a missing node runner) fails with FailedPrecondition, so the sandboxer can
 * refuse to start, or refuse the container, with a clear reason.
 */
export function engineFromOptions(partial: Partial<WasmEngineOptions> = {}, path = process.env["PATH"] ?? ""): WasmEngine {
  const o = resolveWasmEngineOptions(partial);
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
