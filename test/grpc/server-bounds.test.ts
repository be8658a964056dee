import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Controller } from "../../src/gen/containerd/services/sandbox/v1/sandbox_pb.js";
import { GrpcServer } from "../../src/grpc/server.js";
import { clientOf, tempDir } from "./helpers.js";

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
/** A HEADERS frame header announcing 100 bytes, then 3 of them. */
const HALF_HEADERS = Buffer.from([0, 0, 100, 1, 4, 0, 0, 0, 1, 1, 2, 3]);

async function opened(path: string, bytes: Buffer): Promise<Socket> {
  const s = connect(path);
  s.on("error", () => {});
  s.resume(); // read what the server sends, its EOF included
  await new Promise<void>((r) => s.once("connect", r));
  s.write(bytes);
  return s;
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > 2000) throw new Error(`still not ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe("gRPC server bounds", { timeout: 30_000 }, () => {
  it("cuts peers that stall in their preface, mid-frame or before a byte, and still serves a real client", async (t) => {
    const path = join(tempDir(t), "s.sock");
    const server = new GrpcServer({ keepaliveTimeMs: 50, keepaliveTimeoutMs: 50 });
    server.register(Controller, { status: async (req) => ({ sandboxId: req.sandboxId }) });
    await server.listen(path);
    t.after(() => server.destroy());
    const stalled = [
      await opened(path, PREFACE.subarray(0, 10)),
      await opened(path, Buffer.concat([PREFACE, EMPTY_SETTINGS, HALF_HEADERS])),
      await opened(path, Buffer.alloc(0)),
    ];
    const client = clientOf(t, path);
    assert.equal((await client.service(Controller).status({ sandboxId: "a" })).sandboxId, "a");
    // The stalled peers never close their side: the server must.
    await Promise.all(stalled.map((s) => new Promise((r) => (s.destroyed ? r(undefined) : s.once("close", r)))));
    await until("down to the real client's connection", () => server.connectionCount === 1);
    assert.equal((await client.service(Controller).status({ sandboxId: "b" }, { timeoutMs: 5000 })).sandboxId, "b", "a client that answers pings keeps its connection");
  });

  it("refuses connections past the limit and serves again once one goes", async (t) => {
    const path = join(tempDir(t), "s.sock");
    const server = new GrpcServer({ maxConnections: 2 });
    server.register(Controller, { status: async (req) => ({ sandboxId: req.sandboxId }) });
    await server.listen(path);
    t.after(() => server.destroy());
    const held = [await opened(path, PREFACE), await opened(path, PREFACE)];
    await until("two connections", () => server.connectionCount === 2);
    const third = await opened(path, PREFACE);
    await new Promise((r) => third.once("close", r));
    assert.equal(server.refusedConnections, 1);
    held[0]!.destroy();
    await until("one connection", () => server.connectionCount === 1);
    const client = clientOf(t, path);
    assert.equal((await client.service(Controller).status({ sandboxId: "c" }, { timeoutMs: 5000 })).sandboxId, "c");
    held[1]!.destroy();
  });

  it("refuses bad bounds by name", () => {
    assert.throws(() => new GrpcServer({ maxConnections: 0 }), /maxConnections/);
    assert.throws(() => new GrpcServer({ keepaliveTimeMs: 2 ** 31 }), /keepaliveTimeMs/);
    assert.throws(() => new GrpcServer({ idleTimeoutMs: 0 }), /idleTimeoutMs/);
  });
});
