import { chmod, unlink } from "node:fs/promises";
import { createServer, type Server as NetServer } from "node:net";
import type { Duplex } from "node:stream";
import { create, fromBinary, toBinary, type DescMessage, type DescMethodUnary, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import { metadataFrom, type Metadata } from "../ttrpc/metadata.js";
import { asBuffer, DEFAULT_MAX_MESSAGE_BYTES, grpcPath, NAMESPACE_HEADER, unaryMethods, type MethodInput, type MethodOutput, type UnaryMethodName } from "./service.js";
import { checkSocketPath, clearStaleSocket } from "../fs/unix-socket.js";
import { announceCall } from "../diagnostics/rpc-call-channel.js";

/** What a gRPC handler learns about the call it serves. */
export interface GrpcCallContext {
  /** Fully-qualified service name, e.g. `containerd.services.sandbox.v1.Controller`. */
  readonly service: string;
  /** Method name as in the proto, e.g. `Status`. */
  readonly method: string;
  /**
   * Request headers, keys lower-cased, repeated keys kept in order. Pseudo-headers
   * and the transport headers grpc-js consumes (`content-type`, `te`,
   * `grpc-timeout`, `grpc-encoding`, `grpc-accept-encoding`, `accept-encoding`) are
   * not included; `-bin` values are given base64-encoded, as on the wire.
   */
  readonly headers: Metadata;
  /** The `containerd-namespace` header, when the caller sent one (containerd always does). */
  readonly namespace: string | undefined;
  /**
   * Aborted when the caller cancels (RST_STREAM), its deadline passes, the
   * connection goes, or the server is destroyed. The reason is a RuntimeError:
   * DeadlineExceeded when the deadline has passed or is under 50 ms away (a
   * client resets the stream at its own deadline, a moment before ours),
   * Unavailable on server destroy, else Canceled.
   */
  readonly signal: AbortSignal;
  /** Absolute deadline in ms since the epoch, from `grpc-timeout`; undefined when the caller set none. */
  readonly deadlineMs: number | undefined;
}

/**
 * A typed implementation of a generated service: one function per unary method.
 * Throw (or reject with) a RuntimeError to answer with its code; anything else
 * thrown is converted with `RuntimeError.from`.
 */
export type GrpcServiceImpl<S extends GenService<GenServiceMethods>> = {
  [K in UnaryMethodName<S>]: (
    request: MessageShape<MethodInput<S, K>>,
    ctx: GrpcCallContext,
  ) => Promise<MessageInitShape<MethodOutput<S, K>>> | MessageInitShape<MethodOutput<S, K>>;
};

/** Options of {@link GrpcServer}. */
export interface GrpcServerOptions {
  /** File mode of a socket created by {@link GrpcServer.listen}. Default `0o600`, as containerd's shims use. */
  socketMode: number;
  /**
   * Largest request and response message, in bytes. Default 16 MiB, the limit of
   * containerd's proxy-plugin client. grpc-js: `grpc.max_receive_message_length`
   * and `grpc.max_send_message_length`. A larger request is answered ResourceExhausted.
   */
  maxMessageBytes: number;
  /** Most connections open at once; one past it is closed at accept. Default 256 (containerd keeps one). */
  maxConnections: number;
  /** A connection with no call for this long gets GOAWAY and is closed (containerd re-dials), in ms. Default 5 minutes. */
  idleTimeoutMs: number;
  /**
   * How often the server pings each connection, in ms (grpc-js `grpc.keepalive_time_ms`). A
   * peer that does not answer within {@link keepaliveTimeoutMs} is cut: one stalled in the
   * middle of a frame, or in its preface, can never answer. Default 30 s.
   */
  keepaliveTimeMs: number;
  /** How long a ping may go unanswered, in ms. Default 10 s. */
  keepaliveTimeoutMs: number;
}

/** Defaults of {@link GrpcServerOptions}. */
export const defaultGrpcServerOptions: Readonly<GrpcServerOptions> = {
  socketMode: 0o600,
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  maxConnections: 256,
  idleTimeoutMs: 5 * 60_000,
  keepaliveTimeMs: 30_000,
  keepaliveTimeoutMs: 10_000,
};

/** Merges `options` over the defaults; fails with InvalidArgument naming a bad field. */
export function resolveGrpcServerOptions(options: Partial<GrpcServerOptions> = {}): GrpcServerOptions {
  const o = { ...defaultGrpcServerOptions, ...options };
  if (!Number.isInteger(o.socketMode) || o.socketMode < 0 || o.socketMode > 0o777) {
    throw new RuntimeError(Code.InvalidArgument, `socketMode: want a file mode between 0 and 0o777, got ${o.socketMode}`);
  }
  if (!Number.isInteger(o.maxMessageBytes) || o.maxMessageBytes <= 0 || o.maxMessageBytes > 0x7fffffff) {
    throw new RuntimeError(Code.InvalidArgument, `maxMessageBytes: want a positive 31-bit integer, got ${o.maxMessageBytes}`);
  }
  if (!(Number.isInteger(o.maxConnections) || o.maxConnections === Infinity) || o.maxConnections < 1) {
    throw new RuntimeError(Code.InvalidArgument, `maxConnections: want a positive integer, got ${o.maxConnections}`);
  }
  for (const k of ["idleTimeoutMs", "keepaliveTimeMs", "keepaliveTimeoutMs"] as const) {
    if (!Number.isInteger(o[k]) || o[k] < 1 || o[k] > 0x7fffffff) throw new RuntimeError(Code.InvalidArgument, `${k}: want a positive 31-bit integer of ms, got ${o[k]}`);
  }
  return o;
}

/**
 * A gRPC server on unix sockets for generated (protobuf-es v2) services, built on
 * `@grpc/grpc-js` (docs/adr/0001-grpc-library.md). It serves h2c with prior
 * knowledge, as containerd's grpc-go client speaks it on a unix socket.
 *
 * We own the listening sockets (stale-socket replacement, mode, path checks) and
 * hand each accepted connection to grpc-js; grpc-js does the HTTP/2 and gRPC
 * framing, deadlines (`grpc-timeout` → DEADLINE_EXCEEDED even when a handler
 * ignores its signal), trailers and `grpc-message` percent-encoding.
 */
export class GrpcServer {
  private readonly options: GrpcServerOptions;
  private readonly grpc: Server;
  private readonly injector: ReturnType<Server["createConnectionInjector"]>;
  private readonly listeners: { server: NetServer; path: string }[] = [];
  private readonly sockets = new Set<Duplex>();
  /** Connections refused because {@link GrpcServerOptions.maxConnections} were open. */
  refusedConnections = 0;
  /** Calls whose handler runs, with the way to answer them early (used by destroy). */
  private readonly calls = new Map<AbortController, (err: RuntimeError) => void>();
  private closing: Promise<void> | undefined;
  private destroying: Promise<void> | undefined;

  constructor(options: Partial<GrpcServerOptions> = {}) {
    this.options = resolveGrpcServerOptions(options);
    this.grpc = new Server({
      "grpc.max_receive_message_length": this.options.maxMessageBytes,
      "grpc.max_send_message_length": this.options.maxMessageBytes,
      "grpc.enable_channelz": 0, // nothing reads it; saves per-call bookkeeping
      "grpc.max_connection_idle_ms": this.options.idleTimeoutMs,
      "grpc.keepalive_time_ms": this.options.keepaliveTimeMs,
      "grpc.keepalive_timeout_ms": this.options.keepaliveTimeoutMs,
    });
    this.injector = this.grpc.createConnectionInjector(ServerCredentials.createInsecure());
  }

  /**
   * Serves the unary methods `impl` implements. A method left out, and every
   * streaming method, answers Unimplemented. Registering a method again replaces it.
   * `wireName` serves the service under another fully-qualified name than its
   * proto package gives it (two generations of one wire service, see the kuasar-io fork).
   */
  register<S extends GenService<GenServiceMethods>>(service: S, impl: Partial<GrpcServiceImpl<S>>, wireName?: string): void {
    const desc = service as DescService;
    const serviceName = wireName ?? desc.typeName;
    for (const m of unaryMethods(desc)) {
      const fn = (impl as Record<string, Handler | undefined>)[m.localName];
      if (!fn) continue;
      const path = grpcPath(m, serviceName);
      this.grpc.unregister(path);
      this.grpc.register(
        path,
        this.unary(m, serviceName, fn.bind(impl)),
        (b: Buffer) => b, // the handler serializes, so a bad response becomes a status, not a throw inside grpc-js
        (b: Buffer) => fromBinary(m.input, b),
        "unary",
      );
    }
  }

  /** Connections open now. */
  get connectionCount(): number {
    return this.sockets.size;
  }

  /** Calls whose handler is still running. */
  get activeCalls(): number {
    return this.calls.size;
  }

  /**
   * Listens on a unix socket path (≤ 107 bytes) with the configured mode. A
   * stale socket file left by a dead process is replaced; a live one, or a file
   * that is not a socket, fails with AlreadyExists. May be called for several paths.
   */
  async listen(path: string): Promise<void> {
    if (this.closing) throw new RuntimeError(Code.FailedPrecondition, "gRPC server is closed");
    checkSocketPath(path);
    await clearStaleSocket(path);
    const server = createServer((s) => this.serveConnection(s));
    await new Promise<void>((resolve, reject) => {
      server.once("error", (err) => reject(RuntimeError.from(err, Code.Unavailable)));
      server.listen(path, () => resolve());
    });
    try {
      // containerd's shims chmod right after bind as well; the window is one syscall.
      await chmod(path, this.options.socketMode);
    } catch (err) {
      server.close();
      throw RuntimeError.from(err);
    }
    this.listeners.push({ server, path });
  }

  /** Serves a connection accepted elsewhere (a socket handed over by another process, or a test pair). */
  serveConnection(socket: Duplex): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    if (this.sockets.size >= this.options.maxConnections) {
      // Every client of this socket is containerd's: there is none of ours to spare.
      this.refusedConnections++;
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.once("close", () => this.sockets.delete(socket));
    socket.on("error", () => {}); // resets are reported to the calls by grpc-js
    this.injector.injectConnection(socket);
  }

  /**
   * Stops accepting, sends GOAWAY, waits until every call in flight has been
   * answered (a held Wait keeps this pending: use {@link destroy} to cut it),
   * then closes the connections and removes the socket files. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.stopListening();
      await new Promise<void>((resolve) => this.grpc.tryShutdown(() => resolve()));
    })();
    return this.closing;
  }

  /**
   * Shuts down now: stops accepting, answers every call in flight with
   * UNAVAILABLE (so containerd's proxy retries its Wait instead of ending it, as
   * it would on CANCELLED) and aborts the handlers' signals with that error. The
   * connections then close as in {@link close}, which flushes the answers; any
   * still open after {@link DESTROY_FLUSH_MS} (a peer that stopped reading) are
   * cut. Idempotent; also ends a pending {@link close}.
   */
  destroy(reason?: Error): Promise<void> {
    this.destroying ??= (async () => {
      const graceful = this.close();
      const why = new RuntimeError(Code.Unavailable, "gRPC server shutting down", { cause: reason });
      for (const [ac, answer] of this.calls) {
        answer(why);
        ac.abort(why);
      }
      this.calls.clear();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([graceful, new Promise((resolve) => (timer = setTimeout(resolve, DESTROY_FLUSH_MS)))]);
      clearTimeout(timer);
      this.grpc.forceShutdown();
      for (const s of this.sockets) s.destroy();
    })();
    return this.destroying;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.destroy();
  }

  /**
   * Closes the listening sockets and removes their files. Accepted connections are
   * left to grpc-js (net.Server's close callback would wait for them to end).
   */
  private async stopListening(): Promise<void> {
    const ls = this.listeners.splice(0);
    await Promise.all(
      ls.map(async ({ server, path }) => {
        server.close();
        await unlink(path).catch(() => {});
      }),
    );
  }

  /** Adapts one typed function to grpc-js's unary handler. */
  private unary(method: DescMethodUnary, service: string, fn: Handler) {
    const output: DescMessage = method.output;
    return (call: ServerUnaryCall<unknown, Buffer>, callback: sendUnaryData<Buffer>): void => {
      const ac = new AbortController();
      const deadline = call.getDeadline();
      const deadlineMs = deadline instanceof Date ? deadline.getTime() : Number.isFinite(deadline) ? deadline : undefined;
      const onCancelled = () => {
        // grpc-js reports a client RST, a lost connection and its own deadline timer as one
        // event. A client resets the stream at its deadline, which falls a little before ours
        // (ours started when the headers arrived), hence the slack.
        const expired = deadlineMs !== undefined && Date.now() >= deadlineMs - DEADLINE_SLACK_MS;
        this.calls.delete(ac);
        ac.abort(expired ? new RuntimeError(Code.DeadlineExceeded, "context deadline exceeded") : new RuntimeError(Code.Canceled, "context canceled"));
      };
      if (this.destroying) return callback({ code: Code.Unavailable, details: "gRPC server shutting down" });
      this.calls.set(ac, (err) => callback(statusOf(err)));
      call.once("cancelled", onCancelled);
      const headers = headersOf(call.metadata.toJSON());
      const ctx: GrpcCallContext = {
        service,
        method: method.name,
        headers,
        namespace: headers.get(NAMESPACE_HEADER)?.[0],
        signal: ac.signal,
        deadlineMs,
      };
      const ended = announceCall("sandbox", service, method.name, headers);
      const done = (code: number) => {
        this.calls.delete(ac);
        call.off("cancelled", onCancelled);
        ended?.(code);
      };
      let p: Promise<unknown>;
      try {
        p = Promise.resolve(fn(call.request, ctx));
      } catch (err) {
        p = Promise.reject(err);
      }
      p.then(
        (res) => {
          done(Code.OK);
          let bytes: Buffer;
          try {
            bytes = asBuffer(toBinary(output, create(output, res as MessageInitShape<DescMessage>)));
          } catch (err) {
            return callback(statusOf(new RuntimeError(Code.Internal, `grpc: error marshalling response: ${(err as Error).message}`, { cause: err })));
          }
          callback(null, bytes);
        },
        (err: unknown) => {
          const status = statusOf(RuntimeError.from(err));
          done(status.code);
          callback(status);
        },
      );
    };
  }
}

type Handler = (req: unknown, ctx: GrpcCallContext) => unknown;

/** How long {@link GrpcServer.destroy} lets connections close by themselves (answers flushed) before cutting them, in ms. */
export const DESTROY_FLUSH_MS = 500;

/** A cancel this close to the deadline is reported to the handler as DeadlineExceeded. */
const DEADLINE_SLACK_MS = 50;

/** A RuntimeError as grpc-js's status object; grpc-js percent-encodes `details` into `grpc-message`. */
function statusOf(err: RuntimeError): { code: number; details: string } {
  return { code: err.code === Code.OK ? Code.Unknown : err.code, details: err.message };
}

function headersOf(json: Record<string, (string | Buffer)[]>): Metadata {
  const pairs: [string, string][] = [];
  for (const [k, vs] of Object.entries(json)) {
    for (const v of vs) pairs.push([k, typeof v === "string" ? v : v.toString("base64")]);
  }
  return metadataFrom(pairs);
}
