import { resolve } from "node:path";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { privateDepsDir, privateProgramArgv } from "../../fs/private-deps.js";
import { which } from "../../fs/which.js";

/** Where `packaging/install-deps.sh` unpacks WasmEdge with the glibc, libstdc++ and LLVM it needs. */
export function privateWasmEdgeDir(): string {
  return privateDepsDir("wasmedge");
}

/**
 * The argv prefix that runs the `wasmedge` CLI. `"wasmedge"` (the default) is the private
 * copy install-deps.sh made, run through its own loader because the system's glibc is older
 * than it needs, else `wasmedge` on PATH; any other value is a binary looked up on PATH or a
 * path, run as it is. Missing: FailedPrecondition naming where it was looked for.
 */
export function locateWasmEdge(binary: string, where: { dir?: string; path?: string } = {}): string[] {
  const path = where.path ?? process.env["PATH"] ?? "";
  if (binary === "wasmedge") {
    const argv = privateProgramArgv(where.dir ?? privateWasmEdgeDir(), "wasmedge");
    if (argv) return argv;
  }
  const found = which(binary, path);
  if (!found) {
    const also = binary === "wasmedge" ? ` (nor the private copy of packaging/install-deps.sh in ${where.dir ?? privateWasmEdgeDir()})` : "";
    throw new RuntimeError(Code.FailedPrecondition, `wasm engine wasmedge: binary ${JSON.stringify(binary)} not found or not executable${also}`);
  }
  return [resolve(found)];
}
