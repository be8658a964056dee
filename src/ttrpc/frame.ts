import { ChunkQueue } from "../bytes/chunk-queue.js";

/**
 * ttrpc framing: a pure codec, bytes in and frames out (no sockets, timers or logs).
 *
 * ```
 *  0               4               8       9       10
 *  +---------------+---------------+-------+-------+----------------+
 *  | length (BE32) | stream id     | type  | flags | data (length)  |
 *  +---------------+---------------+-------+-------+----------------+
 * ```
 * `length` excludes the 10-byte header and never exceeds {@link MAX_DATA_LENGTH}.
 */

/** Size of the frame header in bytes. */
export const HEADER_LENGTH = 10;
/** Largest data length a peer may send: 4 MiB, as containerd/ttrpc. */
export const MAX_DATA_LENGTH = 4 << 20;

/** Frame types. Unknown types are skipped by receivers (forward compatibility). */
export const MessageType = {
  Request: 0x01,
  Response: 0x02,
  Data: 0x03,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** Frame flags; the meaning depends on the frame type. */
export const Flag = {
  /** Request/Data: the sender will send nothing more on this stream. */
  RemoteClosed: 0x01,
  /** Request: the client will send Data frames. */
  RemoteOpen: 0x02,
  /** Data: the frame carries no message. */
  NoData: 0x04,
} as const;

/** One decoded frame. `data` is a view into a private copy, safe to keep. */
export interface Frame {
  readonly streamId: number;
  readonly type: number;
  readonly flags: number;
  readonly data: Uint8Array;
}

/** Raised by {@link FrameDecoder} when a header announces more than the maximum. */
export class OversizeFrameError extends Error {
  override readonly name = "OversizeFrameError";
  constructor(
    readonly streamId: number,
    readonly length: number,
  ) {
    super(`message length ${length} exceed maximum message size of ${MAX_DATA_LENGTH}`);
  }
}

/** Encodes one frame. Throws OversizeFrameError rather than send what the peer must reject. */
export function encodeFrame(streamId: number, type: number, flags: number, data: Uint8Array): Buffer {
  if (data.length > MAX_DATA_LENGTH) throw new OversizeFrameError(streamId, data.length);
  const out = Buffer.allocUnsafe(HEADER_LENGTH + data.length);
  out.writeUInt32BE(data.length, 0);
  out.writeUInt32BE(streamId >>> 0, 4);
  out.writeUInt8(type, 8);
  out.writeUInt8(flags, 9);
  out.set(data, HEADER_LENGTH);
  return out;
}

/**
 * Incremental decoder: feed arbitrary chunks (split or merged frames) and get
 * whole frames back. An oversize length is rejected from the header alone,
 * before any of its data is buffered, so a hostile peer cannot grow memory.
 */
export class FrameDecoder {
  private readonly queue = new ChunkQueue();

  /** Bytes held waiting for the rest of a frame. */
  get pending(): number {
    return this.queue.length;
  }

  /** Appends `chunk` and returns every frame now complete, in order. */
  push(chunk: Uint8Array): Frame[] {
    this.queue.push(chunk);
    const frames: Frame[] = [];
    while (this.queue.length >= HEADER_LENGTH) {
      const head = this.queue.peek(HEADER_LENGTH);
      const length = head.readUInt32BE(0);
      const streamId = head.readUInt32BE(4);
      if (length > MAX_DATA_LENGTH) throw new OversizeFrameError(streamId, length);
      if (this.queue.length < HEADER_LENGTH + length) break;
      const whole = this.queue.take(HEADER_LENGTH + length);
      frames.push({
        streamId,
        type: whole[8]!,
        flags: whole[9]!,
        data: whole.subarray(HEADER_LENGTH),
      });
    }
    return frames;
  }
}
