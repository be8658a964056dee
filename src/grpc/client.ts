import { create, fromBinary, toBinary, type DescMessage, type DescMethodServerStreaming, type DescMethodUnary, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { Client, credentials, Metadata as GrpcMetadata, type CallOptions, type ServiceError } from "@grpc/grpc-js";
import { Code, isCode } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import type { Metadata } from "../ttrpc/metadata.js";
import { asBuffer, DEFAULT_MAX_MESSAGE_BYTES, grpcPath, NAMESPACE_HEADER, unaryMethods, type MethodInput, type MethodOutput, type UnaryMethodName } from "./service.js";
import { socketPathOf } from "../fs/unix-socket.js";

/** Request headers: a metadata map, or a plain record (keys are lower-cased either way). */
export type GrpcHeaders = Metadata | Readonly<Record<string, string | readonly string[]>>;

/** Per-call options. */
export interface GrpcCallOptions {
  /** Extra request headers, added after the client's {@link GrpcClientOptions.metadata}. */
  metadata?: GrpcHeaders;
  /** Sent as `containerd-namespace`; overrides {@link GrpcClientOptions.namespace}. */
  namespace?: string;
  /** Deadline in ms from now: sent as `grpc-timeout` and enforced locally (DeadlineExceeded). None when absent. */
  timeoutMs?: number;
  /** Aborting resets the stream (the server's handler sees its signal abort) and rejects with the abort reason (Canceled for a plain abort). */
  signal?: AbortSignal;
  /** Fully-qualified service name on the wire, when it is not the method's proto service (set by {@link GrpcClient.service}). */
  wireName?: string;
}

/** Options of {@link GrpcClient}. */
export interface GrpcClientOptions {
  /**
   * Largest request and response message, in bytes. Default 16 MiB, as
   * containerd's proxy-plugin client. grpc-js: `grpc.max_send_message_length`
   * and `grpc.max_receive_message_length`.
   */
  maxMessageBytes: number;
  /** Headers sent on every call. Default none. */
  metadata: GrpcHeaders;
  /** Sent as `containerd-namespace` on every call unless the call names one. Default none (containerd's `--namespace`). */
  namespace: string | undefined;
}

/** Defaults of {@link GrpcClientOptions}. */
export const defaultGrpcClientOptions: Readonly<GrpcClientOptions> = {
  maxMessageBytes: DEFAULT_MAX_MESSAGE_BYTES,
  metadata: {},
  namespace: undefined,
};

/** Merges `options` over the defaults; fails with InvalidArgument naming a bad field. */
export function resolveGrpcClientOptions(options: Partial<GrpcClientOptions> = {}): GrpcClientOptions {
  const o = { ...defaultGrpcClientOptions, ...options };
  if (!Number.isInteger(o.maxMessageBytes) || o.maxMessageBytes <= 0 || o.maxMessageBytes > 0x7fffffff) {
    throw new RuntimeError(Code.InvalidArgument, `maxMessageBytes: want a positive 31-bit integer, got ${o.maxMessageBytes}`);
  }
  if (o.namespace === "") throw new RuntimeError(Code.InvalidArgument, "namespace: must not be empty");
  return o;
}

/** A typed client of a generated service: one async function per unary method. */
export type GrpcServiceClient<S extends GenService<GenServiceMethods>> = {
  [K in UnaryMethodName<S>]: (request: MessageInitShape<MethodInput<S, K>>, options?: GrpcCallOptions) => Promise<MessageShape<MethodOutput<S, K>>>;
};

/**
 * A gRPC client over one unix socket, built on `@grpc/grpc-js` (the library the
 * server uses, docs/adr/0001-grpc-library.md). It connects lazily, reconnects
 * after the server restarts, and fails a call at once with Unavailable when
 * nothing listens (no wait-for-ready). Failures reject with a RuntimeError
 * carrying the gRPC status code and the decoded `grpc-message`.
 */
export class GrpcClient {
  /** The socket path calls go to. */
  readonly path: string;
  private readonly options: GrpcClientOptions;
  private readonly client: Client;
  private closed = false;

  /** `address` is `/abs/path`, `unix:///abs/path` or `unix:/abs/path`. Nothing is dialled until the first call. */
  constructor(address: string, options: Partial<GrpcClientOptions> = {}) {
    this.path = socketPathOf(address);
    this.options = resolveGrpcClientOptions(options);
    this.client = new Client(`unix:${this.path}`, credentials.createInsecure(), {
      "grpc.max_receive_message_length": this.options.maxMessageBytes,
      "grpc.max_send_message_length": this.options.maxMessageBytes,
      "grpc.enable_channelz": 0,
    });
  }

  /** A typed view of `service` whose methods call through this client (under `wireName`, when the wire name differs from its proto package's). */
  service<S extends GenService<GenServiceMethods>>(service: S, wireName?: string): GrpcServiceClient<S> {
    const out: Record<string, (req: unknown, options?: GrpcCallOptions) => Promise<unknown>> = {};
    for (const m of unaryMethods(service as DescService)) {
      out[m.localName] = (req, options) => this.call(m, req as MessageInitShape<DescMessage>, { ...options, wireName });
    }
    return out as GrpcServiceClient<S>;
  }

  /** One unary call. */
  call<I extends DescMessage, O extends DescMessage>(method: DescMethodUnary<I, O>, request: MessageInitShape<I>, options: GrpcCallOptions = {}): Promise<MessageShape<O>> {
    let out: Outgoing;
    try {
      out = this.outgoing(method, request, options);
    } catch (err) {
      return Promise.reject(err as RuntimeError);
    }
    const { bytes, md, callOptions } = out;
    const { signal } = options;
    return new Promise((resolve, reject) => {
      const onAbort = () => call.cancel();
      const call = this.client.makeUnaryRequest(
        grpcPath(method, options.wireName),
        (b: Buffer) => b,
        (b: Buffer) => fromBinary(method.output, b),
        bytes,
        md,
        callOptions,
        (err: ServiceError | null, res?: MessageShape<O>) => {
          signal?.removeEventListener("abort", onAbort);
          if (!err) resolve(res!);
          else if (signal?.aborted) reject(RuntimeError.from(signal.reason));
          else reject(statusError(err));
        },
      );
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  /**
   * One server-streaming call: the responses in order. A failure (the status, or the
   * client's own errors) rejects the iteration with a RuntimeError, as {@link call} does;
   * leaving the loop early cancels the stream.
   */
  async *serverStream<I extends DescMessage, O extends DescMessage>(method: DescMethodServerStreaming<I, O>, request: MessageInitShape<I>, options: GrpcCallOptions = {}): AsyncGenerator<MessageShape<O>> {
    const { bytes, md, callOptions } = this.outgoing(method, request, options);
    const { signal } = options;
    const stream = this.client.makeServerStreamRequest(
      grpcPath(method, options.wireName),
      (b: Buffer) => b,
      (b: Buffer) => fromBinary(method.output, b),
      bytes,
      md,
      callOptions,
    );
    const onAbort = () => stream.cancel();
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const message of stream) yield message as MessageShape<O>;
    } catch (err) {
      if (signal?.aborted) throw RuntimeError.from(signal.reason);
      throw statusError(err as ServiceError);
    } finally {
      signal?.removeEventListener("abort", onAbort);
      stream.cancel();
    }
  }

  /** Closes the channel; calls in flight fail with Unavailable or Canceled. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }

  /**
   * What a call sends: its encoded request, metadata and deadline; a RuntimeError when the
   * client is closed (Unavailable), the signal already aborted, or the input is bad (InvalidArgument).
   */
  private outgoing<I extends DescMessage>(method: { input: I }, request: MessageInitShape<I>, options: GrpcCallOptions): Outgoing {
    if (this.closed) throw new RuntimeError(Code.Unavailable, "gRPC client closed");
    const { signal, timeoutMs } = options;
    if (signal?.aborted) throw RuntimeError.from(signal.reason);
    try {
      if (timeoutMs !== undefined && !(timeoutMs > 0)) throw new RuntimeError(Code.InvalidArgument, `timeoutMs: want a positive number, got ${timeoutMs}`);
      const bytes = asBuffer(toBinary(method.input, create(method.input, request)));
      const md = this.metadataFor(options);
      return { bytes, md, callOptions: timeoutMs === undefined ? {} : { deadline: Date.now() + timeoutMs } };
    } catch (err) {
      throw RuntimeError.from(err, Code.InvalidArgument);
    }
  }

  private metadataFor(options: GrpcCallOptions): GrpcMetadata {
    const md = new GrpcMetadata();
    for (const headers of [this.options.metadata, options.metadata]) {
      if (!headers) continue;
      const entries = headers instanceof Map ? headers.entries() : Object.entries(headers);
      for (const [k, v] of entries as Iterable<[string, string | readonly string[]]>) {
        for (const value of typeof v === "string" ? [v] : v) md.add(k.toLowerCase(), value);
      }
    }
    const ns = options.namespace ?? this.options.namespace;
    if (ns !== undefined) md.set(NAMESPACE_HEADER, ns);
    return md;
  }
}

/** An encoded request with its metadata and call options. */
interface Outgoing {
  bytes: Buffer;
  md: GrpcMetadata;
  callOptions: CallOptions;
}

/** A failed call's status as a RuntimeError (a status that is no code, or OK, as Unknown). */
function statusError(err: ServiceError): RuntimeError {
  return new RuntimeError(isCode(err.code) && err.code !== Code.OK ? err.code : Code.Unknown, err.details ?? String(err), { cause: err });
}
