import { EventEmitter } from "node:events";
import { connect, type Socket } from "node:net";
import { constants } from "node:os";
import { join } from "node:path";
import { Code } from "../errors/code.js";
import { codeFromErrno } from "../errors/errno.js";
import { RuntimeError } from "../errors/runtime-error.js";
import {
  encodeMessage,
  encodeSpawn,
  type HolderExit,
  MalformedMessageError,
  MessageDecoder,
  OversizeMessageError,
  parseJournal,
  parseMessage,
  type SpawnRequest,
  Verb,
} from "./holder-protocol.js";

/** Name of the holder's control socket inside its directory. */
export const HOLDER_SOCKET = "holder.sock";

/** Options of {@link HolderClient}. */
export interface HolderClientOptions {
  /** Deadline of one request (and of connecting), in ms, unless a call passes its own. Default 10000. */
  timeoutMs: number;
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
  /** The connection is gone (with the reason unless closed by {@link HolderClient.close}). Never re-dialled. */
  close: [RuntimeError | undefined];
}

interface Pending {
  readonly id: string;
  readonly verb: string;
  settled: boolean;
  settle(err: RuntimeError | undefined, values?: readonly string[]): void;
}

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The RuntimeError for a holder `err` reply: the numeric errno mapped through `codeFromErrno`. */
export function holderError(errno: number, message: string): RuntimeError {
  const name = errnoNames.get(errno);
  const code = (name !== undefined ? codeFromErrno(name) : undefined) ?? Code.Unknown;
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
    /** The holder's directory. */
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
    const { signal, ...rest } = options;
    const opts = { ...defaultHolderClientOptions, ...rest };
    const path = join(dir, HOLDER_SOCKET);
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(RuntimeError.from(signal.reason, Code.Canceled));
      const socket = connect(path);
      const timer = setTimeout(() => fail(new RuntimeError(Code.DeadlineExceeded, `connect ${path}: timed out after ${opts.timeoutMs} ms`)), opts.timeoutMs);
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
        const code = err.code === "ENOENT" ? Code.NotFound : err.code === "ECONNREFUSED" ? Code.Unavailable : undefined;
        const e = RuntimeError.from(err, Code.Unavailable);
        fail(code !== undefined ? new RuntimeError(code, `connect ${path}: ${err.message}`, { cause: err }) : e);
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

  /** The holder's pid and its pod init's (undefined without `--new-pid`, or once it died). */
  async ping(call: HolderCallOptions = {}): Promise<{ pid: number; podInitPid: number | undefined }> {
    const [pid, podinit] = await this.request(Verb.Ping, this.rid(), [], call);
    const p = toInt(podinit, "ping PODINITPID");
    return { pid: toInt(pid, "ping HOLDERPID"), podInitPid: p > 0 ? p : undefined };
  }

  /** SIGKILLs and reaps (journals) every process of the pod; the holder then exits. */
  async shutdown(call: HolderCallOptions = {}): Promise<void> {
    await this.request(Verb.Shutdown, this.rid(), [], call);
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
        const head = this.queue.shift();
        if (head === undefined || head.id !== msg.id) {
          throw new MalformedMessageError(`reply for ${JSON.stringify(msg.id)} while expecting ${JSON.stringify(head?.id)}`);
        }
        if (msg.kind === "ok") head.settle(undefined, msg.values);
        else head.settle(holderError(msg.errno, `${head.verb} ${head.id}: ${msg.message}`));
      }
    } catch (err) {
      if (!(err instanceof MalformedMessageError || err instanceof OversizeMessageError)) throw err;
      this.destroy(new RuntimeError(Code.Internal, `holder protocol error: ${err.message}`, { cause: err }));
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

function toInt(s: string | undefined, what: string): number {
  if (s === undefined || !/^-?[0-9]{1,18}$/.test(s)) {
    throw new RuntimeError(Code.Internal, `holder protocol error: ${what} is not a number: ${JSON.stringify(s)}`);
  }
  return Number(s);
}
