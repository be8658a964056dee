import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { Containerd } from "./containerd.js";
import { sha256, tarDir, writeOciArchive } from "./oci-image.js";

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

/** Media types of the wasm OCI artifact layout (CNCF TAG Runtime's, as runwasi reads it). */
export const WASM_CONFIG_MEDIA_TYPE = "application/vnd.wasm.config.v0+json";
export const WASM_LAYER_MEDIA_TYPE = "application/wasm";

/**
 * Builds a wasm OCI artifact: a manifest whose config is `application/vnd.wasm.config.v0+json`
 * (architecture `wasm`, os `wasip1`) and whose one layer is the module itself as
 * `application/wasm` (no tar, no rootfs, no entrypoint), and imports it into `namespace` of
 * `containerd` under `ref`. Returns the layer's digest.
 */
export async function importWasmArtifact(containerd: Containerd, namespace: string, ref: string, module: Uint8Array): Promise<string> {
  const work = await mkdtemp("/tmp/wasm-artifact-");
  try {
    const layout = join(work, "layout");
    await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
    const blob = async (data: Buffer) => {
      const digest = `sha256:${sha256(data)}`;
      await writeFile(join(layout, "blobs", "sha256", digest.slice("sha256:".length)), data);
      return { digest, size: data.length };
    };
    const layer = await blob(Buffer.from(module));
    const config = await blob(Buffer.from(JSON.stringify({ created: "1970-01-01T00:00:00Z", author: "kuasar-ts test harness", architecture: "wasm", os: "wasip1", layerDigests: [layer.digest] })));
    const manifest = await blob(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: "application/vnd.oci.image.manifest.v1+json",
          config: { mediaType: WASM_CONFIG_MEDIA_TYPE, ...config },
          layers: [{ mediaType: WASM_LAYER_MEDIA_TYPE, ...layer }],
        }),
      ),
    );
    await writeFile(join(layout, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    await writeFile(
      join(layout, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest, annotations: { "io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref } }],
      }),
    );
    const out = join(work, "artifact.tar");
    await tarDir(layout, ["blobs", "index.json", "oci-layout"], out);
    await containerd.ctr(["images", "import", "--all-platforms", out], { namespace });
    return layer.digest;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
