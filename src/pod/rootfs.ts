import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import type { MountSpec } from "../task/task-backend.js";

const run = promisify(execFile);

/** Mounts containerd's rootfs mounts on `target` in order (overlay, bind...); undoes what it did on failure. */
export async function mountRootfs(mounts: readonly MountSpec[], target: string): Promise<void> {
  const done: string[] = [];
  try {
    for (const m of mounts) {
      const dest = m.target ? `${target}/${m.target.replace(/^\/+/, "")}` : target;
      const args = ["-t", m.type || "none", ...(m.options.length > 0 ? ["-o", m.options.join(",")] : []), m.source || "none", dest];
      await run("mount", args).catch((err: { stderr?: string; message: string }) => {
        throw new RuntimeError(Code.InvalidArgument, `mount ${m.type} on ${dest}: ${(err.stderr || err.message).trim()}`, { cause: err });
      });
      done.push(dest);
    }
  } catch (err) {
    for (const d of done.reverse()) await unmount(d).catch(() => {});
    throw err;
  }
}

/** Unmounts `target` (lazily if busy); a target that is not mounted is fine. */
export async function unmount(target: string): Promise<void> {
  try {
    await run("umount", [target]);
  } catch (err) {
    const text = String((err as { stderr?: string }).stderr ?? "");
    if (/not mounted|no mount point|not found|No such file/i.test(text)) return;
    await run("umount", ["-l", target]);
  }
}

/** Mounts a tmpfs (the pod's /dev/shm). */
export async function mountTmpfs(target: string, sizeBytes: number): Promise<void> {
  await run("mount", ["-t", "tmpfs", "-o", `mode=1777,nosuid,nodev,noexec,size=${sizeBytes}`, "shm", target]);
}
