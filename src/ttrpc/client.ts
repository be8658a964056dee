import { connect, type Socket } from "node:net";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { publishConnectionClosed } from "./diagnostics.js";
import { MessageType, type Frame } from "./frame.js";
import { FramedSocket, type CloseReason } from "./framed-socket.js";
import { decodeResponse, encodeRequest } from "./messages.js";
import { DrainableMap } from "./drainable-map.js";
import { metadataPairs, type Metadata } from "./metadata.js";

/** Per-call options. */
export interface CallOptions {
  /** Sent with the request; keys are lower-cased. */
  metadata?: Metadata;
  /** Deadline in milliseconds from now: sent as `timeout_nano` and enforced locally. No deadline when absent. */
  timeoutMs?: number;
  /** Aborting fails the call locally with Canceled (ttrpc has no cancel frame). */
  signal?: AbortSignal;
}

interface Pending {
  resolve(payload: Uint8Array): void;
  reject(err: RuntimeError): void;
}

/**
 * A ttrpc client over one connection: stream ids start at 1 and go up by 2,
 * replies are matched by id (servers answer out of order).
 */
export class TtrpcClient {
  private nextStreamId = 1;
  private readonly pending = new DrainableMap<number, Pending>();
  private readonly framed: FramedSocket;
  private closeListeners: ((reason: CloseReason) => void)[] = [];
  private closedWith: { reason: CloseReason } | undefined;

  constructor(socket: Socket) {
    this.framed = new FramedSocket(
      socket,
      (f) => this.onFrame(f),
      (reason) => this.onClosed(reason),
    );
  }

  /**
   * Connects to a unix socket. `address` may be a path or `unix:///path`
   * (containerd's form); anything else is refused rather than guessed.
   */
  static async connect(address: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<TtrpcClient> {
    const path = socketPathOf(address);
    const signal = anySignal(options.signal, options.timeoutMs);
    signal?.throwIfAborted();
    const socket = connect(path);
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        socket.destroy();
        reject(RuntimeError.from(signal!.reason));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      socket.once("connect", () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
      socket.once("error", (err) => {
        signal?.removeEventListener("abort", onAbort);
        reject(new RuntimeError(Code.Unavailable, `dial ${path}: ${err.message}`, { cause: err }));
      });
    });
    return new TtrpcClient(socket);
  }

  /** True once the connection has ended. */
  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Calls waiting for a reply. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Runs `cb` once when the connection ends (at once if it already has). */
  onClose(cb: (reason: CloseReason) => void): void {
    if (this.closedWith) cb(this.closedWith.reason);
    else this.closeListeners.push(cb);
  }

  /** One unary call; resolves with the reply payload or rejects with a RuntimeError carrying the status. */
  call(service: string, method: string, payload: Uint8Array, options: CallOptions = {}): Promise<Uint8Array> {
    if (this.closedWith) return Promise.reject(new RuntimeError(Code.Unavailable, "ttrpc: closed"));
    const signal = anySignal(options.signal, options.timeoutMs);
    if (signal?.aborted) return Promise.reject(RuntimeError.from(signal.reason));
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    const request = encodeRequest({
      service,
      method,
      payload,
      timeoutNano: options.timeoutMs ? BigInt(Math.ceil(options.timeoutMs)) * 1_000_000n : 0n,
      metadata: metadataPairs(options.metadata),
    });
    return new Promise<Uint8Array>((resolve, reject) => {
      const onAbort = () => {
        this.pending.delete(id);
        reject(RuntimeError.from(signal!.reason));
      };
      const done = () => signal?.removeEventListener("abort", onAbort);
      this.pending.set(id, {
        resolve: (p) => (done(), resolve(p)),
        reject: (e) => (done(), reject(e)),
      });
      signal?.addEventListener("abort", onAbort, { once: true });
      try {
        this.framed.send(id, MessageType.Request, 0, request);
      } catch (err) {
        this.pending.delete(id);
        done();
        reject(RuntimeError.from(err, Code.ResourceExhausted));
      }
    });
  }

  /** Waits for calls in flight, then closes. Idempotent. */
  async close(): Promise<void> {
    // The last reply (or the connection closing, which fails them all) wakes this.
    if (!this.closedWith) await Promise.race([this.pending.drained(), new Promise<void>((r) => this.onClose(() => r()))]);
    this.framed.end();
    if (!this.closedWith) await new Promise<void>((r) => this.onClose(() => r()));
  }

  /** Closes now; calls in flight fail with Unavailable. */
  destroy(reason?: Error): void {
    this.framed.destroy(reason);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.destroy();
  }

  private onFrame(f: Frame): void {
    if (f.type !== MessageType.Response) return; // no streaming calls are made
    const p = this.pending.get(f.streamId);
    if (!p) return; // caller gave up (abort/timeout)
    this.pending.delete(f.streamId);
    let resp: ReturnType<typeof decodeResponse>;
    try {
      resp = decodeResponse(f.data);
    } catch (err) {
      p.reject(new RuntimeError(Code.Internal, `ttrpc: bad response: ${(err as Error).message}`, { cause: err }));
      return;
    }
    if (resp.status && resp.status.code !== Code.OK) {
      p.reject(new RuntimeError(resp.status.code as Code, resp.status.message));
    } else p.resolve(resp.payload);
  }

  private onClosed(reason: CloseReason): void {
    this.closedWith = { reason };
    publishConnectionClosed({ side: "client", reason, inFlight: this.pending.size });
    const err = new RuntimeError(Code.Unavailable, reason ? `ttrpc: closed: ${reason.message}` : "ttrpc: closed", { cause: reason });
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    for (const cb of this.closeListeners.splice(0)) cb(reason);
  }
}

/** `unix:///a/b` or `/a/b` -> `/a/b`. Abstract or non-unix addresses are refused. */
export function socketPathOf(address: string): string {
  const path = address.startsWith("unix://") ? address.slice("unix://".length) : address;
  if (!path.startsWith("/")) throw new RuntimeError(Code.InvalidArgument, `unsupported ttrpc address ${JSON.stringify(address)}: want unix:///abs/path`);
  return path;
}

function anySignal(signal: AbortSignal | undefined, timeoutMs: number | undefined): AbortSignal | undefined {
  const t = timeoutMs !== undefined && timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined;
  if (signal && t) return AbortSignal.any([signal, t]);
  return signal ?? t;
}
