import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Server, ServerCredentials, status, type ServerWritableStream } from "@grpc/grpc-js";
import { Code } from "../../src/errors/code.js";
import { Content, ReadContentRequestSchema, ReadContentResponseSchema, type ReadContentRequest } from "../../src/gen/containerd/services/content/v1/content_pb.js";
import { clientOf, tempDir } from "./helpers.js";

/** A raw grpc-js server whose Content.Read streams `chunks` for digest "sha256:ok", fails NotFound otherwise. */
async function contentServer(t: TestContext, chunks: string[]): Promise<{ path: string; namespaces: string[] }> {
  const path = join(tempDir(t), "c.sock");
  const namespaces: string[] = [];
  const server = new Server();
  server.addService(
    {
      read: {
        path: "/containerd.services.content.v1.Content/Read",
        requestStream: false,
        responseStream: true,
        requestSerialize: (r: ReadContentRequest) => Buffer.from(toBinary(ReadContentRequestSchema, r)),
        requestDeserialize: (b: Buffer) => fromBinary(ReadContentRequestSchema, b),
        responseSerialize: (b: Buffer) => b,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    {
      read: (call: ServerWritableStream<ReadContentRequest, Buffer>) => {
        namespaces.push(String(call.metadata.get("containerd-namespace")[0] ?? ""));
        if (call.request.digest !== "sha256:ok") {
          call.emit("error", { code: status.NOT_FOUND, details: `content digest ${call.request.digest}: not found` });
          return;
        }
        let offset = 0n;
        for (const c of chunks) {
          call.write(Buffer.from(toBinary(ReadContentResponseSchema, create(ReadContentResponseSchema, { offset, data: Buffer.from(c) }))));
          offset += BigInt(c.length);
        }
        call.end();
      },
    },
  );
  await new Promise<void>((resolve, reject) => server.bindAsync(`unix:${path}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  t.after(() => server.forceShutdown());
  return { path, namespaces };
}

describe("GrpcClient.serverStream", () => {
  it("yields every message in order, with the call's namespace", async (t) => {
    const { path, namespaces } = await contentServer(t, ["ab", "cd", "e"]);
    const client = clientOf(t, path);
    const got: string[] = [];
    for await (const r of client.serverStream(Content.method.read, { digest: "sha256:ok" }, { namespace: "k8s.io" })) got.push(`${r.offset}:${Buffer.from(r.data).toString()}`);
    assert.deepEqual(got, ["0:ab", "2:cd", "4:e"]);
    assert.deepEqual(namespaces, ["k8s.io"]);
  });

  it("rejects with the server's status and message", async (t) => {
    const { path } = await contentServer(t, []);
    const client = clientOf(t, path);
    await assert.rejects(
      (async () => {
        for await (const _ of client.serverStream(Content.method.read, { digest: "sha256:nope" })) void _;
      })(),
      { code: Code.NotFound, message: "content digest sha256:nope: not found" },
    );
  });

  it("fails Unavailable when nothing listens", async (t) => {
    const client = clientOf(t, join(tempDir(t), "none.sock"));
    await assert.rejects(
      (async () => {
        for await (const _ of client.serverStream(Content.method.read, { digest: "sha256:ok" })) void _;
      })(),
      { code: Code.Unavailable },
    );
  });
});
