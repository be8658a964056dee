import { lstat, unlink } from "node:fs/promises";
import { connect } from "node:net";
import { isAbsolute } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";

/** `sun_path` is 108 bytes including the terminating NUL. */
export const MAX_SOCKET_PATH_BYTES = 107;

/**
 * Accepts `/abs/path`, `unix:///abs/path` or `unix:/abs/path` and returns the
 * path. Relative, abstract (`@…`) and non-unix addresses, and paths longer than
 * {@link MAX_SOCKET_PATH_BYTES}, fail with InvalidArgument.
 */
export function socketPathOf(address: string): string {
  let path = address;
  if (path.startsWith("unix://")) path = path.slice("unix://".length);
  else if (path.startsWith("unix:")) path = path.slice("unix:".length);
  if (!isAbsolute(path)) {
    throw new RuntimeError(Code.InvalidArgument, `unsupported unix socket address ${JSON.stringify(address)}: want an absolute unix socket path`);
  }
  checkSocketPath(path);
  return path;
}

/** Fails with InvalidArgument when `path` does not fit in `sun_path`. */
export function checkSocketPath(path: string): void {
  const n = Buffer.byteLength(path);
  if (n > MAX_SOCKET_PATH_BYTES) {
    throw new RuntimeError(Code.InvalidArgument, `socket path ${path} is ${n} bytes long, the limit is ${MAX_SOCKET_PATH_BYTES}`);
  }
}

/**
 * Makes `path` free to bind: nothing there is fine, a socket nobody accepts on
 * (left by a dead process) is removed, a live socket fails with AlreadyExists,
 * and anything that is not a socket is left alone and fails with AlreadyExists.
 */
export async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw RuntimeError.from(err);
  }
  if (!st.isSocket()) throw new RuntimeError(Code.AlreadyExists, `${path} exists and is not a socket`);
  if (await isSocketLive(path)) throw new RuntimeError(Code.AlreadyExists, `${path}: a server is already listening`);
  await unlink(path).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw RuntimeError.from(err);
  });
}

/** True when something accepts connections on the unix socket at `path`. */
export function isSocketLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
