import { mkdtempSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { GrpcClient, type GrpcClientOptions } from "../../src/grpc/client.js";
import { GrpcServer, type GrpcServiceImpl } from "../../src/grpc/server.js";

/** A fresh directory under the system temp dir, removed after the test. */
export function tempDir(t: TestContext, prefix = "grpc-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A server serving `impl` on a fresh socket, destroyed after the test. */
export async function listeningServer<S extends GenService<GenServiceMethods>>(
  t: TestContext,
  service: S,
  impl: Partial<GrpcServiceImpl<S>>,
): Promise<{ server: GrpcServer; path: string }> {
  const path = join(tempDir(t), "s.sock");
  const server = new GrpcServer();
  server.register(service, impl);
  await server.listen(path);
  t.after(() => server.destroy());
  return { server, path };
}

/** A client of `path`, closed after the test. */
export function clientOf(t: TestContext, path: string, options?: Partial<GrpcClientOptions>): GrpcClient {
  const client = new GrpcClient(path, options);
  t.after(() => client.close());
  return client;
}

/** What a raw HTTP/2 peer saw of one gRPC call. */
export interface RawReply {
  httpStatus: number;
  /** grpc-status, from the trailers or from a trailers-only HEADERS frame. */
  grpcStatus: number | undefined;
  /** grpc-message exactly as on the wire (still percent-encoded). */
  grpcMessageRaw: string | undefined;
  /** The response data, length-prefixed messages as sent. */
  body: Buffer;
}

/** The 5-byte gRPC message prefix (uncompressed) followed by `msg`. */
export function lengthPrefixed(msg: Uint8Array): Buffer {
  const b = Buffer.alloc(5 + msg.length);
  b.writeUInt32BE(msg.length, 1);
  b.set(msg, 5);
  return b;
}

/**
 * One call made by hand on `node:http2` with the headers containerd's grpc-go
 * client sends (h2c prior knowledge on the unix socket). `body` goes out as given.
 */
export async function rawCall(socketPath: string, path: string, body: Uint8Array, headers: Record<string, string> = {}): Promise<RawReply> {
  const session = http2.connect("http://localhost", { createConnection: () => connect(socketPath) });
  session.on("error", () => {});
  try {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-accept-encoding": "gzip",
      "user-agent": "grpc-go/1.81.1",
      "containerd-namespace": "k8s.io",
      ...headers,
    });
    return await new Promise<RawReply>((resolve, reject) => {
      const chunks: Buffer[] = [];
      const reply: RawReply = { httpStatus: 0, grpcStatus: undefined, grpcMessageRaw: undefined, body: Buffer.alloc(0) };
      const status = (h: http2.IncomingHttpHeaders) => {
        if (h["grpc-status"] === undefined) return;
        reply.grpcStatus = Number(h["grpc-status"]);
        reply.grpcMessageRaw = h["grpc-message"] as string | undefined;
      };
      stream.on("response", (h) => {
        reply.httpStatus = Number(h[":status"]);
        status(h);
      });
      stream.on("trailers", status);
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", reject);
      stream.on("close", () => {
        reply.body = Buffer.concat(chunks);
        resolve(reply);
      });
      stream.end(body);
    });
  } finally {
    session.close();
  }
}

/** A promise plus its resolve function, for handlers a test releases. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
