import { basename, isAbsolute, join, resolve } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { privateDepsDir, privateProgramArgv } from "../fs/private-deps.js";
import { which } from "../fs/which.js";

/** How a runc-compatible OCI runtime is executed: `[...launcher, binary, ...args]`. */
export interface OciRuntimeCommand {
  /** What the operator sees: `runc`, `crun`, or the configured path's file name. */
  name: string;
  /** The runtime's executable, absolute. */
  binary: string;
  /** argv put before the binary (a private loader, the cgroup2 hider); empty for none. */
  launcher: string[];
}

/**
 * The command of the configured `runtime` (`[sandboxers.runc] runtime`): `runc` is `runcBinary`;
 * `crun` is the private copy install-deps.sh made (run through its own loader, the system's
 * glibc being older than it needs), else `crun` on PATH; anything else must be an absolute
 * path. A runtime that is not there is FailedPrecondition, a malformed value InvalidArgument:
 * both at daemon start, never at the first pod.
 */
export function locateOciRuntime(runtime: string, runcBinary: string, where: { crunDir?: string; path?: string } = {}): OciRuntimeCommand {
  const crunDir = where.crunDir ?? privateDepsDir("crun");
  const path = where.path ?? process.env["PATH"] ?? "";
  const key = "config sandboxers.runc.runtime";
  if (runtime === "runc") {
    const binary = which(runcBinary, path);
    if (!binary) throw new RuntimeError(Code.FailedPrecondition, `runc binary ${JSON.stringify(runcBinary)} not found or not executable (config sandboxers.runc.runc_binary)`);
    return { name: "runc", binary: resolve(binary), launcher: [] };
  }
  if (runtime === "crun") {
    const privateArgv = privateProgramArgv(crunDir, "crun");
    if (privateArgv) return { name: "crun", binary: privateArgv.at(-1)!, launcher: privateArgv.slice(0, -1) };
    const privateBinary = join(crunDir, "usr/bin/crun");
    const onPath = which("crun", path);
    if (!onPath) throw new RuntimeError(Code.FailedPrecondition, `${key}: crun not found (neither ${privateBinary} from packaging/install-deps.sh nor crun on PATH)`);
    return { name: "crun", binary: resolve(onPath), launcher: [] };
  }
  if (!isAbsolute(runtime)) throw new RuntimeError(Code.InvalidArgument, `${key}: expected "runc", "crun" or an absolute path, got ${JSON.stringify(runtime)}`);
  if (!which(runtime, path)) throw new RuntimeError(Code.FailedPrecondition, `${key}: ${runtime} not found or not executable`);
  return { name: basename(runtime), binary: runtime, launcher: [] };
}

/** The command's whole argv prefix: launcher, then the binary. */
export function commandArgv(c: OciRuntimeCommand): string[] {
  return [...c.launcher, c.binary];
}
