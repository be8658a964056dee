import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import type { MountSpec } from "../task/task-backend.js";
import { unmount } from "../fs/mounts.js";

// The mount helpers live in fs/mounts.ts; re-exported for the pod code that imports them from here.
export { mountsBelow, unmount, unmountBelow } from "../fs/mounts.js";

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
