import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Containerd } from "./containerd.js";
import { writeOciArchive } from "./oci-image.js";

/**
 * Builds an OCI image whose rootfs holds only the given `.wasm` modules (at
 * `/<name>`) and whose entrypoint is `entrypoint`, as runwasi and Kuasar expect,
 * and imports it into `namespace` of `containerd` under `ref`.
 */
export async function importWasmImage(containerd: Containerd, namespace: string, ref: string, modules: Record<string, Uint8Array>, entrypoint: string): Promise<void> {
  const work = await mkdtemp("/tmp/wasm-image-");
  try {
    const rootfs = join(work, "rootfs");
    await mkdir(join(rootfs, "tmp"), { recursive: true });
    for (const [name, bytes] of Object.entries(modules)) {
      await writeFile(join(rootfs, name), bytes);
      await chmod(join(rootfs, name), 0o755);
    }
    const out = join(work, "image.tar");
    await writeOciArchive({ ref, rootfs, entries: [...Object.keys(modules), "tmp"], config: { Entrypoint: [entrypoint], WorkingDir: "/" }, work, out, createdBy: "kuasar-ts test harness: wasm modules" });
    await containerd.ctr(["images", "import", out], { namespace });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
