import { closeSync, constants, fstatSync, openSync, readFileSync, readSync } from "node:fs";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";

/** A UTF-8 file's text, or `fallback` when it cannot be read (not written yet, removed...). */
export function readTextOr(path: string, fallback = ""): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return fallback;
  }
}

/**
 * A small regular file's UTF-8 text, read on the event loop (no trip through libuv's pool)
 * yet never blocking it: opened non-blocking (a FIFO or device put there opens without
 * waiting for a peer), then refused unless it is a regular file of at most `maxBytes`.
 * Fails with the error's errno code (ENOENT...), or InvalidArgument for what is not such a file.
 */
export function readSmallFileSync(path: string, maxBytes: number): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new RuntimeError(Code.InvalidArgument, `${path} is not a regular file`);
    if (st.size > maxBytes) throw new RuntimeError(Code.InvalidArgument, `${path} is ${st.size} bytes, more than the ${maxBytes} allowed`);
    const buf = Buffer.allocUnsafe(st.size + 1);
    let n = 0;
    for (let got: number; n < buf.length && (got = readSync(fd, buf, n, buf.length - n, null)) > 0; ) n += got;
    if (n > st.size) throw new RuntimeError(Code.InvalidArgument, `${path} grew while it was read`);
    return buf.toString("utf8", 0, n);
  } finally {
    closeSync(fd);
  }
}
