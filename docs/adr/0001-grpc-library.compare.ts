/**
 * Measures `@grpc/grpc-js` against `@connectrpc/connect-node` in the role we
 * need them for: the gRPC **server** of `containerd.services.sandbox.v1.Controller`
 * on a unix socket, with containerd's grpc-go as the client (protocols.md §7.2–7.3).
 *
 * Every server runs in its own child process (`serve <lib> <socket>`) so heaps and
 * page counts do not mix; the parent drives all of them with one neutral client
 * written on `node:http2` that frames gRPC by hand and sends the headers grpc-go
 * sends. Import cost is measured in fresh children (`import <lib>`).
 *
 * Usage: `node dist/docs/adr/0001-grpc-library.compare.js [--rounds N] [--seq N] [--conc-calls N] [--client-calls N]`.
 * The two libraries' own clients are also timed against both servers (crossed), as a
 * secondary number for choosing the client.
 * Prints a markdown table, then one JSON document with every sample.
 * `GRPC_BENCH_NODE_ARGS` adds node flags to the server children (profiling).
 *
 * @internal benchmark, not part of the runtime
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import { connect as netConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { anyPack, TimestampSchema } from "@bufbuild/protobuf/wkt";
import {
  Controller,
  ControllerStatusRequestSchema,
  ControllerStatusResponseSchema,
  ControllerWaitRequestSchema,
  ControllerWaitResponseSchema,
} from "../../src/gen/containerd/services/sandbox/v1/sandbox_pb.js";

type Lib = "grpc-js" | "connect";
const LIBS: readonly Lib[] = ["grpc-js", "connect"];
const SERVICE = "containerd.services.sandbox.v1.Controller";
const STATUS_PATH = `/${SERVICE}/Status`;
const WAIT_PATH = `/${SERVICE}/Wait`;
/** The message the NotFound check expects back, byte for byte (needs percent-encoding on the wire). */
const NOT_FOUND_MESSAGE = 'sandbox "missing" not found: 100% ünïcode ✓';

// ---------------------------------------------------------------------------
// Shared handler logic (both servers answer exactly the same bytes)
// ---------------------------------------------------------------------------

function statusResponse(sandboxId: string, namespace: string | undefined): MessageInitShape<typeof ControllerStatusResponseSchema> {
  return {
    sandboxId,
    pid: 4242,
    state: "SANDBOX_READY",
    info: { namespace: namespace ?? "", kind: "runc", "io.kuasar/version": "0.1.0" },
    createdAt: create(TimestampSchema, { seconds: 1_700_000_000n, nanos: 123_456_789 }),
    exitedAt: create(TimestampSchema, { seconds: -62135596800n }),
    extra: anyPack(TimestampSchema, create(TimestampSchema, { seconds: 1n })),
    address: "ttrpc+unix:///run/kuasar/task.sock",
    version: 3,
  };
}

// ---------------------------------------------------------------------------
// Child: memory and import probes
// ---------------------------------------------------------------------------

interface Mem {
  rssKiB: number;
  pssKiB: number;
  heapUsedKiB: number;
}

function readMem(): Mem {
  const g = (globalThis as { gc?: () => void }).gc;
  g?.();
  g?.();
  const rollup = readFileSync("/proc/self/smaps_rollup", "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1] ?? NaN);
  return { rssKiB: field("Rss"), pssKiB: field("Pss"), heapUsedKiB: Math.round(process.memoryUsage().heapUsed / 1024) };
}

async function importLib(lib: Lib | "none"): Promise<void> {
  if (lib === "grpc-js") await import("@grpc/grpc-js");
  if (lib === "connect") {
    await import("@connectrpc/connect");
    await import("@connectrpc/connect-node");
  }
}

// ---------------------------------------------------------------------------
// Child: the two servers
// ---------------------------------------------------------------------------

type ToChild = { type: "mem" } | { type: "release" } | { type: "exit" };
type FromChild =
  | { type: "ready"; importMs: number; mem: Mem }
  | { type: "mem"; mem: Mem; waiting: number; waitAborted: number; served: number };

interface Counters {
  waiting: Map<number, () => void>;
  waitAborted: number;
  served: number;
  nextWait: number;
}

/** A Wait that resolves on "release", or ends when the call's signal fires (unless told to ignore it). */
function heldWait(counters: Counters, sandboxId: string, onCancel: (cb: () => void) => void): Promise<MessageInitShape<typeof ControllerWaitResponseSchema>> {
  return new Promise((resolve) => {
    const id = counters.nextWait++;
    counters.waiting.set(id, () => resolve({ exitStatus: 137, exitedAt: create(TimestampSchema, { seconds: 1_700_000_001n }) }));
    onCancel(() => {
      counters.waitAborted++;
      if (sandboxId !== "ignore-signal") {
        counters.waiting.delete(id);
        resolve({});
      }
    });
  });
}

async function serveGrpcJs(path: string, counters: Counters): Promise<void> {
  const grpc = await import("@grpc/grpc-js");
  const server = new grpc.Server();
  const method = <I, O>(name: string, decode: (b: Buffer) => I, encode: (m: O) => Buffer) => ({
    path: `/${SERVICE}/${name}`,
    requestStream: false as const,
    responseStream: false as const,
    requestSerialize: (_: I): Buffer => Buffer.alloc(0),
    requestDeserialize: decode,
    responseSerialize: encode,
    responseDeserialize: (_: Buffer): O => ({}) as O,
  });
  const definition = {
    Status: method(
      "Status",
      (b) => fromBinary(ControllerStatusRequestSchema, b),
      (m: MessageInitShape<typeof ControllerStatusResponseSchema>) => Buffer.from(toBinary(ControllerStatusResponseSchema, create(ControllerStatusResponseSchema, m))),
    ),
    Wait: method(
      "Wait",
      (b) => fromBinary(ControllerWaitRequestSchema, b),
      (m: MessageInitShape<typeof ControllerWaitResponseSchema>) => Buffer.from(toBinary(ControllerWaitResponseSchema, create(ControllerWaitResponseSchema, m))),
    ),
  };
  type Call<I> = { request: I; metadata: { get(k: string): (string | Buffer)[] }; on(ev: "cancelled", cb: () => void): void };
  type Cb<O> = (err: { code: number; details: string } | null, value?: O) => void;
  server.addService(definition, {
    Status(call: Call<{ sandboxId: string }>, cb: Cb<MessageInitShape<typeof ControllerStatusResponseSchema>>) {
      counters.served++;
      if (call.request.sandboxId === "missing") return cb({ code: 5, details: NOT_FOUND_MESSAGE });
      const ns = call.metadata.get("containerd-namespace")[0];
      cb(null, statusResponse(call.request.sandboxId, ns === undefined ? undefined : String(ns)));
    },
    Wait(call: Call<{ sandboxId: string }>, cb: Cb<MessageInitShape<typeof ControllerWaitResponseSchema>>) {
      counters.served++;
      heldWait(counters, call.request.sandboxId, (f) => call.on("cancelled", f)).then((r) => cb(null, r));
    },
  } as never);
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${path}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
}

async function serveConnect(path: string, counters: Counters): Promise<void> {
  const { ConnectError } = await import("@connectrpc/connect");
  const { connectNodeAdapter } = await import("@connectrpc/connect-node");
  const handler = connectNodeAdapter({
    grpc: true,
    grpcWeb: false,
    connect: false,
    routes: (router) =>
      router.service(Controller, {
        status(req, ctx) {
          counters.served++;
          if (req.sandboxId === "missing") throw new ConnectError(NOT_FOUND_MESSAGE, 5);
          return statusResponse(req.sandboxId, ctx.requestHeader.get("containerd-namespace") ?? undefined);
        },
        wait(req, ctx) {
          counters.served++;
          return heldWait(counters, req.sandboxId, (f) => ctx.signal.addEventListener("abort", f, { once: true }));
        },
      }),
  });
  const server = http2.createServer(handler);
  await new Promise<void>((resolve, reject) => server.once("error", reject).listen(path, () => resolve()));
}

async function childServe(lib: Lib, path: string): Promise<void> {
  const send = (m: FromChild) => process.send!(m);
  // protobuf-es and the generated code are needed whichever library we pick: loaded before the clock starts.
  const t0 = performance.now();
  await importLib(lib);
  const importMs = performance.now() - t0;
  const counters: Counters = { waiting: new Map(), waitAborted: 0, served: 0, nextWait: 0 };
  if (lib === "grpc-js") await serveGrpcJs(path, counters);
  else await serveConnect(path, counters);
  process.on("message", (m: ToChild) => {
    if (m.type === "mem") send({ type: "mem", mem: readMem(), waiting: counters.waiting.size, waitAborted: counters.waitAborted, served: counters.served });
    if (m.type === "release") {
      for (const r of counters.waiting.values()) r();
      counters.waiting.clear();
    }
    if (m.type === "exit") process.exit(0);
  });
  send({ type: "ready", importMs, mem: readMem() });
}

async function childImport(lib: Lib | "none"): Promise<void> {
  const t0 = performance.now();
  await importLib(lib);
  const importMs = performance.now() - t0;
  process.send!({ importMs, mem: readMem() });
  process.disconnect();
}

// ---------------------------------------------------------------------------
// Parent: the neutral client (grpc-go's headers, hand-made framing)
// ---------------------------------------------------------------------------

interface RawReply {
  httpStatus: number | undefined;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  /** grpc-status came in the response HEADERS frame that also ended the stream. */
  trailersOnly: boolean;
  grpcStatus: number | undefined;
  grpcMessageRaw: string | undefined;
  body: Buffer;
  /** The stream was reset instead of finished. */
  rstCode: number | undefined;
  /** No status within the give-up time: the client reset the stream itself. */
  gaveUp: boolean;
}

function frame(msg: Uint8Array): Buffer {
  const b = Buffer.alloc(5 + msg.length);
  b.writeUInt32BE(msg.length, 1);
  b.set(msg, 5);
  return b;
}

function unframe(body: Buffer): Buffer | undefined {
  if (body.length < 5) return undefined;
  return body.subarray(5, 5 + body.readUInt32BE(1));
}

class NeutralClient {
  private constructor(private readonly session: http2.ClientHttp2Session) {}

  static async connect(path: string): Promise<NeutralClient> {
    const session = http2.connect("http://localhost", { createConnection: () => netConnect(path) });
    await new Promise<void>((resolve, reject) => session.once("connect", () => resolve()).once("error", reject));
    session.on("error", () => {});
    return new NeutralClient(session);
  }

  /**
   * One call with grpc-go's request headers. `body` is sent as is (already framed);
   * `cancelAfterMs` resets the stream with CANCEL like a client-side context cancel;
   * `giveUpMs` does the same but marks the reply as never answered.
   */
  call(path: string, body: Uint8Array, extra: Record<string, string> = {}, cancelAfterMs?: number, giveUpMs = 5000): Promise<RawReply> {
    const stream = this.session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-accept-encoding": "gzip",
      "user-agent": "grpc-go/1.81.1",
      "containerd-namespace": "k8s.io",
      ...extra,
    });
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      const reply: RawReply = {
        httpStatus: undefined,
        headers: {},
        trailers: undefined,
        trailersOnly: false,
        grpcStatus: undefined,
        grpcMessageRaw: undefined,
        body: Buffer.alloc(0),
        rstCode: undefined,
        gaveUp: false,
      };
      const giveUp = setTimeout(() => {
        reply.gaveUp = true;
        stream.close(http2.constants.NGHTTP2_CANCEL);
      }, giveUpMs);
      stream.on("response", (h, flags) => {
        reply.headers = h;
        reply.httpStatus = Number(h[":status"]);
        if (h["grpc-status"] !== undefined) {
          reply.trailersOnly = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
          reply.grpcStatus = Number(h["grpc-status"]);
          reply.grpcMessageRaw = h["grpc-message"] as string | undefined;
        }
      });
      stream.on("trailers", (t) => {
        reply.trailers = t;
        reply.trailersOnly = false;
        reply.grpcStatus = Number(t["grpc-status"]);
        reply.grpcMessageRaw = t["grpc-message"] as string | undefined;
      });
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("error", () => {});
      stream.on("close", () => {
        clearTimeout(giveUp);
        reply.body = Buffer.concat(chunks);
        if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) reply.rstCode = stream.rstCode;
        resolve(reply);
      });
      stream.end(body);
      if (cancelAfterMs !== undefined) setTimeout(() => stream.close(http2.constants.NGHTTP2_CANCEL), cancelAfterMs);
    });
  }

  close(): void {
    this.session.close();
  }
}

const statusBody = frame(toBinary(ControllerStatusRequestSchema, create(ControllerStatusRequestSchema, { sandboxId: "sb-1", sandboxer: "bench" })));
const waitBody = (id: string) => frame(toBinary(ControllerWaitRequestSchema, create(ControllerWaitRequestSchema, { sandboxId: id, sandboxer: "bench" })));

async function statusOk(c: NeutralClient): Promise<void> {
  const r = await c.call(STATUS_PATH, statusBody);
  if (r.grpcStatus !== 0) throw new Error(`Status failed: ${r.grpcStatus} ${r.grpcMessageRaw}`);
  fromBinary(ControllerStatusResponseSchema, unframe(r.body)!);
}

// ---------------------------------------------------------------------------
// Parent: one round against one library
// ---------------------------------------------------------------------------

interface Latency {
  medianUs: number;
  p99Us: number;
  callsPerSec: number;
}

interface Checks {
  h2cPriorKnowledge: boolean;
  okHasTrailers: boolean;
  errorCode: number | undefined;
  errorMessageRoundTrips: boolean;
  errorTrailersOnly: boolean;
  grpcMessageRaw: string | undefined;
  namespaceHeaderSeen: boolean;
  /** Status the client got for a Wait whose handler ignores its signal, with grpc-timeout 200m. */
  deadlineStatusIgnoringHandler: number | string;
  deadlineElapsedMs: number;
  /** Did the handler's cancellation hook fire on deadline / on client RST_STREAM? */
  handlerSeesDeadline: boolean;
  handlerSeesClientCancel: boolean;
  garbageBodyStatus: number | string;
  truncatedBodyStatus: number | string;
  unknownMethodStatus: number | string;
  aliveAfterGarbage: boolean;
}

interface Round {
  lib: Lib;
  /** Sequential Status median (µs) with each library's own client against this server. */
  clients: Record<Lib, number>;
  importMs: number;
  /** afterLoad: after the latency runs (another seq + conc-calls calls), Waits released. */
  mem: { baseline: Mem; after1000Calls: Mem; with100Waits: Mem; afterLoad: Mem };
  sequential: Latency;
  concurrent64: Latency;
  checks: Checks;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function summarize(samplesMs: number[], wallMs: number): Latency {
  const s = [...samplesMs].sort((a, b) => a - b);
  return { medianUs: Math.round(percentile(s, 50) * 1000), p99Us: Math.round(percentile(s, 99) * 1000), callsPerSec: Math.round((samplesMs.length / wallMs) * 1000) };
}

class ChildServer {
  private readonly queue: FromChild[] = [];
  private waiters: ((m: FromChild) => void)[] = [];

  constructor(readonly proc: ChildProcess) {
    proc.on("message", (m: FromChild) => {
      const w = this.waiters.shift();
      if (w) w(m);
      else this.queue.push(m);
    });
  }

  next(): Promise<FromChild> {
    const q = this.queue.shift();
    if (q) return Promise.resolve(q);
    return new Promise((r) => this.waiters.push(r));
  }

  async mem(): Promise<Extract<FromChild, { type: "mem" }>> {
    this.proc.send({ type: "mem" } satisfies ToChild);
    return (await this.next()) as Extract<FromChild, { type: "mem" }>;
  }
}

const self = fileURLToPath(import.meta.url);
/** Extra node flags for the server children, e.g. `GRPC_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"`. */
const childExecArgv = ["--expose-gc", ...(process.env["GRPC_BENCH_NODE_ARGS"]?.split(" ").filter(Boolean) ?? [])];

async function runRound(lib: Lib, opts: { seq: number; concCalls: number; clientCalls: number }): Promise<Round> {
  const dir = mkdtempSync(join(tmpdir(), "grpc-bench-"));
  const sock = join(dir, "s.sock");
  const proc = fork(self, ["serve", lib, sock], { execArgv: childExecArgv, stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const child = new ChildServer(proc);
  const progress = (what: string) => process.stderr.write(`[${lib}] ${what}\n`);
  try {
    const ready = (await child.next()) as Extract<FromChild, { type: "ready" }>;
    const c = await NeutralClient.connect(sock);

    for (let i = 0; i < 1000; i++) await statusOk(c);
    const after1000 = await child.mem();
    progress("1000 calls served");

    // 100 Waits held open.
    const waits = Array.from({ length: 100 }, () => c.call(WAIT_PATH, waitBody("held"), {}, undefined, 60_000));
    let m = await child.mem();
    while (m.waiting < 100) {
      await new Promise((r) => setTimeout(r, 20));
      m = await child.mem();
    }
    const with100 = m;
    progress("100 waits held");
    proc.send({ type: "release" } satisfies ToChild);
    const released = await Promise.all(waits);
    if (released.some((r) => r.grpcStatus !== 0)) throw new Error(`${lib}: released Wait did not end OK`);

    // Sequential unary latency.
    const seq: number[] = [];
    let t0 = performance.now();
    for (let i = 0; i < opts.seq; i++) {
      const t = performance.now();
      await statusOk(c);
      seq.push(performance.now() - t);
    }
    const sequential = summarize(seq, performance.now() - t0);

    // 64 in flight.
    const conc: number[] = [];
    let left = opts.concCalls;
    t0 = performance.now();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (left-- > 0) {
          const t = performance.now();
          await statusOk(c);
          conc.push(performance.now() - t);
        }
      }),
    );
    const concurrent64 = summarize(conc, performance.now() - t0);

    const afterLoad = await child.mem();

    const checks = await runChecks(c, child);
    progress("checks done");
    c.close();
    const clients = { "grpc-js": await grpcJsClientMedian(sock, opts.clientCalls), connect: await connectClientMedian(sock, opts.clientCalls) };
    progress("library clients done");
    return {
      lib,
      clients,
      importMs: ready.importMs,
      mem: { baseline: ready.mem, after1000Calls: after1000.mem, with100Waits: with100.mem, afterLoad: afterLoad.mem },
      sequential,
      concurrent64,
      checks,
    };
  } finally {
    proc.send({ type: "exit" } satisfies ToChild);
    await new Promise((r) => proc.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

const statusRequest = create(ControllerStatusRequestSchema, { sandboxId: "sb-1", sandboxer: "bench" });

/** Median µs of `n` sequential Status calls (after 200 warm-up calls) with the grpc-js client. */
async function grpcJsClientMedian(sock: string, n: number): Promise<number> {
  const grpc = await import("@grpc/grpc-js");
  const client = new grpc.Client(`unix:${sock}`, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set("containerd-namespace", "k8s.io");
  const one = () =>
    new Promise<void>((resolve, reject) =>
      client.makeUnaryRequest(
        STATUS_PATH,
        (m: typeof statusRequest) => Buffer.from(toBinary(ControllerStatusRequestSchema, m)),
        (b: Buffer) => fromBinary(ControllerStatusResponseSchema, b),
        statusRequest,
        md,
        {},
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  const out = await timeSequential(one, n);
  client.close();
  return out;
}

/** Same with the connect-node gRPC transport. */
async function connectClientMedian(sock: string, n: number): Promise<number> {
  const { createClient } = await import("@connectrpc/connect");
  const { createGrpcTransport } = await import("@connectrpc/connect-node");
  const transport = createGrpcTransport({ baseUrl: "http://localhost", nodeOptions: { createConnection: () => netConnect(sock) } });
  const client = createClient(Controller, transport);
  const headers = { "containerd-namespace": "k8s.io" };
  return timeSequential(async () => void (await client.status(statusRequest, { headers })), n);
}

async function timeSequential(one: () => Promise<void>, n: number): Promise<number> {
  for (let i = 0; i < 200; i++) await one();
  const xs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await one();
    xs.push(performance.now() - t);
  }
  return Math.round(percentile(xs.sort((a, b) => a - b), 50) * 1000);
}

function statusOf(r: RawReply): number | string {
  if (r.gaveUp) return "no reply (client gave up after 5 s)";
  if (r.grpcStatus !== undefined) return r.grpcStatus;
  if (r.rstCode !== undefined) return `RST_STREAM(${r.rstCode})`;
  return `HTTP ${r.httpStatus}`;
}

async function runChecks(c: NeutralClient, child: ChildServer): Promise<Checks> {
  const ok = await c.call(STATUS_PATH, statusBody);
  const info = fromBinary(ControllerStatusResponseSchema, unframe(ok.body)!).info;

  const nf = await c.call(STATUS_PATH, frame(toBinary(ControllerStatusRequestSchema, create(ControllerStatusRequestSchema, { sandboxId: "missing" }))));
  let decoded: string | undefined;
  try {
    decoded = nf.grpcMessageRaw === undefined ? undefined : decodeURIComponent(nf.grpcMessageRaw);
  } catch {
    decoded = undefined;
  }

  const abortedBefore = (await child.mem()).waitAborted;
  const t0 = performance.now();
  const dl = await c.call(WAIT_PATH, waitBody("ignore-signal"), { "grpc-timeout": "200m" });
  const deadlineElapsedMs = Math.round(performance.now() - t0);
  await new Promise((r) => setTimeout(r, 50));
  const abortedAfterDeadline = (await child.mem()).waitAborted;

  await c.call(WAIT_PATH, waitBody("held"), {}, 100);
  await new Promise((r) => setTimeout(r, 100));
  const abortedAfterCancel = (await child.mem()).waitAborted;
  child.proc.send({ type: "release" } satisfies ToChild); // frees the ignore-signal waiter

  const garbage = await c.call(STATUS_PATH, frame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])));
  const truncated = await c.call(STATUS_PATH, Buffer.from([0, 0, 0, 0, 100, 1, 2, 3]));
  const unknown = await c.call(`/${SERVICE}/NoSuchMethod`, statusBody);
  let aliveAfterGarbage = true;
  try {
    await statusOk(c);
  } catch {
    aliveAfterGarbage = false;
  }
  return {
    h2cPriorKnowledge: ok.httpStatus === 200,
    okHasTrailers: ok.trailers?.["grpc-status"] === "0",
    errorCode: nf.grpcStatus,
    errorMessageRoundTrips: decoded === NOT_FOUND_MESSAGE,
    errorTrailersOnly: nf.trailersOnly,
    grpcMessageRaw: nf.grpcMessageRaw,
    namespaceHeaderSeen: info["namespace"] === "k8s.io",
    deadlineStatusIgnoringHandler: statusOf(dl),
    deadlineElapsedMs,
    handlerSeesDeadline: abortedAfterDeadline > abortedBefore,
    handlerSeesClientCancel: abortedAfterCancel > abortedAfterDeadline,
    garbageBodyStatus: statusOf(garbage),
    truncatedBodyStatus: statusOf(truncated),
    unknownMethodStatus: statusOf(unknown),
    aliveAfterGarbage,
  };
}

async function importSample(lib: Lib | "none"): Promise<{ importMs: number; mem: Mem }> {
  const proc = fork(self, ["import", lib], { execArgv: ["--expose-gc"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const m = await new Promise<{ importMs: number; mem: Mem }>((r) => proc.once("message", r as never));
  await new Promise((r) => proc.once("exit", r));
  return m;
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function mib(kib: number): string {
  return (kib / 1024).toFixed(1);
}

function table(rounds: Round[], imports: Record<string, number[]>, importMem: Record<string, Mem[]>): string {
  const rows: string[][] = [];
  const col = (lib: Lib, f: (r: Round) => number, fmt: (n: number) => string = (n) => String(Math.round(n))) => {
    const xs = rounds.filter((r) => r.lib === lib).map(f);
    return `${fmt(median(xs))} (${xs.map((x) => fmt(x)).join(", ")})`;
  };
  const both = (label: string, f: (r: Round) => number, fmt?: (n: number) => string) => rows.push([label, ...LIBS.map((l) => col(l, f, fmt))]);
  rows.push(["import, fresh process (ms)", ...LIBS.map((l) => `${median(imports[l]!).toFixed(1)} (${imports[l]!.map((x) => x.toFixed(1)).join(", ")})`)]);
  both("sequential unary median (µs)", (r) => r.sequential.medianUs);
  both("sequential unary p99 (µs)", (r) => r.sequential.p99Us);
  both("sequential calls/s", (r) => r.sequential.callsPerSec);
  both("64 concurrent median (µs)", (r) => r.concurrent64.medianUs);
  both("64 concurrent p99 (µs)", (r) => r.concurrent64.p99Us);
  both("64 concurrent calls/s", (r) => r.concurrent64.callsPerSec);
  for (const cl of LIBS) both(`${cl} client → this server, sequential median (µs)`, (r) => r.clients[cl]);
  const m = (label: string, f: (r: Round) => number) => both(label, f, mib);
  m("RSS baseline, listening (MiB)", (r) => r.mem.baseline.rssKiB);
  m("PSS baseline, listening (MiB)", (r) => r.mem.baseline.pssKiB);
  m("RSS after 1000 calls (MiB)", (r) => r.mem.after1000Calls.rssKiB);
  m("PSS after 1000 calls (MiB)", (r) => r.mem.after1000Calls.pssKiB);
  m("RSS with 100 Waits held (MiB)", (r) => r.mem.with100Waits.rssKiB);
  m("PSS with 100 Waits held (MiB)", (r) => r.mem.with100Waits.pssKiB);
  m("JS heap with 100 Waits held (MiB)", (r) => r.mem.with100Waits.heapUsedKiB);
  m("RSS after the latency runs (MiB)", (r) => r.mem.afterLoad.rssKiB);
  m("PSS after the latency runs (MiB)", (r) => r.mem.afterLoad.pssKiB);
  const none = importMem["none"]!;
  rows.push(["(control: protobuf-es + generated code only) RSS / PSS (MiB)", `${mib(median(none.map((x) => x.rssKiB)))} / ${mib(median(none.map((x) => x.pssKiB)))}`, ""]);

  const first = (lib: Lib) => rounds.find((r) => r.lib === lib)!.checks;
  const checkKeys = Object.keys(first("grpc-js")) as (keyof Checks)[];
  for (const k of checkKeys) rows.push([`check: ${k}`, ...LIBS.map((l) => JSON.stringify(first(l)[k]))]);

  const lines = [`| measure | ${LIBS.join(" | ")} |`, `|---|${LIBS.map(() => "---").join("|")}|`];
  for (const r of rows) lines.push(`| ${r.join(" | ")} |`);
  return lines.join("\n");
}

async function main(): Promise<void> {
  const [mode, lib, sock] = process.argv.slice(2);
  if (mode === "serve") return childServe(lib as Lib, sock!);
  if (mode === "import") return childImport(lib as Lib | "none");

  const arg = (name: string, def: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : def;
  };
  const roundsN = arg("rounds", 3);
  const opts = { seq: arg("seq", 2000), concCalls: arg("conc-calls", 6400), clientCalls: arg("client-calls", 1000) };

  const imports: Record<string, number[]> = { "grpc-js": [], connect: [], none: [] };
  const importMem: Record<string, Mem[]> = { "grpc-js": [], connect: [], none: [] };
  for (let i = 0; i < 5; i++) {
    for (const l of ["none", ...LIBS] as const) {
      const s = await importSample(l);
      imports[l]!.push(s.importMs);
      importMem[l]!.push(s.mem);
    }
  }
  const rounds: Round[] = [];
  for (let i = 0; i < roundsN; i++) {
    // Alternate the order so drift on a noisy machine does not favour one library.
    for (const l of i % 2 ? [...LIBS].reverse() : LIBS) rounds.push(await runRound(l, opts));
  }
  const meta = { node: process.version, cpus: (await import("node:os")).cpus().length, rounds: roundsN, ...opts, date: new Date().toISOString() };
  process.stdout.write(`${table(rounds, imports, importMem)}\n\nValues: median of rounds (each round in parentheses).\n\n`);
  process.stdout.write(`${JSON.stringify({ meta, imports, importMem, rounds }, null, 2)}\n`);
}

await main();
