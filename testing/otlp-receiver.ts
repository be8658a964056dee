import { createServer } from "node:http";
import { gunzipSync } from "node:zlib";

/** One span as it arrived over OTLP/HTTP, decoded. */
export interface ReceivedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
}

/** A protobuf message's fields: number -> values (varints as bigint, length-delimited as bytes). */
type Fields = Map<number, (bigint | Buffer)[]>;

/** Decodes one protobuf message's wire format (no schema needed for the fields read here). */
function fields(b: Buffer): Fields {
  const out: Fields = new Map();
  let i = 0;
  const varint = (): bigint => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = b[i++]!;
      v |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return v;
    }
  };
  while (i < b.length) {
    const key = Number(varint());
    const no = key >>> 3;
    let val: bigint | Buffer;
    switch (key & 7) {
      case 0:
        val = varint();
        break;
      case 1:
        val = b.subarray(i, i + 8);
        i += 8;
        break;
      case 2: {
        const n = Number(varint());
        val = b.subarray(i, i + n);
        i += n;
        break;
      }
      case 5:
        val = b.subarray(i, i + 4);
        i += 4;
        break;
      default:
        throw new Error(`wire type ${key & 7} not expected in OTLP`);
    }
    const list = out.get(no);
    if (list) list.push(val);
    else out.set(no, [val]);
  }
  return out;
}

const msgs = (f: Fields, no: number): Buffer[] => (f.get(no) ?? []).filter((v): v is Buffer => Buffer.isBuffer(v));
const str = (f: Fields, no: number): string => msgs(f, no)[0]?.toString("utf8") ?? "";
const hex = (f: Fields, no: number): string => msgs(f, no)[0]?.toString("hex") ?? "";
const num = (f: Fields, no: number): number => Number((f.get(no) ?? []).find((v): v is bigint => typeof v === "bigint") ?? 0n);

/** KeyValue list (AnyValue: string 1, bool 2, int 3). */
function attributes(list: Buffer[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list) {
    const f = fields(kv);
    const any = fields(msgs(f, 2)[0] ?? Buffer.alloc(0));
    out[str(f, 1)] = any.has(1) ? str(any, 1) : any.has(2) ? num(any, 2) === 1 : num(any, 3);
  }
  return out;
}

/** Decodes an ExportTraceServiceRequest into its spans. */
export function decodeTraceExport(body: Buffer): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const rs of msgs(fields(body), 1)) {
    const r = fields(rs);
    const resource = attributes(msgs(fields(msgs(r, 1)[0] ?? Buffer.alloc(0)), 1));
    for (const ss of msgs(r, 2)) {
      for (const sp of msgs(fields(ss), 2)) {
        const s = fields(sp);
        const status = fields(msgs(s, 15)[0] ?? Buffer.alloc(0));
        spans.push({
          service: String(resource["service.name"] ?? ""),
          name: str(s, 5),
          traceId: hex(s, 1),
          spanId: hex(s, 2),
          parentSpanId: hex(s, 4),
          kind: num(s, 6),
          attributes: attributes(msgs(s, 9)),
          statusCode: num(status, 3),
        });
      }
    }
  }
  return spans;
}

/** A tiny OTLP/HTTP traces receiver on 127.0.0.1: what arrives at /v1/traces is decoded and kept. */
export async function startOtlpReceiver(): Promise<{ url: string; spans: ReceivedSpan[]; close(): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (d: Buffer) => chunks.push(d));
    req.on("end", () => {
      let body = Buffer.concat(chunks);
      if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body);
      if (req.url === "/v1/traces" && req.headers["content-type"] === "application/x-protobuf") spans.push(...decodeTraceExport(body));
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  server.keepAliveTimeout = 600_000; // one connection for the whole test: a leak census counts the exporter's
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}
