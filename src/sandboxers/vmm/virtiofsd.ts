import { existsSync } from "node:fs";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { execInCgroups } from "../../cgroup/exec-in-cgroups.js";
import { spawnDetached } from "./driver/spawn-detached.js";

/** What a pod's virtio-fs daemon serves. */
export interface ShareSpec {
  /** virtiofsd executable. */
  binary: string;
  /** Host directory shared with the guest (the pod's `shared/`). */
  source: string;
  /** vhost-user socket QEMU connects to. */
  socket: string;
  log: string;
  debug: boolean;
  /** Cgroup dirs it runs in from its start (the pod's); empty: the daemon's. */
  cgroups: readonly string[];
}

/**
 * Starts virtiofsd for one pod, detached (it outlives the daemon and exits with
 * QEMU's connection), and waits for its socket. `sandbox=chroot` keeps it in
 * our mount namespace: container rootfs and volume mounts made under the share
 * after boot are visible to the guest at once, whatever the host's mount
 * propagation is.
 */
export async function startVirtiofsd(s: ShareSpec, timeoutMs = 10_000): Promise<number> {
  const args = [`--socket-path=${s.socket}`, "-o", `source=${s.source}`, "-o", "cache=auto", "-o", "sandbox=chroot", "-o", "xattr", "-o", "announce_submounts"];
  if (s.debug) args.push("-o", "log_level=debug");
  const child = await spawnDetached(execInCgroups(s.cgroups, [s.binary, ...args]), s.log);
  let exited: string | undefined;
  child.once("exit", (code, signal) => (exited = signal ?? `status ${code}`));
  const until = Date.now() + timeoutMs;
  while (!existsSync(s.socket)) {
    if (exited) throw new RuntimeError(Code.Internal, `virtiofsd exited (${exited}) before serving ${s.socket}; see ${s.log}`);
    if (Date.now() > until) throw new RuntimeError(Code.DeadlineExceeded, `virtiofsd did not create ${s.socket} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return child.pid;
}
