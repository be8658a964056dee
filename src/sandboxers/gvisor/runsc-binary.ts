import { accessSync, constants } from "node:fs";
import { join } from "node:path";
import { privateDepsDir } from "../../fs/private-deps.js";

/**
 * The runsc 2024-07 that `packaging/install-deps.sh` unpacks beside a checkout
 * (`$KUASAR_DEPS_DIR`, default `<repo>/.deps`, relative to this module in
 * `dist/src/sandboxers/gvisor/`): a static binary, so it runs on any glibc.
 */
export function depsRunscBinary(): string {
  return join(privateDepsDir("runsc-2024"), "usr/bin/runsc");
}

/**
 * The runsc pods run with: `configured` when set; else the install-deps copy
 * when it is there (systrap, directfs and a working netstack), else `runsc` on
 * PATH (Debian bookworm's 2022-12 build).
 */
export function resolveRunscBinary(configured: string): string {
  if (configured) return configured;
  const deps = depsRunscBinary();
  try {
    accessSync(deps, constants.X_OK);
    return deps;
  } catch {
    return "runsc";
  }
}
