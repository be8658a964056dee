import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { encodeFrame, FrameDecoder, HEADER_LENGTH, MAX_DATA_LENGTH, MessageType, OversizeFrameError } from "../../src/ttrpc/frame.js";

const bytes = (...xs: number[]) => Uint8Array.from(xs);

describe("ttrpc frame codec", () => {
  it("encodes the 10-byte big-endian header", () => {
    const f = encodeFrame(0x01020304, MessageType.Response, 0x05, bytes(9, 8, 7));
    assert.deepEqual([...f], [0, 0, 0, 3, 1, 2, 3, 4, 2, 5, 9, 8, 7]);
  });

  it("encodes and decodes an empty frame (a successful Empty reply)", () => {
    const f = encodeFrame(1, MessageType.Response, 0, new Uint8Array());
    assert.equal(f.length, HEADER_LENGTH);
    const [out, ...rest] = new FrameDecoder().push(f);
    assert.equal(rest.length, 0);
    assert.deepEqual({ ...out, data: [...out!.data] }, { streamId: 1, type: 2, flags: 0, data: [] });
  });

  it("reassembles a frame split at every byte boundary", () => {
    const whole = encodeFrame(7, MessageType.Request, 0, bytes(...Array.from({ length: 40 }, (_, i) => i)));
    for (let cut = 1; cut < whole.length; cut++) {
      const d = new FrameDecoder();
      assert.deepEqual(d.push(whole.subarray(0, cut)), []);
      const frames = d.push(whole.subarray(cut));
      assert.equal(frames.length, 1, `cut at ${cut}`);
      assert.equal(frames[0]!.streamId, 7);
      assert.equal(frames[0]!.data.length, 40);
      assert.equal(d.pending, 0);
    }
  });

  it("reassembles a frame fed one byte at a time", () => {
    const whole = encodeFrame(3, MessageType.Data, 1, bytes(1, 2, 3, 4, 5));
    const d = new FrameDecoder();
    const got = [...whole].flatMap((b) => d.push(bytes(b)));
    assert.equal(got.length, 1);
    assert.deepEqual([...got[0]!.data], [1, 2, 3, 4, 5]);
  });

  it("splits merged frames in order, keeping the tail of a third", () => {
    const a = encodeFrame(1, 1, 0, bytes(1));
    const b = encodeFrame(3, 1, 0, bytes(2, 2));
    const c = encodeFrame(5, 1, 0, bytes(3, 3, 3));
    const d = new FrameDecoder();
    const frames = d.push(Buffer.concat([a, b, c.subarray(0, 12)]));
    assert.deepEqual(frames.map((f) => f.streamId), [1, 3]);
    assert.equal(d.pending, 12);
    assert.deepEqual(d.push(c.subarray(12)).map((f) => [...f.data]), [[3, 3, 3]]);
  });

  it("holds a truncated frame without emitting it", () => {
    const d = new FrameDecoder();
    const f = encodeFrame(1, 1, 0, bytes(1, 2, 3, 4));
    assert.deepEqual(d.push(f.subarray(0, f.length - 1)), []);
    assert.equal(d.pending, f.length - 1);
  });

  it("accepts exactly the maximum and rejects one byte more from the header alone", () => {
    const head = Buffer.alloc(HEADER_LENGTH);
    head.writeUInt32BE(MAX_DATA_LENGTH, 0);
    head.writeUInt32BE(9, 4);
    head[8] = 1;
    const d = new FrameDecoder();
    assert.deepEqual(d.push(head), []); // waits for 4 MiB of data: legal
    const over = Buffer.from(head);
    over.writeUInt32BE(MAX_DATA_LENGTH + 1, 0);
    assert.throws(
      () => new FrameDecoder().push(over),
      (e: unknown) => e instanceof OversizeFrameError && e.streamId === 9 && e.length === MAX_DATA_LENGTH + 1,
    );
  });

  it("rejects garbage (a huge length) before buffering any of it", () => {
    const d = new FrameDecoder();
    assert.throws(() => d.push(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), OversizeFrameError);
  });

  it("refuses to encode an oversize frame", () => {
    assert.throws(() => encodeFrame(1, 1, 0, new Uint8Array(MAX_DATA_LENGTH + 1)), OversizeFrameError);
  });

  it("owns its output: later pushes do not overwrite earlier frames", () => {
    const d = new FrameDecoder();
    const src = encodeFrame(1, 1, 0, bytes(1, 1, 1));
    const [f] = d.push(src);
    src.fill(0xff);
    assert.deepEqual([...f!.data], [1, 1, 1]);
  });
});
