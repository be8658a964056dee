import { accessSync, constants, existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The two stock containerd lines the e2e tests drive. */
export type ContainerdVersion = "1.7" | "2";

/** Binaries of one containerd copy unpacked by `packaging/install-deps.sh`. */
export interface ContainerdBinaries {
  /** Which line this is. */
  readonly version: ContainerdVersion;
  /** Directory holding all of the package's binaries (put first in containerd's PATH). */
  readonly binDir: string;
  /** The daemon. */
  readonly containerd: string;
  /** The matching `ctr` client. */
  readonly ctr: string;
  /** The stock runc shim shipped in the same package. */
  readonly shimRuncV2: string;
}

/** System binaries from bookworm packages that the e2e tests use. */
export interface SystemBinaries {
  /** `runc` (package runc). Env `RUNC_BIN`, default `/usr/sbin/runc`. */
  readonly runc: string;
  /** `runsc` (package runsc). Env `RUNSC_BIN`, default `/usr/bin/runsc`. */
  readonly runsc: string;
  /** Static busybox (package busybox-static). Env `BUSYBOX_BIN`, default `/bin/busybox`. */
  readonly busybox: string;
  /** CNI plugins (package containernetworking-plugins). Env `CNI_BIN_DIR`, default `/usr/lib/cni`. */
  readonly cniBinDir: string;
}

/**
 * The repository root: the nearest ancestor of this module holding a `package.json`
 * (works both from `testing/` and from `dist/testing/`).
 */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, "package.json"))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/**
 * The prefix `packaging/install-deps.sh` unpacks containerd into: env
 * `KUASAR_DEPS_DIR`, default `<repo>/.deps` (same rule as `packaging/deps-env.sh`).
 */
export function depsPrefix(): string {
  const fromEnv = process.env["KUASAR_DEPS_DIR"];
  return fromEnv !== undefined && fromEnv !== "" ? resolve(fromEnv) : join(repoRoot(), ".deps");
}

/** A directory for cached build artefacts (test images): `<prefix>/cache`. */
export function cacheDir(): string {
  return join(depsPrefix(), "cache");
}

function requireExecutable(path: string, what: string): string {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${what} not found at ${path}: run \`bash packaging/install-deps.sh\` as root first`);
  }
  return path;
}

/**
 * Locates containerd `version`'s binaries. The directory comes from env
 * `CONTAINERD17_BIN_DIR` / `CONTAINERD2_BIN_DIR` when set, else
 * `<prefix>/containerd-1.7/usr/bin` / `<prefix>/containerd-2/usr/bin`.
 * Throws a message pointing at the installer when something is missing.
 */
export function containerdBinaries(version: ContainerdVersion): ContainerdBinaries {
  const envName = version === "1.7" ? "CONTAINERD17_BIN_DIR" : "CONTAINERD2_BIN_DIR";
  const fromEnv = process.env[envName];
  const binDir =
    fromEnv !== undefined && fromEnv !== ""
      ? resolve(fromEnv)
      : join(depsPrefix(), version === "1.7" ? "containerd-1.7" : "containerd-2", "usr", "bin");
  const label = `containerd ${version}`;
  return {
    version,
    binDir,
    containerd: requireExecutable(join(binDir, "containerd"), `${label}: containerd`),
    ctr: requireExecutable(join(binDir, "ctr"), `${label}: ctr`),
    shimRuncV2: requireExecutable(join(binDir, "containerd-shim-runc-v2"), `${label}: containerd-shim-runc-v2`),
  };
}

/**
 * The kuasar-io containerd fork (`main`, 1.7.0 based) unpacked by `packaging/install-deps.sh`:
 * its daemon from env `CONTAINERD_KUASAR_IO_BIN_DIR` or `<prefix>/containerd-kuasar-io/usr/bin`,
 * with stock 1.7's `ctr` and runc shim (the fork builds the same; only its daemon is vendored).
 */
export function kuasarIoContainerdBinaries(): ContainerdBinaries {
  const stock = containerdBinaries("1.7");
  const fromEnv = process.env["CONTAINERD_KUASAR_IO_BIN_DIR"];
  const dir = fromEnv !== undefined && fromEnv !== "" ? resolve(fromEnv) : join(depsPrefix(), "containerd-kuasar-io", "usr", "bin");
  return { ...stock, containerd: requireExecutable(join(dir, "containerd"), "the kuasar-io containerd fork (KUASAR_IO_CONTAINERD_XZ for install-deps.sh)") };
}

function fromEnvOr(name: string, fallback: string): string {
  const v = process.env[name];
  return v !== undefined && v !== "" ? v : fallback;
}

/** Locates the system binaries (see {@link SystemBinaries} for env overrides). */
export function systemBinaries(): SystemBinaries {
  return {
    runc: requireExecutable(fromEnvOr("RUNC_BIN", "/usr/sbin/runc"), "runc"),
    runsc: requireExecutable(fromEnvOr("RUNSC_BIN", "/usr/bin/runsc"), "runsc"),
    busybox: requireExecutable(fromEnvOr("BUSYBOX_BIN", "/bin/busybox"), "busybox (busybox-static)"),
    cniBinDir: fromEnvOr("CNI_BIN_DIR", "/usr/lib/cni"),
  };
}
