import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { writeFileAtomic } from "../../fs/atomic-write.js";
import type { BlobRef, ImageContent } from "./containerd-content.js";

/**
 * Layer media types that are a wasm module itself rather than a tar of a rootfs: the wasm
 * OCI artifact layout (CNCF TAG Runtime; what runwasi reads) and the older wasm-to-oci one.
 */
export const WASM_LAYER_MEDIA_TYPES: readonly string[] = ["application/wasm", "application/vnd.wasm.content.layer.v1+wasm"];

/** The image a CRI container was made from, in its OCI spec (containerd 1.7 and 2.x). */
export const CRI_IMAGE_NAME = "io.kubernetes.cri.image-name";

const INDEX_MEDIA_TYPES = new Set(["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"]);
const SHA256 = /^sha256:([0-9a-f]{64})$/;

interface Manifest {
  layers?: BlobRef[];
}

interface Index {
  manifests?: (BlobRef & { platform?: { architecture?: string; os?: string } })[];
}

/**
 * Finds the module of a wasm OCI artifact (an image whose layer is `application/wasm`, with
 * no rootfs to unpack: containerd gives such a container an empty root) and keeps it in a
 * cache named by its digest, so every container of the image, in any pod, shares one file.
 */
export class WasmArtifacts {
  constructor(
    private readonly content: ImageContent,
    /** Where modules are kept, as `<hex digest>.wasm`. */
    private readonly cacheDir: string,
  ) {}

  /**
   * The host path of the image's module; undefined when the image is not a wasm artifact
   * (or is unknown to containerd). With several wasm layers the first is the module.
   */
  async modulePath(namespace: string, imageName: string): Promise<string | undefined> {
    const layer = await this.wasmLayer(namespace, imageName);
    if (!layer) return undefined;
    const hex = SHA256.exec(layer.digest)?.[1];
    if (!hex) throw new RuntimeError(Code.InvalidArgument, `wasm artifact ${imageName}: layer digest ${JSON.stringify(layer.digest)} is not sha256`);
    const path = join(this.cacheDir, `${hex}.wasm`);
    if (existsSync(path)) return path;
    const bytes = await this.content.read(namespace, layer.digest);
    if (createHash("sha256").update(bytes).digest("hex") !== hex) {
      throw new RuntimeError(Code.DataLoss, `wasm artifact ${imageName}: layer ${layer.digest} read from containerd does not match its digest`);
    }
    await mkdir(this.cacheDir, { recursive: true, mode: 0o700 });
    // Written aside and renamed: a concurrent container never sees half a module, and a full
    // disk leaves no partial file behind (ResourceExhausted naming the cache).
    writeFileAtomic(path, bytes, 0o444);
    return path;
  }

  private async wasmLayer(namespace: string, imageName: string): Promise<BlobRef | undefined> {
    let target = await this.content.target(namespace, imageName);
    if (!target) return undefined;
    if (INDEX_MEDIA_TYPES.has(target.mediaType)) {
      const index = this.json<Index>(await this.content.read(namespace, target.digest), imageName);
      const manifests = index.manifests ?? [];
      target = manifests.find((m) => m.platform?.architecture === "wasm" || m.platform?.os?.startsWith("wasi")) ?? manifests[0];
      if (!target) return undefined;
    }
    const manifest = this.json<Manifest>(await this.content.read(namespace, target.digest), imageName);
    return (manifest.layers ?? []).find((l) => WASM_LAYER_MEDIA_TYPES.includes(l.mediaType));
  }

  private json<T>(bytes: Buffer, imageName: string): T {
    try {
      return JSON.parse(bytes.toString("utf8")) as T;
    } catch (err) {
      throw new RuntimeError(Code.DataLoss, `wasm artifact ${imageName}: manifest is not JSON`, { cause: err });
    }
  }
}
