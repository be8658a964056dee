import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { execFileSync } from "node:child_process";
import { statSync } from "node:fs";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import { TtrpcClient } from "../../src/ttrpc/client.js";
import type { ConnectionClosedEvent } from "../../src/ttrpc/diagnostics.js";
import { encodeFrame, HEADER_LENGTH, MAX_DATA_LENGTH, MessageType } from "../../src/ttrpc/frame.js";
import { decodeResponse, encodeRequest } from "../../src/ttrpc/messages.js";
import { metadataFrom } from "../../src/ttrpc/metadata.js";
import { TtrpcServer } from "../../src/ttrpc/server.js";
import { listeningServer, RawPeer } from "./helpers.js";

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const request = (id: number, service: string, method: string, payload = new Uint8Array(), type: number = MessageType.Request) =>
  encodeFrame(id, type, 0, encodeRequest({ service, method, payload }));

describe("ttrpc server and client", () => {
  it("serves concurrent calls on one connection and answers each as it finishes", async (t) => {
    const { server, path } = await listeningServer(t);
    const order: string[] = [];
    server.register("test.Echo", {
      Slow: async (p) => {
        await new Promise((r) => setTimeout(r, 50));
        order.push("slow");
        return p;
      },
      Fast: async (p) => {
        order.push("fast");
        return p;
      },
    });
    const client = await TtrpcClient.connect(`unix://${path}`);
    t.after(() => client.destroy());
    const [a, b] = await Promise.all([client.call("test.Echo", "Slow", enc("one")), client.call("test.Echo", "Fast", enc("two"))]);
    assert.equal(dec(a), "one");
    assert.equal(dec(b), "two");
    assert.deepEqual(order, ["fast", "slow"]);
  });

  it("passes metadata (keys lower-cased, repeated keys kept) and the deadline", async (t) => {
    const { server, path } = await listeningServer(t);
    let seen: { md: [string, readonly string[]][]; deadline?: number } | undefined;
    server.register("test.Md", {
      Get: async (_p, ctx) => {
        seen = { md: [...ctx.metadata], deadline: ctx.deadlineMs };
        return new Uint8Array();
      },
    });
    const client = await TtrpcClient.connect(path);
    t.after(() => client.destroy());
    const before = Date.now();
    const reply = await client.call("test.Md", "Get", new Uint8Array(), {
      metadata: metadataFrom([["Containerd-Namespace-Ttrpc", "k8s.io"], ["x", "1"], ["X", "2"]]),
      timeoutMs: 2000,
    });
    assert.equal(reply.length, 0);
    assert.deepEqual(seen!.md, [["containerd-namespace-ttrpc", ["k8s.io"]], ["x", ["1", "2"]]]);
    assert.ok(seen!.deadline! >= before + 1900 && seen!.deadline! <= Date.now() + 2000);
  });

  it("maps handler errors to status codes, unknown errors to Unknown", async (t) => {
    const { server, path } = await listeningServer(t);
    server.register("test.Err", {
      NotFound: async () => {
        throw new RuntimeError(Code.NotFound, "container x not found");
      },
      Plain: async () => {
        throw new Error("boom");
      },
      Sync: () => {
        throw new RuntimeError(Code.InvalidArgument, "sync throw");
      },
    });
    const client = await TtrpcClient.connect(path);
    t.after(() => client.destroy());
    await assert.rejects(client.call("test.Err", "NotFound", new Uint8Array()), { code: Code.NotFound, message: "container x not found" });
    await assert.rejects(client.call("test.Err", "Plain", new Uint8Array()), { code: Code.Unknown, message: "boom" });
    await assert.rejects(client.call("test.Err", "Sync", new Uint8Array()), { code: Code.InvalidArgument });
    await assert.rejects(client.call("test.Nope", "X", new Uint8Array()), { code: Code.Unimplemented, message: "service test.Nope" });
    await assert.rejects(client.call("test.Err", "Nope", new Uint8Array()), { code: Code.Unimplemented, message: "method Nope" });
  });

  it("aborts the handler's signal when the deadline passes and fails the call with DeadlineExceeded", async (t) => {
    const { server, path } = await listeningServer(t);
    let aborted: unknown;
    server.register("test.Hang", {
      Wait: (_p, ctx) =>
        new Promise((_r, reject) =>
          ctx.signal.addEventListener("abort", () => {
            aborted = ctx.signal.reason;
            reject(ctx.signal.reason);
          }),
        ),
    });
    const client = await TtrpcClient.connect(path);
    t.after(() => client.destroy());
    await assert.rejects(client.call("test.Hang", "Wait", new Uint8Array(), { timeoutMs: 50 }), { code: Code.DeadlineExceeded });
    while (aborted === undefined) await new Promise((r) => setTimeout(r, 5));
    assert.equal((aborted as RuntimeError).code, Code.DeadlineExceeded);
  });

  it("validates stream ids and payloads like containerd/ttrpc, keeping the connection", async (t) => {
    const { server, path } = await listeningServer(t);
    server.register("test.S", { M: async (p) => p });
    const peer = await RawPeer.open(path);
    t.after(() => peer.socket.destroy());
    peer.write(request(2, "test.S", "M")); // even
    peer.write(request(5, "test.S", "M", enc("ok"))); // fine
    peer.write(request(3, "test.S", "M")); // goes backwards
    peer.write(encodeFrame(7, MessageType.Request, 0, Uint8Array.from([0xff, 0xff, 0xff]))); // not a Request
    peer.write(encodeFrame(9, MessageType.Data, 0, new Uint8Array())); // no such stream
    peer.write(encodeFrame(11, 0x7f, 0, enc("future frame type"))); // ignored
    peer.write(request(13, "test.S", "M", enc("still here")));
    const frames = await peer.waitFrames(6);
    const byId = new Map(frames.map((f) => [f.streamId, decodeResponse(f.data)]));
    assert.deepEqual([...byId.keys()].sort((a, b) => a - b), [2, 3, 5, 7, 9, 13]);
    assert.deepEqual(byId.get(2)!.status, { ...byId.get(2)!.status!, code: 3, message: "StreamID must be odd for client initiated streams" });
    assert.equal(byId.get(3)!.status!.message, "StreamID cannot be re-used and must increment");
    assert.equal(byId.get(7)!.status!.code, Code.InvalidArgument);
    assert.match(byId.get(7)!.status!.message, /^unmarshal request error/);
    assert.equal(byId.get(9)!.status!.message, "StreamID is no longer active");
    assert.equal(dec(byId.get(5)!.payload), "ok");
    assert.equal(byId.get(5)!.status, undefined);
    assert.equal(dec(byId.get(13)!.payload), "still here");
    assert.equal(peer.closed, false);
  });

  it("answers an oversize frame with ResourceExhausted, closes that connection only, and reports why", async (t) => {
    const { server, path } = await listeningServer(t);
    server.register("test.S", { M: async (p) => p });
    const events: ConnectionClosedEvent[] = [];
    const onEvent = (m: unknown) => events.push(m as ConnectionClosedEvent);
    subscribe("kuasar:ttrpc:connection-closed", onEvent);
    t.after(() => unsubscribe("kuasar:ttrpc:connection-closed", onEvent));

    const peer = await RawPeer.open(path);
    const head = Buffer.alloc(HEADER_LENGTH);
    head.writeUInt32BE(MAX_DATA_LENGTH + 1, 0);
    head.writeUInt32BE(21, 4);
    head[8] = MessageType.Request;
    peer.write(head);
    peer.write(Buffer.alloc(64 * 1024, 0xaa)); // the start of the "data": never buffered
    const [f] = await peer.waitFrames(1);
    assert.equal(f!.streamId, 21);
    const st = decodeResponse(f!.data).status!;
    assert.equal(st.code, Code.ResourceExhausted);
    assert.equal(st.message, `message length ${MAX_DATA_LENGTH + 1} exceed maximum message size of ${MAX_DATA_LENGTH}`);
    await peer.waitClosed();
    const oversize = () => events.find((e) => e.side === "server" && /exceed maximum message size/.test(e.reason?.message ?? ""));
    while (!oversize()) await new Promise((r) => setTimeout(r, 5));

    const client = await TtrpcClient.connect(path);
    t.after(() => client.destroy());
    assert.equal(dec(await client.call("test.S", "M", enc("alive"))), "alive");
  });

  it("survives garbage and a truncated frame followed by a close", async (t) => {
    const { server, path } = await listeningServer(t);
    server.register("test.S", { M: async (p) => p });
    const garbage = await RawPeer.open(path);
    garbage.write(Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    await garbage.waitClosed();

    const trunc = await RawPeer.open(path);
    trunc.write(request(1, "test.S", "M", enc("x")).subarray(0, 15));
    trunc.socket.end();
    await trunc.waitClosed();
    assert.equal(server.connectionCount, 0);

    const client = await TtrpcClient.connect(path);
    t.after(() => client.destroy());
    assert.equal(dec(await client.call("test.S", "M", enc("ok"))), "ok");
  });

  it("close() lets calls in flight finish; destroy() aborts them", async (t) => {
    const { server, path } = await listeningServer(t);
    let release!: () => void;
    let abortedReason: unknown;
    server.register("test.L", {
      Slow: () => new Promise<Uint8Array>((r) => (release = () => r(enc("done")))),
      Hang: (_p, ctx) => new Promise((_r, j) => ctx.signal.addEventListener("abort", () => j((abortedReason = ctx.signal.reason)))),
    });
    const client = await TtrpcClient.connect(path);
    const slow = client.call("test.L", "Slow", new Uint8Array());
    while (!release) await new Promise((r) => setTimeout(r, 5));
    const closing = server.close();
    await assert.rejects(TtrpcClient.connect(path), { code: Code.Unavailable });
    release();
    assert.equal(dec(await slow), "done");
    await closing;

    const { server: s2, path: p2 } = await listeningServer(t);
    s2.register("test.L", { Hang: (_p, ctx) => new Promise((_r, j) => ctx.signal.addEventListener("abort", () => j((abortedReason = ctx.signal.reason)))) });
    const c2 = await TtrpcClient.connect(p2);
    const hang = c2.call("test.L", "Hang", new Uint8Array());
    await new Promise((r) => setTimeout(r, 20));
    await s2.destroy();
    await assert.rejects(hang, { code: Code.Unavailable });
    assert.equal((abortedReason as RuntimeError).code, Code.Canceled);
  });

  it("client: a dead server fails pending calls with Unavailable and later calls at once", async (t) => {
    const { server, path } = await listeningServer(t);
    server.register("test.H", { Hang: () => new Promise(() => {}) });
    const client = await TtrpcClient.connect(path);
    const p = client.call("test.H", "Hang", new Uint8Array());
    await new Promise((r) => setTimeout(r, 20));
    await server.destroy();
    await assert.rejects(p, { code: Code.Unavailable });
    await assert.rejects(client.call("test.H", "Hang", new Uint8Array()), { code: Code.Unavailable, message: /ttrpc: closed/ });
    assert.ok(client.closed);
  });

  it("client: refuses addresses that are not unix paths", async () => {
    await assert.rejects(TtrpcClient.connect("relative.sock"), { code: Code.InvalidArgument });
    await assert.rejects(TtrpcClient.connect("vsock://3:1024"), { code: Code.InvalidArgument });
  });

  it("a second server on a live socket fails with AlreadyExists; a stale socket file is replaced", async (t) => {
    const { path } = await listeningServer(t);
    await assert.rejects(new TtrpcServer().listen(path), { code: Code.AlreadyExists });

    // A socket file nobody listens on (a crashed daemon's leftover): bind without listen.
    const stale = `${path}.stale`;
    execFileSync("python3", ["-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", stale]);
    const s2 = new TtrpcServer();
    await s2.listen(stale);
    t.after(() => s2.destroy());
    assert.equal(statSync(stale).mode & 0o777, 0o600);
  });
});
