import { mkdtempSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { FrameDecoder, type Frame } from "../../src/ttrpc/frame.js";
import { TtrpcServer } from "../../src/ttrpc/server.js";

/** A server listening on a fresh socket path, destroyed after the test. */
export async function listeningServer(t: TestContext): Promise<{ server: TtrpcServer; path: string }> {
  const dir = mkdtempSync(join(tmpdir(), "ttrpc-test-"));
  const path = join(dir, "s.sock");
  const server = new TtrpcServer();
  await server.listen(path);
  t.after(async () => {
    await server.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return { server, path };
}

/** A raw peer: writes bytes, collects decoded frames, records when the server closes. */
export class RawPeer {
  readonly frames: Frame[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder();
  private waiters: (() => void)[] = [];

  private constructor(readonly socket: Socket) {
    socket.on("data", (c) => {
      this.frames.push(...this.decoder.push(c));
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  static async open(path: string): Promise<RawPeer> {
    const s = connect(path);
    await new Promise<void>((r, j) => s.once("connect", r).once("error", j));
    return new RawPeer(s);
  }

  write(b: Uint8Array): void {
    this.socket.write(b);
  }

  /** Resolves once `n` frames arrived (or the socket closed). */
  async waitFrames(n: number): Promise<Frame[]> {
    while (this.frames.length < n && !this.closed) await new Promise<void>((r) => this.waiters.push(r));
    return this.frames.slice(0, n);
  }

  async waitClosed(): Promise<void> {
    while (!this.closed) await new Promise<void>((r) => this.waiters.push(r));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
