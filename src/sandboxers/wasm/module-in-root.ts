import { realpathSync } from "node:fs";
import { isAbsolute, join, posix, relative } from "node:path";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import type { OciSpec } from "../../pod/oci-spec.js";

/** The module the container's args name: its guest path, that path in the rootfs, and whether it is there. */
export interface ModuleInRoot {
  readonly guest: string;
  /** Resolved (symlinks followed, never outside the root) when it exists; else the plain join. */
  readonly path: string;
  readonly exists: boolean;
}

/**
 * The module a wasm container runs: args[0] (relative to the process cwd), inside `rootfs`.
 * InvalidArgument when the spec names none, or the path leads outside the root.
 */
export function moduleInRoot(oci: OciSpec, rootfs: string): ModuleInRoot {
  const args = oci.process?.args ?? [];
  if (args.length === 0 || !args[0]) throw new RuntimeError(Code.InvalidArgument, "wasm container: the image names no entrypoint (.wasm module) to run");
  const cwd = oci.process?.cwd || "/";
  const guest = posix.isAbsolute(args[0]) ? args[0] : posix.join(cwd, args[0]);
  return { guest, ...insideRoot(rootfs, guest) };
}

/**
 * Resolves a guest path inside `root`, refusing anything (`..`, symlinks) that leads outside it.
 * One realpath(3) says both where it is and whether it is there (the JS realpath lstats each
 * component, and a separate existence check is one more call).
 */
function insideRoot(root: string, guestPath: string): { path: string; exists: boolean } {
  const candidate = join(root, guestPath);
  let real: string;
  try {
    real = realpathSync.native(candidate);
  } catch {
    return { path: candidate, exists: false }; // missing: reported by the caller
  }
  const rel = relative(realpathSync.native(root), real);
  if (rel.startsWith("..") || isAbsolute(rel)) throw new RuntimeError(Code.InvalidArgument, `wasm container: module ${guestPath} resolves outside the container's root`);
  return { path: real, exists: true };
}
