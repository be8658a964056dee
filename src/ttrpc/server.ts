import { chmodSync, unlinkSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { checkSocketPath, clearStaleSocket } from "../fs/unix-socket.js";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { publishConnectionClosed } from "./diagnostics.js";
import { Flag, MessageType, OversizeFrameError, type Frame } from "./frame.js";
import { FramedSocket } from "./framed-socket.js";
import { decodeRequest, encodeResponse } from "./messages.js";
import { metadataFrom, type Metadata } from "./metadata.js";
import { DrainableMap } from "./drainable-map.js";
import { defaultServerBounds, sweepIntervalMs, type ServerBounds } from "./server-bounds.js";

/** What a handler learns about the call it serves. */
export interface CallContext {
  /** Fully-qualified service name, e.g. `containerd.task.v2.Task`. */
  readonly service: string;
  readonly method: string;
  readonly metadata: Metadata;
  /** Aborted when the caller's deadline passes, the peer disconnects, or the server is destroyed. */
  readonly signal: AbortSignal;
  /** Absolute deadline in ms since the epoch, when the caller sent a timeout. */
  readonly deadlineMs?: number;
  /** The connection the call came on, to tell callers apart. */
  readonly connection: ServerConnection;
}

/** A unary method: request payload in, response payload out; throw a RuntimeError to fail. */
export type UnaryHandler = (payload: Uint8Array, ctx: CallContext) => Promise<Uint8Array>;

/** Options of {@link TtrpcServer}. */
export interface TtrpcServerOptions extends ServerBounds {
  /** File mode of a socket created by {@link TtrpcServer.listen}. Default 0o600: root-only, like containerd's shims. */
  socketMode: number;
  /**
   * Serves every call no registered service claims (a relay forwards them all).
   * Default undefined: unknown services and methods answer Unimplemented.
   */
  fallback: UnaryHandler | undefined;
}

export const defaultTtrpcServerOptions: TtrpcServerOptions = { socketMode: 0o600, fallback: undefined, ...defaultServerBounds };

/** Longest timer Node can arm (a longer one would fire at once). */
const MAX_TIMER_MS = 0x7fffffff;

/** One accepted connection and the calls in flight on it. */
export class ServerConnection {
  private lastStreamId = 0;
  private readonly inFlight = new DrainableMap<number, AbortController>();
  readonly framed: FramedSocket;
  /** When the last byte arrived or the last call settled (ms since the epoch): what idleness is measured from. */
  lastActivityAt = Date.now();
  /** When the last byte arrived. */
  lastByteAt = Date.now();
  /** Whether the bounds may close this connection, once asked ({@link TtrpcServer}'s `isTrusted`). */
  trust: Promise<boolean> | undefined;

  constructor(
    readonly socket: Socket,
    private readonly server: TtrpcServer,
    onClosed: (c: ServerConnection) => void,
  ) {
    socket.on("data", () => (this.lastActivityAt = this.lastByteAt = Date.now()));
    this.framed = new FramedSocket(
      socket,
      (f) => this.onFrame(f),
      (reason) => {
        publishConnectionClosed({ side: "server", reason, inFlight: this.inFlight.size });
        this.abortAll("ttrpc: connection closed");
        onClosed(this);
      },
      (err) => {
        // Like containerd/ttrpc, tell the peer why before the connection goes.
        if (err instanceof OversizeFrameError) this.reply(err.streamId, Code.ResourceExhausted, err.message);
      },
    );
  }

  /** Calls currently running on this connection. */
  get activeCalls(): number {
    return this.inFlight.size;
  }

  /** Resolves once no call runs on this connection. */
  drained(): Promise<void> {
    return this.inFlight.drained();
  }

  /** Ends the connection once pending replies are flushed. */
  end(): void {
    this.framed.end();
  }

  /** Closes now; handlers still running see their signal aborted. */
  destroy(reason?: Error): void {
    this.abortAll("ttrpc: server shutting down");
    this.framed.destroy(reason);
  }

  private abortAll(why: string): void {
    for (const ac of this.inFlight.values()) ac.abort(new RuntimeError(Code.Canceled, why));
    this.inFlight.clear();
  }

  private onFrame(f: Frame): void {
    if (f.type === MessageType.Request) this.onRequest(f);
    else if (f.type === MessageType.Data) {
      // No streaming methods are served; a Data frame can only name a finished stream.
      this.reply(f.streamId, Code.InvalidArgument, "StreamID is no longer active");
    }
    // Unknown frame types are ignored, as the Go implementation does.
  }

  private onRequest(f: Frame): void {
    const id = f.streamId;
    if (id % 2 === 0) return this.reply(id, Code.InvalidArgument, "StreamID must be odd for client initiated streams");
    if (id <= this.lastStreamId) return this.reply(id, Code.InvalidArgument, "StreamID cannot be re-used and must increment");
    this.lastStreamId = id;
    let req: ReturnType<typeof decodeRequest>;
    try {
      req = decodeRequest(f.data);
    } catch (err) {
      return this.reply(id, Code.InvalidArgument, `unmarshal request error: ${(err as Error).message}`);
    }
    const lookup = this.server.lookup(req.service, req.method);
    if (typeof lookup === "string") return this.reply(id, Code.Unimplemented, lookup);
    if (f.flags & Flag.RemoteOpen) {
      return this.reply(id, Code.Unimplemented, `method ${req.method} does not accept a client stream`);
    }

    const ac = new AbortController();
    this.inFlight.set(id, ac);
    const timeoutNs = req.timeoutNano;
    let timer: NodeJS.Timeout | undefined;
    let deadlineMs: number | undefined;
    if (timeoutNs > 0n) {
      // A timeout past what a timer holds is as good as none (Node would fire a longer timer at once).
      const ms = Number(timeoutNs / 1_000_000n);
      if (ms <= MAX_TIMER_MS) {
        deadlineMs = Date.now() + ms;
        // The caller gives up at its deadline: answer it then, whatever the handler does, and tell the handler.
        timer = setTimeout(() => {
          const why = new RuntimeError(Code.DeadlineExceeded, "context deadline exceeded");
          settle(undefined, why);
          ac.abort(why);
        }, ms);
      }
    }
    const ctx: CallContext = {
      service: req.service,
      method: req.method,
      metadata: metadataFrom(req.metadata.map((kv) => [kv.key, kv.value] as const)),
      signal: ac.signal,
      deadlineMs,
      connection: this,
    };
    const settle = (payload: Uint8Array | undefined, err: RuntimeError | undefined) => {
      clearTimeout(timer);
      if (!this.inFlight.delete(id)) return; // connection gone, or answered at the deadline
      this.lastActivityAt = Date.now();
      if (err) this.reply(id, err.code, err.message);
      else this.framed.send(id, MessageType.Response, 0, encodeResponse({ payload }));
    };
    let p: Promise<Uint8Array>;
    try {
      p = lookup(req.payload, ctx);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(
      (payload) => settle(payload, undefined),
      (err: unknown) => settle(undefined, RuntimeError.from(err)),
    );
  }

  private reply(streamId: number, code: number, message: string): void {
    this.framed.send(streamId, MessageType.Response, 0, encodeResponse({ status: { code, message } }));
  }
}

/**
 * A ttrpc server: unary calls, many in flight per connection, each answered as
 * soon as its handler settles (so a long Wait never blocks other calls).
 * Streaming methods are not implemented: nothing we serve needs them.
 */
export class TtrpcServer {
  private readonly services = new Map<string, Map<string, UnaryHandler>>();
  private readonly connections = new Set<ServerConnection>();
  private readonly listeners: { server: Server; path: string }[] = [];
  private readonly options: TtrpcServerOptions;
  private closing: Promise<void> | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  /** Connections closed by a bound, by reason (for tests and diagnostics). */
  readonly boundClosures = { limit: 0, idle: 0, partialFrame: 0 };

  constructor(options: Partial<TtrpcServerOptions> = {}) {
    this.options = { ...defaultTtrpcServerOptions, ...options };
    if (!(this.options.maxConnections >= 0)) throw new RuntimeError(Code.InvalidArgument, `maxConnections: want >= 0, got ${this.options.maxConnections}`);
  }

  /** Registers the handlers of one service; a second registration of a method replaces it. */
  register(service: string, methods: Readonly<Record<string, UnaryHandler>>): void {
    let table = this.services.get(service);
    if (!table) this.services.set(service, (table = new Map()));
    for (const [name, h] of Object.entries(methods)) table.set(name, h);
  }

  /** The handler for service/method, or the error text ttrpc answers for a miss. */
  lookup(service: string, method: string): UnaryHandler | string {
    const table = this.services.get(service);
    const handler = table?.get(method) ?? this.options.fallback;
    if (handler) return handler;
    return table ? `method ${method}` : `service ${service}`;
  }

  /** Connections currently open. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Listens on a unix socket path. A stale socket file left by a dead process is
   * replaced; a live one makes this fail with AlreadyExists.
   */
  async listen(path: string): Promise<void> {
    checkSocketPath(path);
    await clearStaleSocket(path);
    const server = createServer((s) => this.accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    });
    chmodSync(path, this.options.socketMode);
    this.listeners.push({ server, path });
  }

  /** Serves an already-connected socket (accepted elsewhere, or handed over by another process). */
  accept(socket: Socket): ServerConnection {
    const conn = new ServerConnection(socket, this, (c) => this.connections.delete(c));
    if (this.closing) {
      conn.end();
      return conn;
    }
    this.connections.add(conn);
    this.startSweeper();
    if (this.connections.size > this.options.maxConnections) void this.enforceLimit(conn);
    return conn;
  }

  /** Past the limit, a new connection stays only if it is trusted (trusted ones are not counted). */
  private async enforceLimit(conn: ServerConnection): Promise<void> {
    const untrusted = async () => {
      let n = 0;
      for (const c of this.connections) if (c !== conn && !(await this.trusted(c))) n++;
      return n;
    };
    if (await this.trusted(conn)) return;
    if ((await untrusted()) < this.options.maxConnections || conn.framed.isClosed) return;
    this.boundClosures.limit++;
    conn.destroy(new RuntimeError(Code.ResourceExhausted, `ttrpc: more than ${this.options.maxConnections} connections`));
  }

  /** Whether no bound may close `conn` (asked once per connection). */
  private trusted(conn: ServerConnection): Promise<boolean> | boolean {
    const isTrusted = this.options.isTrusted;
    if (!isTrusted) return false;
    conn.trust ??= isTrusted(conn.socket).catch(() => false);
    return conn.trust;
  }

  private startSweeper(): void {
    const every = sweepIntervalMs(this.options);
    if (this.sweeper || every === undefined) return;
    this.sweeper = setInterval(() => this.sweep(), every);
    this.sweeper.unref();
  }

  /** Closes connections past a timeout: idle ones gracefully, stalled partial frames at once. */
  private sweep(): void {
    const now = Date.now();
    const { idleTimeoutMs: idle, partialFrameTimeoutMs: partial } = this.options;
    for (const c of this.connections) {
      const stalled = partial > 0 && c.framed.pendingBytes > 0 && now - c.lastByteAt >= partial;
      const idleNow = idle > 0 && c.activeCalls === 0 && now - c.lastActivityAt >= idle;
      if (!stalled && !idleNow) continue;
      const seen = c.framed.bytesReceived;
      // Decide after this loop turn's I/O: a process resumed after SIGSTOP runs its timers
      // before reading what its peers sent meanwhile.
      setImmediate(() => {
        void (async () => {
          if (c.framed.isClosed || c.framed.bytesReceived !== seen || c.activeCalls > 0 && !stalled) return;
          if (await this.trusted(c)) return;
          if (c.framed.isClosed || c.framed.bytesReceived !== seen) return;
          if (stalled) {
            this.boundClosures.partialFrame++;
            c.destroy(new RuntimeError(Code.DeadlineExceeded, `ttrpc: ${c.framed.pendingBytes} bytes of a frame, then nothing for ${partial} ms`));
          } else {
            // Destroyed, not ended: a peer that never closes its side would keep the fd.
            this.boundClosures.idle++;
            c.destroy();
          }
        })();
      });
    }
  }

  /** Stops accepting, lets calls in flight finish, then closes every connection. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      clearInterval(this.sweeper);
      await this.stopListening();
      // Each connection wakes this when its last call settles; a call that began meanwhile is waited for too.
      while ([...this.connections].some((c) => c.activeCalls > 0)) await Promise.all([...this.connections].map((c) => c.drained()));
      for (const c of this.connections) c.end();
    })();
    return this.closing;
  }

  /** Closes everything now; calls in flight see their signal aborted. */
  async destroy(reason?: Error): Promise<void> {
    this.closing ??= Promise.resolve();
    clearInterval(this.sweeper);
    for (const c of this.connections) c.destroy(reason);
    await this.stopListening();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  /** Stops accepting; open connections are ours to end, so this does not wait for them. */
  private async stopListening(): Promise<void> {
    for (const { server, path } of this.listeners.splice(0)) {
      server.close();
      try {
        unlinkSync(path);
      } catch {
        /* already gone */
      }
    }
  }
}
