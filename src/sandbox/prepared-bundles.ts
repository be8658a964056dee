import { mkdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { writeFileAtomic } from "../fs/atomic-write.js";
import { unmountBelow } from "../fs/mounts.js";

/**
 * Container bundles made for the kuasar-io containerd fork, which asks the sandboxer for
 * one (`Prepare`) where upstream containerd makes its own. A bundle holds the container's
 * OCI spec (`config.json`) and its pod (`sandbox`, the file upstream containerd writes),
 * which is all the Task API's Create reads from it; containerd adds its `address` and
 * `log` files, the Task API its rootfs mount and runtime files. Layout:
 * `<root>/<sandbox id>/<container id>`, removed by `Purge` (one) and `Shutdown` (a pod's).
 */
export class PreparedBundles {
  constructor(private readonly root: string) {}

  /** The bundle dir of a container (made or not). Ids are validated by the caller. */
  path(sandboxId: string, containerId: string): string {
    return join(this.root, sandboxId, containerId);
  }

  /** Makes (or remakes) a container's bundle from its spec JSON; returns its path. */
  async prepare(sandboxId: string, containerId: string, specJson: string): Promise<string> {
    const bundle = this.path(sandboxId, containerId);
    await mkdir(bundle, { recursive: true, mode: 0o700 });
    writeFileAtomic(join(bundle, "config.json"), specJson, 0o600);
    writeFileAtomic(join(bundle, "sandbox"), sandboxId, 0o600);
    return bundle;
  }

  /** Whether a container's bundle exists. */
  async exists(sandboxId: string, containerId: string): Promise<boolean> {
    return stat(this.path(sandboxId, containerId)).then(
      (s) => s.isDirectory(),
      () => false,
    );
  }

  /** Removes a container's bundle (nothing to do when there is none). A mount left below it is unmounted first, never deleted through. */
  async purge(sandboxId: string, containerId: string): Promise<void> {
    await removeDir(this.path(sandboxId, containerId));
  }

  /** Removes every bundle of a pod. */
  async purgeSandbox(sandboxId: string): Promise<void> {
    await removeDir(join(this.root, sandboxId));
  }
}

async function removeDir(dir: string): Promise<void> {
  try {
    await unmountBelow(dir);
    await rm(dir, { recursive: true, force: true });
  } catch (err) {
    throw RuntimeError.from(err, Code.Internal);
  }
}
