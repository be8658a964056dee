import { Content } from "../../gen/containerd/services/content/v1/content_pb.js";
import { Images } from "../../gen/containerd/services/images/v1/images_pb.js";
import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { GrpcClient } from "../../grpc/client.js";

/** A blob reference: what an image's target or a manifest's layer names. */
export interface BlobRef {
  mediaType: string;
  digest: string;
  size: number;
}

/** Reads images and blobs of one containerd namespace (the part of containerd's API the wasm sandboxer needs). */
export interface ImageContent {
  /** The image's target (manifest or index); undefined when there is no such image. */
  target(namespace: string, imageName: string): Promise<BlobRef | undefined>;
  /** A blob's bytes. */
  read(namespace: string, digest: string): Promise<Buffer>;
}

/** How long one call to containerd may take. */
const CALL_TIMEOUT_MS = 30_000;

/**
 * containerd's image and content stores over its gRPC socket (`containerd.sock`, beside
 * the `.ttrpc` socket the daemon sends events to).
 */
export class ContainerdContent implements ImageContent {
  private readonly client: GrpcClient;

  constructor(address: string) {
    this.client = new GrpcClient(address);
  }

  async target(namespace: string, imageName: string): Promise<BlobRef | undefined> {
    try {
      const { image } = await this.client.service(Images).get({ name: imageName }, { namespace, timeoutMs: CALL_TIMEOUT_MS });
      const t = image?.target;
      return t ? { mediaType: t.mediaType, digest: t.digest, size: Number(t.size) } : undefined;
    } catch (err) {
      if (err instanceof RuntimeError && err.code === Code.NotFound) return undefined;
      throw err;
    }
  }

  async read(namespace: string, digest: string): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const r of this.client.serverStream(Content.method.read, { digest }, { namespace, timeoutMs: CALL_TIMEOUT_MS })) chunks.push(Buffer.from(r.data));
    return Buffer.concat(chunks);
  }

  close(): void {
    this.client.close();
  }
}

/** containerd's gRPC socket from its ttrpc one (containerd serves `<grpc>.ttrpc`). */
export function grpcAddressOf(ttrpcAddress: string): string {
  return ttrpcAddress.endsWith(".ttrpc") ? ttrpcAddress.slice(0, -".ttrpc".length) : ttrpcAddress;
}
