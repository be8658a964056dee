import { execFile, spawn } from "node:child_process";
import { lstat, mkdir, realpath } from "node:fs/promises";
import { constants } from "node:os";
import { promisify } from "node:util";
import { createRunCgroup, enterRunCgroup, removeRunCgroup } from "./run-cgroup.js";

const execFileP = promisify(execFile);

/** Env var `test/run.ts` sets (to `"1"`) for everything it runs inside the namespaces. */
export const ISOLATION_ENV = "KUASAR_E2E_ISOLATED";

/**
 * `unshare(1)` flags for the e2e namespace set: private mounts (+ a fresh /proc), a pid
 * namespace whose pid 1 is the re-executed runner (when it exits the kernel kills everything
 * left inside), fresh net, uts and ipc namespaces, and a cgroup namespace rooted at the run's
 * cgroup (see `run-cgroup.ts`). All checked to work on the CI machine.
 */
export const UNSHARE_FLAGS: readonly string[] = [
  "--cgroup",
  "--mount",
  "--pid",
  "--fork",
  "--mount-proc",
  "--net",
  "--uts",
  "--ipc",
];

/** Hostname set inside the uts namespace. */
export const ISOLATED_HOSTNAME = "kuasar-e2e";

/**
 * Throws unless the caller runs inside the e2e isolation set up by `test/run.ts`.
 * Every e2e test file calls this first: containerd 1.7/2.x hard-code `/run/containerd/s`
 * (shim sockets), `/run/containerd/fifo` (ctr) and `/var/lib/cni`, which must not touch the host.
 */
export function assertIsolated(): void {
  if (process.env[ISOLATION_ENV] !== "1" || process.getuid?.() !== 0) {
    const msg =
      "e2e tests must run as root inside the private namespaces set up by the runner: " +
      "`npm run test:e2e` (node dist/test/run.js e2e/). Refusing to run directly.";
    console.error(msg);
    throw new Error(msg);
  }
}

/**
 * Directories hidden under a fresh tmpfs inside the isolation (mount points are created on
 * the host if missing; nothing is written into them there). `/run/netns` is used directly
 * because `/var/run` is a symlink to `/run` on Debian 12; if it is not, `/var/run/netns` is
 * covered too (see {@link isolatedTmpfsDirs}).
 */
export const ISOLATED_TMPFS_DIRS: readonly string[] = ["/run/containerd", "/run/netns", "/var/lib/cni", "/run/kuasar"]; // containerd's default paths, hidden behind private tmpfs

/** {@link ISOLATED_TMPFS_DIRS} plus `/var/run/netns` when `/var/run` is not `/run`. */
export async function isolatedTmpfsDirs(): Promise<string[]> {
  const dirs = [...ISOLATED_TMPFS_DIRS];
  const varRun = await lstat("/var/run").catch(() => undefined);
  if (varRun !== undefined && (await realpath("/var/run")) !== "/run") dirs.push("/var/run/netns");
  return dirs;
}

/**
 * Joins the process (a shell, by its pid `$$`) to every cgroup whose `cgroup.procs` file is
 * given (the count first, then the files), then execs the rest of its arguments: so `unshare`
 * already runs in the run's cgroup when it makes the cgroup namespace.
 */
const JOIN_THEN_EXEC = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"';

/**
 * Re-executes `node <script> ...args` as pid 1 of a fresh namespace set
 * (`unshare` {@link UNSHARE_FLAGS}) with {@link ISOLATION_ENV}=1, stdio inherited, in a
 * cgroup of this run only (the cgroup namespace's root), removed when the run ends.
 * Resolves to the exit code to use (128+signal if killed).
 */
export async function reexecIsolated(script: string, args: readonly string[]): Promise<number> {
  const run = createRunCgroup();
  try {
    return await reexecInCgroup(script, args, run.procsFiles);
  } finally {
    const left = await removeRunCgroup(run);
    if (left.length > 0) console.error(`test: the run's cgroups still hold processes, not removed: ${left.join(" ")}`);
  }
}

function reexecInCgroup(script: string, args: readonly string[], cgroupProcs: readonly string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const argv = ["-c", JOIN_THEN_EXEC, "sh", String(cgroupProcs.length), ...cgroupProcs, "unshare", ...UNSHARE_FLAGS, process.execPath, script, ...args];
    const child = spawn("sh", argv, {
      stdio: "inherit",
      env: { ...process.env, [ISOLATION_ENV]: "1" },
    });
    const forward = (sig: NodeJS.Signals): void => {
      child.kill(sig);
    };
    process.on("SIGINT", forward);
    process.on("SIGTERM", forward);
    child.once("error", (err) => reject(new Error(`unshare: ${err.message}`, { cause: err })));
    child.once("exit", (code, signal) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      if (code !== null) resolve(code);
      else resolve(128 + (signal !== null ? constants.signals[signal] : 0));
    });
  });
}

/**
 * Inside the namespaces (as pid 1): makes every mount private, mounts the cgroup hierarchies
 * afresh (rooted at the run's cgroup) with pid 1 in its runner leaf, mounts a tmpfs over each
 * of {@link isolatedTmpfsDirs}, sets the hostname and brings up `lo`.
 */
export async function setupIsolation(): Promise<void> {
  if (process.pid !== 1) throw new Error("setupIsolation: expected to run as pid 1 of a fresh pid namespace");
  await execFileP("mount", ["--make-rprivate", "/"]);
  enterRunCgroup();
  for (const dir of await isolatedTmpfsDirs()) {
    await mkdir(dir, { recursive: true });
    await execFileP("mount", ["-t", "tmpfs", "-o", "mode=0755,nosuid,nodev", "tmpfs", dir]);
  }
  await execFileP("hostname", [ISOLATED_HOSTNAME]);
  await execFileP("ip", ["link", "set", "lo", "up"]);
}
