import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { which } from "../../fs/which.js";

const LIB = "usr/lib/x86_64-linux-gnu";

/**
 * Where `packaging/install-deps.sh` unpacks WasmEdge with the glibc, libstdc++ and LLVM it
 * needs: `$KUASAR_DEPS_DIR/wasmedge`, default `<repo>/.deps/wasmedge` (this module lives in
 * `dist/src/sandboxers/wasm/`).
 */
export function privateWasmEdgeDir(env: NodeJS.ProcessEnv = process.env): string {
  const deps = env["KUASAR_DEPS_DIR"];
  return join(deps ? resolve(deps) : fileURLToPath(new URL("../../../../.deps", import.meta.url)), "wasmedge");
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
    const dir = where.dir ?? privateWasmEdgeDir();
    const loader = join(dir, LIB, "ld-linux-x86-64.so.2");
    const privateBinary = join(dir, "usr/bin/wasmedge");
    if (existsSync(privateBinary) && existsSync(loader)) return [loader, "--library-path", join(dir, LIB), privateBinary];
  }
  const found = which(binary, path);
  if (!found) {
    const also = binary === "wasmedge" ? ` (nor the private copy of packaging/install-deps.sh in ${where.dir ?? privateWasmEdgeDir()})` : "";
    throw new RuntimeError(Code.FailedPrecondition, `wasm engine wasmedge: binary ${JSON.stringify(binary)} not found or not executable${also}`);
  }
  return [resolve(found)];
}
