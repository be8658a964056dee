import { Code } from "../../errors/code.js";
import { waitForPath } from "../../fs/wait-for-path.js";
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
 * propagation is. Its socket appearing (inotify) or its exit ends the wait; so
 * does `signal` (the caller's deadline or cancel), after which it is killed.
 */
export async function startVirtiofsd(s: ShareSpec, timeoutMs = 10_000, signal?: AbortSignal): Promise<number> {
  const args = [`--socket-path=${s.socket}`, "-o", `source=${s.source}`, "-o", "cache=auto", "-o", "sandbox=chroot", "-o", "xattr", "-o", "announce_submounts"];
  if (s.debug) args.push("-o", "log_level=debug");
  const child = await spawnDetached(execInCgroups(s.cgroups, [s.binary, ...args]), s.log);
  const gone = new AbortController();
  const onExit = (code: number | null, killedBy: NodeJS.Signals | null) =>
    gone.abort(new RuntimeError(Code.Internal, `virtiofsd exited (${killedBy ?? `status ${code}`}) before serving ${s.socket}; see ${s.log}`));
  child.once("exit", onExit);
  try {
    await waitForPath(s.socket, { timeoutMs, signal: signal ? AbortSignal.any([signal, gone.signal]) : gone.signal });
  } catch (err) {
    if (!gone.signal.aborted) child.kill("SIGKILL");
    const e = RuntimeError.from(err);
    throw e.code === Code.DeadlineExceeded && !signal?.aborted ? new RuntimeError(Code.DeadlineExceeded, `virtiofsd did not create ${s.socket} within ${timeoutMs} ms`) : e;
  } finally {
    child.off("exit", onExit);
  }
  return child.pid;
}
