import { spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { readTextOr } from "../../fs/read-text.js";
import { extractMessage, RuncCli } from "./runc-cli.js";
import type { OciRuntimeCommand } from "../../oci-runtime/oci-runtime-command.js";

/** The static pause program `make -C native` builds, relative to this module in `dist/src/sandboxers/runc/`. */
export const defaultProbePauseBinary: string = fileURLToPath(new URL("../../../../build/native/kuasar-pause", import.meta.url));

/** What a probe needs besides the runtime. */
export interface ProbeOptions {
  /** A scratch dir of its own (made and removed by the probe). */
  dir: string;
  /** A static program the probe container runs (kuasar-pause: it sleeps until killed). */
  pauseBinary: string;
  /** The cgroup driver the sandboxer uses. */
  systemdCgroup: boolean;
  /** Deadline of each runtime command, ms. */
  timeoutMs: number;
}

/**
 * Proves the runtime can run a container here, the way the sandboxer will: a throwaway
 * container (own pid, mount, ipc, uts and network namespaces; a read-only rootfs holding
 * only the pause program) with memory and pids limits in a scratch cgroup is created,
 * started, seen running and force-deleted. Resolves when all of that worked; otherwise
 * rejects with the runtime's own words. Leaves nothing: the runtime's delete removes the
 * container and its cgroup, the scratch dir is removed.
 */
export async function probeOciRuntime(cmd: OciRuntimeCommand, o: ProbeOptions): Promise<void> {
  const id = `kuasar-probe-${process.pid}`;
  const bundle = join(o.dir, "bundle");
  const cli = new RuncCli({ binary: cmd.binary, launcher: cmd.launcher, root: join(o.dir, "state"), systemdCgroup: o.systemdCgroup, commandTimeoutMs: o.timeoutMs });
  rmSync(o.dir, { recursive: true, force: true });
  for (const d of ["dev", "proc"]) mkdirSync(join(bundle, "rootfs", d), { recursive: true, mode: 0o700 });
  writeFileSync(join(bundle, "rootfs", "pause"), "", { mode: 0o755 }); // the bind mount's target
  writeFileSync(join(bundle, "config.json"), JSON.stringify(probeSpec(o.pauseBinary, o.systemdCgroup ? `system.slice:kuasar-probe:${id}` : `/${id}`)));
  let created = false;
  try {
    const log = join(o.dir, "create.log");
    const argv = cli.createArgv(id, bundle, join(o.dir, "init.pid"), log);
    const status = await runDetached(argv, o.timeoutMs);
    if (status !== 0) throw new RuntimeError(Code.FailedPrecondition, `create: ${extractMessage(readTextOr(log, `exit status ${status}, no log`))}`);
    created = true;
    await cli.start(id);
    const state = await cli.state(id);
    if (state.status !== "running") throw new RuntimeError(Code.FailedPrecondition, `the probe container is ${state.status} after start, not running`);
  } finally {
    if (created) await cli.delete(id, true).catch(() => {});
    rmSync(o.dir, { recursive: true, force: true });
  }
}

/** The probe container's spec: the least a pod container of this sandboxer uses. */
function probeSpec(pauseBinary: string, cgroupsPath: string): unknown {
  return {
    ociVersion: "1.0.2",
    process: { terminal: false, user: { uid: 0, gid: 0 }, args: ["/pause"], env: ["PATH=/"], cwd: "/", noNewPrivileges: true, capabilities: { bounding: [], effective: [], permitted: [] } },
    root: { path: "rootfs", readonly: true },
    hostname: "kuasar-probe",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      { destination: "/pause", type: "bind", source: pauseBinary, options: ["bind", "ro"] },
    ],
    linux: {
      namespaces: [{ type: "pid" }, { type: "mount" }, { type: "ipc" }, { type: "uts" }, { type: "network" }],
      cgroupsPath,
      resources: { memory: { limit: 64 << 20 }, pids: { limit: 16 } },
    },
  };
}

/**
 * Runs `create` with no pipes: the container's init inherits the runtime's stdio and
 * would hold a pipe open past the runtime's exit. Resolves to the exit status.
 */
function runDetached(argv: string[], timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new RuntimeError(Code.FailedPrecondition, `create: ${err.message}`, { cause: err }));
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}
