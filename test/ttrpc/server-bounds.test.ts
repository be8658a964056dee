import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Code } from "../../src/errors/code.js";
import { TtrpcClient } from "../../src/ttrpc/client.js";
import { encodeFrame, MessageType } from "../../src/ttrpc/frame.js";
import { decodeResponse, encodeRequest } from "../../src/ttrpc/messages.js";
import { TtrpcServer, type TtrpcServerOptions } from "../../src/ttrpc/server.js";
import { RawPeer } from "./helpers.js";

async function boundedServer(t: TestContext, options: Partial<TtrpcServerOptions>): Promise<{ server: TtrpcServer; path: string }> {
  const dir = mkdtempSync(join(tmpdir(), "ttrpc-bounds-"));
  const path = join(dir, "s.sock");
  const server = new TtrpcServer(options);
  server.register("test.Echo", { Echo: async (p) => p, Hang: () => new Promise(() => {}) });
  await server.listen(path);
  t.after(async () => {
    await server.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return { server, path };
}

const echo = (id: number, timeoutNano = 0n) => encodeFrame(id, MessageType.Request, 0, encodeRequest({ service: "test.Echo", method: "Echo", payload: new Uint8Array([7]), timeoutNano }));

describe("ttrpc server bounds", { timeout: 20_000 }, () => {
  it("closes a connection stalled in the middle of a frame, header or data, and keeps a busy one", async (t) => {
    const { server, path } = await boundedServer(t, { partialFrameTimeoutMs: 40 });
    const halfHeader = await RawPeer.open(path);
    halfHeader.write(echo(1).subarray(0, 4));
    const halfData = await RawPeer.open(path);
    const whole = echo(1);
    halfData.write(whole.subarray(0, whole.length - 2));
    const healthy = await RawPeer.open(path);
    healthy.write(echo(1));
    await Promise.all([halfHeader.waitClosed(), halfData.waitClosed()]);
    assert.equal(server.boundClosures.partialFrame, 2);
    // A connection with whole frames only is not a stalled one.
    healthy.write(echo(3));
    const frames = await healthy.waitFrames(2);
    assert.equal(frames.length, 2);
    assert.equal(healthy.closed, false);
    healthy.socket.destroy();
  });

  it("closes idle connections, never one with a call in flight", async (t) => {
    const { server, path } = await boundedServer(t, { idleTimeoutMs: 40 });
    const idle = await RawPeer.open(path);
    const waiting = await RawPeer.open(path);
    waiting.write(encodeFrame(1, MessageType.Request, 0, encodeRequest({ service: "test.Echo", method: "Hang", payload: new Uint8Array() })));
    await idle.waitClosed();
    // Give the sweep a few more turns: the hanging call keeps its connection.
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 40));
    assert.equal(waiting.closed, false);
    assert.ok(server.boundClosures.idle >= 1);
    waiting.socket.destroy();
  });

  it("refuses connections past the limit, except trusted ones, and the count drops as they go", async (t) => {
    const trustedSockets = new Set<Socket>();
    let trustNext = false;
    const { server, path } = await boundedServer(t, {
      maxConnections: 2,
      isTrusted: async (s) => trustedSockets.has(s),
    });
    const origAccept = server.accept.bind(server);
    server.accept = (s) => {
      if (trustNext) trustedSockets.add(s);
      return origAccept(s);
    };
    const a = await RawPeer.open(path);
    const b = await RawPeer.open(path);
    const c = await RawPeer.open(path);
    await c.waitClosed();
    assert.equal(server.boundClosures.limit, 1);
    // The next connection is trusted: it stays past the limit.
    trustNext = true;
    const d = await RawPeer.open(path);
    trustNext = false;
    d.write(echo(1));
    const [reply] = await d.waitFrames(1);
    assert.ok(reply, "the trusted connection is served");
    assert.equal(d.closed, false);
    a.socket.destroy();
    b.socket.destroy();
    await new Promise((r) => setTimeout(r, 20));
    const e = await RawPeer.open(path);
    e.write(echo(1));
    assert.equal((await e.waitFrames(1)).length, 1, "a slot freed by a closed connection is usable again");
    for (const p of [d, e]) p.socket.destroy();
  });

  it("answers DeadlineExceeded at the caller's deadline even when the handler never settles", async (t) => {
    const { server, path } = await boundedServer(t, {});
    const client = await TtrpcClient.connect(`unix://${path}`);
    t.after(() => client.destroy());
    const peer = await RawPeer.open(path);
    peer.write(encodeFrame(1, MessageType.Request, 0, encodeRequest({ service: "test.Echo", method: "Hang", payload: new Uint8Array(), timeoutNano: 30_000_000n })));
    const [f] = await peer.waitFrames(1);
    assert.equal(decodeResponse(f!.data).status?.code, Code.DeadlineExceeded);
    assert.equal(server.connectionCount, 2);
    peer.socket.destroy();
  });

  it("takes a timeout too long for a timer as no timeout, not as an expired one", async (t) => {
    const { path } = await boundedServer(t, {});
    const peer = await RawPeer.open(path);
    peer.write(echo(1, 2n ** 63n - 1n));
    const [f] = await peer.waitFrames(1);
    assert.equal(decodeResponse(f!.data).status, undefined, "answered OK");
    peer.socket.destroy();
  });
});
