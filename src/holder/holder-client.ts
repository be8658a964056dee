import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { constants } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Code } from "../errors/code.js";
import type { MountCall } from "../fs/mount-calls.js";
import { codeFromErrno, codeFromErrnoNumber, errnoName } from "../errors/errno.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { connectUnix } from "../fs/long-socket-path.js";
import {
  EAGAIN,
  encodeMessage,
  encodeSpawn,
  encodeWrite,
  type HolderExit,
  MalformedMessageError,
  MessageDecoder,
  OversizeMessageError,
  parseJournal,
  parseMessage,
  type SpawnRequest,
  STREAM_CHUNK_LENGTH,
  Verb,
} from "./holder-protocol.js";

export { STREAM } from "./holder-protocol.js";

/** Name of the holder's control socket inside its directory. */
export const HOLDER_SOCKET = "holder.sock";

/** Options of {@link HolderClient}. */
export interface HolderClientOptions {
  /** Deadline of one request (and of connecting, unless {@link connectTimeoutMs}), in ms, unless a call passes its own. Default 10000. */
  timeoutMs: number;
  /** Deadline of connecting alone, in ms (a caller that retries wants it short, and its calls not). Default: {@link timeoutMs}. */
  connectTimeoutMs?: number | undefined;
}

/** Defaults of {@link HolderClientOptions}. */
export const defaultHolderClientOptions: HolderClientOptions = { timeoutMs: 10_000 };

/** Per-call cancellation: an abort signal and/or a deadline overriding `HolderClientOptions.timeoutMs`. */
export interface HolderCallOptions {
  readonly signal?: AbortSignal | undefined;
  /** Deadline in ms. Default: the client's `timeoutMs`. */
  readonly timeoutMs?: number | undefined;
}

/** What {@link HolderClient.spawn} launches; `cwd`, `stdin`, `stdout`, `stderr` default to `""`. */
export type HolderSpawnOptions = Omit<SpawnRequest, "cwd" | "stdin" | "stdout" | "stderr"> &
  Partial<Pick<SpawnRequest, "cwd" | "stdin" | "stdout" | "stderr">>;

/** Events of {@link HolderClient}. */
export interface HolderClientEvents {
  /** A process of the pod was reaped; already journaled by then. */
  exit: [HolderExit];
  /** Streamed output of spawn `id` (fd 1: stdout or the terminal, 2: stderr), in order. */
  output: [id: string, fd: number, data: Buffer];
  /** Streamed output `fd` of `id` ended (every writer closed it). */
  eof: [id: string, fd: number];
  /** The connection is gone (with the reason unless closed by {@link HolderClient.close}). Never re-dialled. */
  close: [RuntimeError | undefined];
}

interface Pending {
  readonly id: string;
  readonly verb: string;
  settled: boolean;
  settle(err: RuntimeError | undefined, values?: readonly string[]): void;
}

/** Backoff of a `write` the holder refused with EAGAIN (its stdin queue is full), doubling up to the max. */
const WRITE_RETRY_MIN_MS = 2;
const WRITE_RETRY_MAX_MS = 50;

/** A route as the holder's `routeadd` takes it. */
export interface HolderRoute {
  family: 4 | 6;
  /** `default`, or `address[/prefix]` (no prefix: one host). */
  dst: string;
  /** The next hop, if any. */
  gateway?: string | undefined;
  /** ip(8)'s scope name (`link`, `host`, ...); absent: ip(8)'s default (link for an IPv4 route without a gateway, else global). */
  scope?: string | undefined;
}

/** The errno name (`"ENODEV"`) a holder `err` reply carried, or undefined for any other error. */
export function holderErrno(err: unknown): string | undefined {
  const cause = err instanceof RuntimeError ? (err as { cause?: unknown }).cause : undefined;
  const code = typeof cause === "object" && cause !== null ? (cause as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

/** The RuntimeError for a holder `err` reply: the numeric errno mapped through `codeFromErrno`. */
export function holderError(errno: number, message: string): RuntimeError {
  const name = errnoName(errno);
  const code = codeFromErrnoNumber(errno) ?? Code.Unknown;
  const cause = Object.assign(new Error(message), { errno: -errno, code: name ?? `E${errno}` });
  return new RuntimeError(code, `holder: ${message} (${name ?? `errno ${errno}`})`, { cause });
}

/**
 * Client of one pod holder's control socket (`<dir>/holder.sock`). Requests are
 * answered in order; each has a deadline. Exit events arrive as `exit`. The client
 * never reconnects by itself: after `close`, the owner decides (and replays
 * {@link HolderClient.exits} to catch up on exits it missed).
 */
export class HolderClient extends EventEmitter<HolderClientEvents> {
  private readonly queue: Pending[] = [];
  private readonly decoder = new MessageDecoder();
  private nextId = 1;
  private closed = false;
  private closeReason: RuntimeError | undefined;
  private emittedClose = false;
  private readonly closedPromise: Promise<void>;

  private constructor(
    private readonly socket: Socket,
    /** The holder's directory; for {@link HolderClient.connectSocket}, the socket's path. */
    readonly dir: string,
    private readonly options: HolderClientOptions,
  ) {
    super();
    let done!: () => void;
    this.closedPromise = new Promise((r) => (done = r));
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.destroy(RuntimeError.from(err, Code.Unavailable)));
    socket.on("close", () => {
      this.finish(this.closeReason ?? (this.closed ? undefined : new RuntimeError(Code.Unavailable, "holder connection closed")));
      done();
    });
  }

  /** Connects to the holder serving `dir`. NotFound when no socket is there, Unavailable when nobody listens. */
  static connect(dir: string, options: Partial<HolderClientOptions> & { signal?: AbortSignal } = {}): Promise<HolderClient> {
    return HolderClient.dial(join(dir, HOLDER_SOCKET), dir, options);
  }

  /**
   * Connects to a holder behind an arbitrary unix socket, e.g. QEMU's chardev socket backing
   * the guest agent's virtio-serial port (the holder in `--serve-port` mode). Errors as {@link connect}.
   */
  static connectSocket(socketPath: string, options: Partial<HolderClientOptions> & { signal?: AbortSignal } = {}): Promise<HolderClient> {
    return HolderClient.dial(socketPath, socketPath, options);
  }

  private static dial(path: string, dir: string, options: Partial<HolderClientOptions> & { signal?: AbortSignal }): Promise<HolderClient> {
    const { signal, ...rest } = options;
    const opts = { ...defaultHolderClientOptions, ...rest };
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(RuntimeError.from(signal.reason, Code.Canceled));
      const socket = connectUnix(path); // the pod dir may be longer than sun_path allows
      const connectMs = opts.connectTimeoutMs ?? opts.timeoutMs;
      const timer = setTimeout(() => fail(new RuntimeError(Code.DeadlineExceeded, `connect ${path}: timed out after ${connectMs} ms`)), connectMs);
      const onAbort = () => fail(RuntimeError.from(signal!.reason, Code.Canceled));
      signal?.addEventListener("abort", onAbort, { once: true });
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        socket.off("error", onError);
        socket.off("connect", onConnect);
      };
      const fail = (err: RuntimeError) => {
        cleanup();
        socket.destroy();
        reject(err);
      };
      const onError = (err: NodeJS.ErrnoException) => {
        fail(new RuntimeError((err.code !== undefined ? codeFromErrno(err.code) : undefined) ?? Code.Unavailable, `connect ${path}: ${err.message}`, { cause: err }));
      };
      const onConnect = () => {
        cleanup();
        resolve(new HolderClient(socket, dir, opts));
      };
      socket.once("error", onError);
      socket.once("connect", onConnect);
    });
  }

  /** Launches a process as the holder's child; resolves to its host pid. The `id` is its key from now on. */
  async spawn(options: HolderSpawnOptions, call: HolderCallOptions = {}): Promise<number> {
    const req: SpawnRequest = { cwd: "", stdin: "", stdout: "", stderr: "", ...options };
    const [pid] = await this.send(Verb.Spawn, req.id, () => encodeSpawn(req), call);
    return toInt(pid, "spawn PID");
  }

  /**
   * Sends `data` to the streamed stdin ({@link STREAM}) of process `id`, in chunks of at most
   * {@link STREAM_CHUNK_LENGTH} bytes; resolves once the holder queued all of it. A full queue
   * (EAGAIN) is retried with a short backoff; DeadlineExceeded when it stays full for the
   * call's deadline. Unavailable (EPIPE) once the stdin is closed or its reader is gone.
   * Chunks go one at a time (a refused chunk must not be overtaken): one writer per `id` at a time.
   */
  async write(id: string, data: Uint8Array, call: HolderCallOptions = {}): Promise<void> {
    const stallMs = call.timeoutMs ?? this.options.timeoutMs;
    for (let off = 0; off < data.length; ) {
      const chunk = data.subarray(off, off + STREAM_CHUNK_LENGTH);
      const rid = this.rid();
      for (let delay = WRITE_RETRY_MIN_MS, since = Date.now(); ; delay = Math.min(delay * 2, WRITE_RETRY_MAX_MS)) {
        try {
          await this.send(Verb.Write, rid, () => encodeWrite(rid, id, chunk), call);
          break;
        } catch (err) {
          if (!isEagain(err)) throw err;
          if (Date.now() - since >= stallMs) {
            throw new RuntimeError(Code.DeadlineExceeded, `holder write ${id}: stdin queue full for ${stallMs} ms`, { cause: err });
          }
          await sleep(delay, undefined, { signal: call.signal }).catch((e: unknown) => {
            throw RuntimeError.from(e, Code.Canceled);
          });
        }
      }
      off += chunk.length;
    }
  }

  /** Subscribes to streamed output; returns the unsubscribe function. */
  onOutput(fn: (id: string, fd: number, data: Buffer) => void): () => void {
    this.on("output", fn);
    return () => this.off("output", fn);
  }

  /** Subscribes to the end of streamed outputs; returns the unsubscribe function. */
  onEof(fn: (id: string, fd: number) => void): () => void {
    this.on("eof", fn);
    return () => this.off("eof", fn);
  }

  /** Closes the stdin of process `id` (EOF once what the holder already read is delivered). Idempotent. */
  async closeStdin(id: string, call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.CloseStdin, id, [], call);
  }

  /** Sets the window size of the terminal of `id` (applied when it arrives if not yet there). */
  async resize(id: string, cols: number, rows: number, call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.Resize, id, [String(cols), String(rows)], call);
  }

  /**
   * Reports `pid` (a descendant that will be reparented to the holder, e.g. runc's container init
   * from `--pid-file`) under `id`. If it already exited unknown, its exit is re-journaled and
   * re-announced under `id` at once.
   */
  async adopt(id: string, pid: number, call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.Adopt, id, [String(pid)], call);
  }

  /**
   * `pid`, made elsewhere and already in the holder's network, IPC and UTS namespaces (a wasm
   * pod's host forked from the node's zygote), becomes the pod's with its descendants: `kill`
   * reaches them and the holder's shutdown ends them. EPERM (PermissionDenied) for a process
   * outside the pod's namespaces; Unimplemented from a holder older than the verb.
   */
  async member(pid: number, call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.Member, this.rid(), [String(pid)], call);
  }

  /**
   * A FIFO at the absolute `path` (mode 0600), made by the holder: no mkfifo(1) spawned by the
   * daemon. Unimplemented from a holder older than the verb (the caller spawns mkfifo then).
   */
  async mkfifo(path: string, call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.Mkfifo, this.rid(), [path], call);
  }

  /**
   * One mount(2) by the holder, in its mount namespace (the host's): no mount(8) spawned by the
   * daemon. Unimplemented from a holder older than the verb (the caller spawns mount(8) then).
   */
  async mount(m: MountCall, call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.Mount, this.rid(), [m.source, m.target, m.fstype, String(m.flags >>> 0), m.data, m.cwd], call);
  }

  /** umount2(2) of `target` by the holder, detached if busy; InvalidArgument (EINVAL) when it is not a mount point. */
  async umount(target: string, call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.Umount, this.rid(), [target], call);
  }

  /**
   * Whether `path` is executable in a guest (access(2) X_OK): resolves when it is, fails with the
   * errno's code (NotFound, PermissionDenied from EACCES) when not. This and the verbs below set a
   * VM guest up for its pod: only a guest's agent (its pid 1) serves them, any other holder refuses
   * with PermissionDenied (EPERM), and an agent older than them answers Unimplemented.
   */
  async access(path: string, call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.Access, this.rid(), [path], call);
  }

  /** sethostname(2) in a guest. */
  async setHostname(name: string, call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.Hostname, this.rid(), [name], call);
  }

  /** A guest NIC's MTU set and the NIC up; fails with errno ENODEV (see {@link holderErrno}) while there is no such NIC (yet). */
  async linkUp(ifname: string, mtu: number, call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.LinkUp, this.rid(), [ifname, String(mtu)], call);
  }

  /** An `address/prefix` (IPv4 or IPv6) on a guest NIC; AlreadyExists when it is there. */
  async addAddress(ifname: string, cidr: string, call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.AddrAdd, this.rid(), [ifname, cidr], call);
  }

  /** A route through a guest NIC in the main table; AlreadyExists when it is there. */
  async addRoute(ifname: string, route: HolderRoute, call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.RouteAdd, this.rid(), [ifname, String(route.family), route.dst, route.gateway ?? "", route.scope ?? ""], call);
  }

  /** A guest's sysctl: `value` written to /proc/sys/`key` (dots or slashes as separators); InvalidArgument for a key that is not a sysctl name. */
  async sysctl(key: string, value: string, call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.Sysctl, this.rid(), [key, value], call);
  }

  /**
   * Lets a container that crun created in a guest run, as `crun start` does (see
   * native/holder/fifo_start.c): `path`, its `exec.fifo`, written one byte without blocking and
   * removed. NotFound when there is no fifo (not in the created state); ENXIO (see
   * {@link holderErrno}) when nobody reads it (the init died). Guest pid 1 only, like the setup verbs.
   */
  async startExecFifo(path: string, call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.FifoStart, this.rid(), [path], call);
  }

  /** kill(2) on a process of the pod; NotFound (ESRCH) for any other pid. */
  async kill(pid: number, signal: number | NodeJS.Signals, call: HolderCallOptions = {}): Promise<void> {
    const sig = typeof signal === "number" ? signal : constants.signals[signal];
    if (sig === undefined) throw new RuntimeError(Code.InvalidArgument, `unknown signal ${String(signal)}`);
    await this.request(Verb.Kill, this.rid(), [String(pid), String(sig)], call);
  }

  /** The whole exit journal, read in bounded slices. */
  async exits(call: HolderCallOptions = {}): Promise<HolderExit[]> {
    const out: HolderExit[] = [];
    for (let offset = 0; ; ) {
      const [text = "", next] = await this.request(Verb.Exits, this.rid(), [String(offset)], call);
      if (text === "") return out;
      out.push(...parseJournal(text));
      offset = toInt(next, "exits NEXTOFFSET");
    }
  }

  /**
   * Gives a guest restored from a VM template its own identity (serve mode, as the guest's
   * pid 1): the clock set to `now`, `seed` credited to the kernel's RNG and a reseed, and the
   * holder's directory (its journal with it) moved to `dir` unless it is "".
   */
  async restored(now: Date, seed: Uint8Array, dir: string, call: HolderCallOptions = {}): Promise<void> {
    const ms = now.getTime();
    const sec = Math.floor(ms / 1000);
    const nsec = (ms - sec * 1000) * 1_000_000;
    await this.request(Verb.Restored, this.rid(), [String(sec), String(nsec), Buffer.from(seed).toString("base64"), dir], call);
  }

  /** The holder's pid and its pod init's (undefined without `--new-pid`, or once it died). */
  async ping(call: HolderCallOptions = {}): Promise<{ pid: number; podInitPid: number | undefined }> {
    const [pid, podinit] = await this.request(Verb.Ping, this.rid(), [], call);
    const p = toInt(podinit, "ping PODINITPID");
    return { pid: toInt(pid, "ping HOLDERPID"), podInitPid: p > 0 ? p : undefined };
  }

  /**
   * SIGKILLs and reaps (journals) every process of the pod; the holder then exits (as a guest's
   * pid 1: powers the VM off). The connection closing before the reply counts as done: a port's
   * last bytes can be lost with the VM.
   */
  async shutdown(call: HolderCallOptions = {}): Promise<void> {
    if (this.closed || this.socket.destroyed) throw this.closeReason ?? new RuntimeError(Code.Unavailable, "holder connection closed");
    try {
      await this.request(Verb.Shutdown, this.rid(), [], call);
    } catch (err) {
      if (!(err instanceof RuntimeError && err.code === Code.Unavailable && this.socket.destroyed)) throw err;
    }
  }

  /** Ends the connection (the holder keeps running). Idempotent. */
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.socket.end();
    }
    await this.closedPromise;
  }

  /** Drops the connection at once, failing pending requests with `err` (or Canceled). Idempotent. */
  destroy(err?: RuntimeError): void {
    if (this.closeReason === undefined && err !== undefined) this.closeReason = err;
    this.closed = true;
    this.socket.destroy();
    this.finish(this.closeReason);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private rid(): string {
    return `r${this.nextId++}`;
  }

  private request(verb: Verb, id: string, args: readonly string[], call: HolderCallOptions): Promise<readonly string[]> {
    return this.send(verb, id, () => encodeMessage([verb, id, ...args]), call);
  }

  private send(verb: string, id: string, encode: () => Buffer, call: HolderCallOptions): Promise<readonly string[]> {
    return new Promise((resolve, reject) => {
      if (call.signal?.aborted) return reject(RuntimeError.from(call.signal.reason, Code.Canceled));
      if (this.closed || this.socket.destroyed) {
        return reject(this.closeReason ?? new RuntimeError(Code.Unavailable, "holder connection closed"));
      }
      let bytes: Buffer;
      try {
        bytes = encode();
      } catch (err) {
        if (err instanceof MalformedMessageError || err instanceof OversizeMessageError) {
          return reject(new RuntimeError(Code.InvalidArgument, `holder ${verb}: ${err.message}`, { cause: err }));
        }
        throw err;
      }
      const timeoutMs = call.timeoutMs ?? this.options.timeoutMs;
      const timer = setTimeout(
        () => pending.settle(new RuntimeError(Code.DeadlineExceeded, `holder ${verb} ${id}: no reply within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onAbort = () => pending.settle(RuntimeError.from(call.signal!.reason, Code.Canceled));
      call.signal?.addEventListener("abort", onAbort, { once: true });
      // A settled (timed-out) entry stays queued so later replies still line up.
      const pending: Pending = {
        id,
        verb,
        settled: false,
        settle(err, values) {
          if (this.settled) return;
          this.settled = true;
          clearTimeout(timer);
          call.signal?.removeEventListener("abort", onAbort);
          if (err !== undefined) reject(err);
          else resolve(values ?? []);
        },
      };
      this.queue.push(pending);
      this.socket.write(bytes);
    });
  }

  private onData(chunk: Buffer): void {
    try {
      for (const payload of this.decoder.push(chunk)) {
        const msg = parseMessage(payload);
        if (msg.kind === "exit") {
          this.emit("exit", msg.exit);
          continue;
        }
        if (msg.kind === "out") {
          this.emit("output", msg.output.id, msg.output.fd, msg.output.data);
          continue;
        }
        if (msg.kind === "eof") {
          this.emit("eof", msg.id, msg.fd);
          continue;
        }
        const head = this.queue.shift();
        if (head === undefined || head.id !== msg.id) {
          throw new MalformedMessageError(`reply for ${JSON.stringify(msg.id)} while expecting ${JSON.stringify(head?.id)}`);
        }
        if (msg.kind === "ok") head.settle(undefined, msg.values);
        else head.settle(holderError(msg.errno, `${head.verb} ${head.id}: ${msg.message}`));
      }
    } catch (err) {
      // The peer broke the protocol, or a listener failed on what it sent (a VM guest's agent is
      // not trusted): this connection ends, reported as its close reason; the daemon goes on.
      const what = err instanceof MalformedMessageError || err instanceof OversizeMessageError ? "holder protocol error" : "holder message handling failed";
      this.destroy(new RuntimeError(Code.Internal, `${what}: ${RuntimeError.from(err).message}`, { cause: err }));
    }
  }

  private finish(reason: RuntimeError | undefined): void {
    const err = reason ?? new RuntimeError(Code.Unavailable, "holder connection closed");
    const pending = this.queue.splice(0);
    for (const p of pending) p.settle(err);
    if (!this.emittedClose) {
      this.emittedClose = true;
      this.emit("close", reason);
    }
  }
}

function isEagain(err: unknown): boolean {
  const cause = err instanceof RuntimeError ? (err as { cause?: unknown }).cause : undefined;
  return typeof cause === "object" && cause !== null && (cause as { errno?: unknown }).errno === -EAGAIN;
}

function toInt(s: string | undefined, what: string): number {
  if (s === undefined || !/^-?[0-9]{1,18}$/.test(s)) {
    throw new RuntimeError(Code.Internal, `holder protocol error: ${what} is not a number: ${JSON.stringify(s)}`);
  }
  return Number(s);
}
