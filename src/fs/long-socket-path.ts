import { createHash } from "node:crypto";
import { close, constants, openSync } from "node:fs";
import { connect, type Server, Socket } from "node:net";
import { basename, dirname, extname } from "node:path";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { MAX_SOCKET_PATH_BYTES } from "./unix-socket.js";

/**
 * Unix sockets below a user-chosen directory of any length (`sun_path` holds 107 bytes).
 * Two ways, see docs/adr/0004-socket-paths.md:
 * - sockets only we bind and dial are reached through an open descriptor of their
 *   directory (`/proc/self/fd/N/name`), so they stay where they are;
 * - sockets another program binds or dials by name (containerd, runc, QEMU, virtiofsd)
 *   get a short name in {@link SHORT_SOCKET_DIR} derived from the long path.
 */

/** Where sockets whose natural path is too long get a short name (as containerd's `/run/containerd/s`). */
export const SHORT_SOCKET_DIR = "/run/kuasar/s";

/** True when `path` fits in `sun_path`. */
export function fitsSunPath(path: string): boolean {
  return Buffer.byteLength(path) <= MAX_SOCKET_PATH_BYTES;
}

/**
 * A path another program can bind or dial for the socket whose natural place is `path`:
 * `path` itself when it fits, else `<shortDir>/<32 hex of sha256(path)><ext>`. The same
 * `path` always gives the same name, so a restarted daemon finds its sockets again
 * without a record. The caller creates `shortDir` (mode 0700) before binding.
 */
export function shortSocketPath(path: string, shortDir: string = SHORT_SOCKET_DIR): string {
  if (fitsSunPath(path)) return path;
  const short = `${shortDir}/${createHash("sha256").update(path).digest("hex").slice(0, 32)}${extname(basename(path))}`;
  if (!fitsSunPath(short)) throw new RuntimeError(Code.InvalidArgument, `socket dir ${shortDir} is too long for a unix socket path`);
  return short;
}

/** Opens `dir` for {@link viaDirFd}. */
function openDir(dir: string): number {
  return openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY); // libuv adds O_CLOEXEC
}

/** A close of `fd` that runs once however many times it is called (a second close could hit a reused number). */
function closeOnce(fd: number): () => void {
  let open = true;
  return () => {
    if (!open) return;
    open = false;
    close(fd, () => {});
  };
}

/** The name `path` has through the descriptor `dirFd` of its directory (the kernel follows the magic link). */
function viaDirFd(dirFd: number, path: string): string {
  return `/proc/self/fd/${dirFd}/${basename(path)}`;
}

/**
 * Connects to the unix socket at `path`, of any length. A long path is dialled through a
 * descriptor of its directory, closed once the connect settled. Errors arrive as the
 * socket's `error` event, as with `net.connect` (a missing directory as ENOENT).
 */
export function connectUnix(path: string): Socket {
  if (fitsSunPath(path)) return connect(path);
  let dirFd: number;
  try {
    dirFd = openDir(dirname(path));
  } catch (err) {
    // Same contract as net.connect: the failure is an `error` event, not a throw.
    const s = new Socket();
    process.nextTick(() => s.destroy(err as Error));
    return s;
  }
  const s = connect(viaDirFd(dirFd, path));
  const release = closeOnce(dirFd);
  s.once("connect", release);
  s.once("close", release);
  return s;
}

/**
 * `server.listen(path)` for a path of any length. A long path is bound through a
 * descriptor of its directory, held until the server closes: Node unlinks the socket
 * by the name it was bound with when it closes.
 */
export function listenUnix(server: Server, path: string): Promise<void> {
  let address = path;
  let release = () => {};
  if (!fitsSunPath(path)) {
    let dirFd: number;
    try {
      dirFd = openDir(dirname(path));
    } catch (err) {
      return Promise.reject(RuntimeError.from(err));
    }
    address = viaDirFd(dirFd, path);
    release = closeOnce(dirFd);
    server.once("close", release);
  }
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => {
      release();
      reject(RuntimeError.from(err));
    };
    server.once("error", onError);
    server.listen(address, () => {
      server.off("error", onError);
      resolve();
    });
  });
}
