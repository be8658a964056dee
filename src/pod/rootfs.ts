import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Code } from "../errors/code.js";
import { isErrorCode, RuntimeError } from "../errors/runtime-error.js";
import { mountCalls } from "../fs/mount-calls.js";
import type { PodAgent } from "../holder/pod-agent.js";
import type { MountSpec } from "../task/task-backend.js";
import { unmount } from "../fs/mounts.js";

// The mount helpers live in fs/mounts.ts; re-exported for the pod code that imports them from here.
export { mountsBelow, unmount, unmountBelow } from "../fs/mounts.js";

const run = promisify(execFile);

/** Who mounts: the pod's holder (one system call), or mount(8)/umount(8) spawned by the daemon. */
export type Mounter = Pick<PodAgent, "mount" | "umount">;

/**
 * Mounts containerd's rootfs mounts on `target` in order (overlay, bind...); undoes what it did
 * on failure. Through `mounter` when given (a fork of the daemon less per container, which a
 * busy node's creates queued behind), else, or for an option only mount(8) knows, or a holder
 * older than its mount verb, mount(8).
 */
export async function mountRootfs(mounts: readonly MountSpec[], target: string, mounter?: Mounter): Promise<void> {
  const done: string[] = [];
  let holder = mounter;
  try {
    for (const m of mounts) {
      const dest = m.target ? `${target}/${m.target.replace(/^\/+/, "")}` : target;
      const calls = holder ? mountCalls(m, dest) : undefined;
      if (holder && calls) {
        try {
          for (const [i, c] of calls.entries()) {
            await holder.mount(c);
            if (i === 0) done.push(dest);
          }
          continue;
        } catch (err) {
          if (!isErrorCode(err, Code.Unimplemented) || done.at(-1) === dest) throw mountError(m, dest, err);
          holder = undefined;
        }
      }
      const args = ["-t", m.type || "none", ...(m.options.length > 0 ? ["-o", m.options.join(",")] : []), m.source || "none", dest];
      await run("mount", args).catch((err: { stderr?: string; message: string }) => {
        throw mountError(m, dest, err, (err.stderr || err.message).trim());
      });
      done.push(dest);
    }
  } catch (err) {
    for (const d of done.reverse()) await unmountRootfs(d, holder).catch(() => {});
    throw err;
  }
}

/** Unmounts a rootfs mount point (lazily if busy); one that is not mounted is fine. Through `mounter` as {@link mountRootfs}. */
export async function unmountRootfs(target: string, mounter?: Mounter): Promise<void> {
  if (mounter) {
    try {
      await mounter.umount(target);
      return;
    } catch (err) {
      // EINVAL: not a mount point; ENOENT: no such path: nothing to undo either way. Anything
      // else (an older holder, or one that is gone with its pod) is umount(8)'s to settle.
      if (isErrorCode(err, Code.InvalidArgument) || isErrorCode(err, Code.NotFound)) return;
    }
  }
  await unmount(target);
}

function mountError(m: MountSpec, dest: string, cause: unknown, detail = cause instanceof Error ? cause.message : String(cause)): RuntimeError {
  if (cause instanceof RuntimeError && cause.code === Code.Unavailable) return cause; // the holder is gone: not the mount's fault
  return new RuntimeError(Code.InvalidArgument, `mount ${m.type} on ${dest}: ${detail}`, { cause });
}
