import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Where `packaging/install-deps.sh` unpacks a private dependency (crun, runsc-2024, wasmedge):
 * `$KUASAR_DEPS_DIR/<name>`, default `<repo>/.deps/<name>` (this module lives in `dist/src/fs/`).
 */
export function privateDepsDir(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const deps = env["KUASAR_DEPS_DIR"];
  return join(deps ? resolve(deps) : fileURLToPath(new URL("../../../.deps", import.meta.url)), name);
}

const LIB = "usr/lib/x86_64-linux-gnu";

/** The loader a private dependency brings with its newer glibc. */
export function privateLoader(dir: string): string {
  return join(dir, LIB, "ld-linux-x86-64.so.2");
}

/**
 * The argv prefix that runs `binary` through the loader and libraries unpacked beside it in
 * `dir` (the system's glibc is older than they need): `[loader, --library-path, lib]`.
 */
export function privateLoaderArgv(dir: string): string[] {
  return [privateLoader(dir), "--library-path", join(dir, LIB)];
}

/** `dir/usr/bin/<name>` run through `dir`'s own loader, when both are there. */
export function privateProgramArgv(dir: string, name: string): string[] | undefined {
  const binary = join(dir, "usr/bin", name);
  return existsSync(binary) && existsSync(privateLoader(dir)) ? [...privateLoaderArgv(dir), binary] : undefined;
}
