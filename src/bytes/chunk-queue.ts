/**
 * Bytes received in chunks, consumed from the front: the buffer behind the
 * incremental decoders (ttrpc frames, holder messages). Chunks are kept as they
 * came and copied once, when a whole message is taken.
 */
export class ChunkQueue {
  private chunks: Buffer[] = [];
  private size = 0;

  /** Bytes held. */
  get length(): number {
    return this.size;
  }

  /** Appends a chunk (not copied: the caller must not reuse it). */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
    this.size += chunk.length;
  }

  /** A view of the first `n` bytes (n <= length), without consuming them. */
  peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!.subarray(0, n);
  }

  /** Removes `n` bytes (n <= length) from the front; returns an owned copy. */
  take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const first = this.chunks[0]!;
      const want = n - off;
      if (first.length <= want) {
        out.set(first, off);
        off += first.length;
        this.chunks.shift();
      } else {
        out.set(first.subarray(0, want), off);
        this.chunks[0] = first.subarray(want);
        off += want;
      }
    }
    this.size -= n;
    return out;
  }
}
