import type { Socket } from "node:net";
import { encodeFrame, FrameDecoder, type Frame } from "./frame.js";

/** Why a framed socket ended: undefined for an orderly close by either side. */
export type CloseReason = Error | undefined;

/**
 * A socket carrying ttrpc frames: decodes incoming bytes into frames and
 * writes encoded frames. Both client and server connections sit on one.
 * Decoder errors end the socket (reported through `onClose`), never throw.
 */
export class FramedSocket {
  private readonly decoder = new FrameDecoder();
  private closed = false;
  /** Set once the byte stream is unusable; later bytes are dropped. */
  private broken = false;
  private closeReason: CloseReason;
  private received = 0;

  constructor(
    readonly socket: Socket,
    private readonly onFrame: (frame: Frame) => void,
    private readonly onClose: (reason: CloseReason) => void,
    /** Called with a decoding error before the socket is destroyed; may send a last frame. */
    private readonly onProtocolError: (err: Error) => void = () => {},
  ) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", (err) => {
      this.closeReason ??= err;
    });
    socket.on("close", () => this.finish());
    // A peer half-close means it will send no more requests; replies still go out.
    socket.on("end", () => {
      if (this.pendingBytes > 0) this.closeReason ??= new Error(`connection closed with ${this.pendingBytes} bytes of a partial frame`);
    });
  }

  /** Bytes of an incomplete frame held in the decoder. */
  get pendingBytes(): number {
    return this.decoder.pending;
  }

  /** Bytes received so far (a stalled peer's count stops moving). */
  get bytesReceived(): number {
    return this.received;
  }

  /** True once the socket is closed or closing. */
  get isClosed(): boolean {
    return this.closed || this.socket.destroyed;
  }

  /** Sends one frame; silently drops it if the socket is already gone. */
  send(streamId: number, type: number, flags: number, data: Uint8Array): void {
    if (this.isClosed) return;
    this.socket.write(encodeFrame(streamId, type, flags, data));
  }

  /** Flushes pending writes, then closes. */
  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  /** Closes at once, recording `reason`. */
  destroy(reason?: Error): void {
    this.closeReason ??= reason;
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    this.received += chunk.length;
    if (this.broken) return;
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      this.broken = true;
      this.closeReason ??= e;
      this.socket.pause();
      this.onProtocolError(e);
      this.socket.end();
      // end() flushes the last frame; destroy if the peer does not close promptly.
      setTimeout(() => this.socket.destroy(), 1000).unref();
      return;
    }
    for (const f of frames) {
      if (this.closed) return;
      this.onFrame(f);
    }
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this.closeReason);
  }
}
