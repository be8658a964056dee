import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { connect, type Socket } from "node:net";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { Controller } from "../../src/gen/containerd/services/sandbox/v1/sandbox_pb.js";
import { GrpcClient } from "../../src/grpc/client.js";
import { grpcPath } from "../../src/grpc/service.js";
import { assertIsolated } from "../../testing/isolation.js";
import { assertFootprintBounded, fuzzDaemon } from "./fuzz-daemon.js";
import { footprint, fuzzSeed, inParallel, oneShot, Prng } from "./fuzz-kit.js";

assertIsolated();

/** Inputs per class; the whole file stays near 40,000 malformed inputs. */
const CONNECTION_INPUTS = 6000;
const STREAM_INPUTS = 34_000;

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const SETTINGS = frame(4, 0, 0, Buffer.alloc(0));

function frame(type: number, flags: number, stream: number, payload: Buffer, lengthOverride?: number): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(lengthOverride ?? payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([h, payload]);
}

/** One connection-level malformed input: raw junk, a cut preface, or a good preface then bad frames. */
function connectionInput(r: Prng): Buffer {
  switch (r.int(5)) {
    case 0:
      return r.junk(2048);
    case 1:
      return Buffer.concat([PREFACE.subarray(0, r.int(PREFACE.length)), r.chance(0.5) ? r.junk(64) : Buffer.alloc(0)]);
    case 2: {
      const frames = [PREFACE, SETTINGS];
      for (let i = 0, n = 1 + r.int(6); i < n; i++) {
        const payload = r.junk(256);
        frames.push(frame(r.int(12), r.u32() & 0xff, r.chance(0.5) ? 1 + 2 * r.int(8) : r.u32(), payload, r.chance(0.2) ? r.int(1 << 24) : undefined));
      }
      return Buffer.concat(frames);
    }
    case 3: {
      // A whole-looking frame cut short.
      const f = frame(r.pick([0, 1, 4, 6, 8, 9]), r.u32() & 0xff, 1, r.junk(128));
      return Buffer.concat([PREFACE, SETTINGS, f.subarray(0, r.int(f.length))]);
    }
    default:
      return r.mutate(Buffer.concat([PREFACE, SETTINGS, frame(1, 4, 1, r.junk(64)), frame(0, 1, 1, r.junk(32))]));
  }
}

/** A gRPC body: a length-prefixed message of random protobuf, or a damaged prefix. */
function grpcBody(r: Prng): Buffer {
  const msg = r.junk(300);
  const prefix = Buffer.alloc(5);
  prefix[0] = r.chance(0.9) ? 0 : r.u32() & 0xff;
  prefix.writeUInt32BE(r.chance(0.9) ? msg.length : r.u32(), 1);
  const body = Buffer.concat([prefix, msg]);
  return r.chance(0.1) ? body.subarray(0, r.int(body.length)) : body;
}

const paths = [...Controller.methods.map((m) => grpcPath(m)), "/containerd.services.sandbox.v1.Controller/Nope", "/x", "/"];
const timeouts = [undefined, undefined, "1n", "5m", "99999999H", "0S", "abc", "-1m", "100000000S"];

describe("fuzz: the Sandbox API gRPC socket", { timeout: 120_000 }, () => {
  it(`takes ${CONNECTION_INPUTS + STREAM_INPUTS} malformed inputs without a crash, and keeps fds and memory bounded`, async (t) => {
    const seed = fuzzSeed("sandbox-api");
    const r = new Prng(seed);
    const d = await fuzzDaemon(t);
    const api = new GrpcClient(d.listen, { namespace: "fuzz" });
    t.after(() => api.close());
    // Warm up (the first calls load code) before measuring.
    await assert.rejects(api.service(Controller).status({ sandboxId: "warm" }), { code: Code.NotFound });
    const before = footprint(d.pid);

    // Junk at the connection level, each input on its own connection.
    await inParallel(CONNECTION_INPUTS, 32, () => oneShot(d.listen, connectionInput(r), { graceMs: 300 }));

    // Stalled peers that never close: the server has to.
    const stalled: Socket[] = [];
    for (let i = 0; i < 50; i++) {
      const s = connect(d.listen);
      s.on("error", () => {});
      s.resume();
      s.write(Buffer.concat([PREFACE, SETTINGS, frame(1, 4, 1, Buffer.alloc(100)).subarray(0, 20)]));
      stalled.push(s);
    }

    // Garbage protobuf (and bad headers) in otherwise valid calls, many streams per connection.
    let answered = 0;
    const firstHalf: number[] = [];
    const secondHalf: number[] = [];
    for (let batch = 0; batch < STREAM_INPUTS; batch += 2000) {
      const session = http2.connect("http://localhost", { createConnection: () => connect(d.listen) });
      session.on("error", () => {});
      await inParallel(Math.min(2000, STREAM_INPUTS - batch), 64, (i) => {
        // Every method (and a few unknown paths) in turn, each with fresh junk.
        const headers: http2.OutgoingHttpHeaders = { ":method": "POST", ":path": paths[(batch + i) % paths.length]!, "content-type": r.chance(0.95) ? "application/grpc" : "text/plain", te: "trailers", "containerd-namespace": "fuzz" };
        const timeout = r.pick(timeouts);
        if (timeout) headers["grpc-timeout"] = timeout;
        if (r.chance(0.05)) headers["grpc-encoding"] = r.pick(["gzip", "zzz"]);
        return new Promise<void>((resolve) => {
          if (session.closed || session.destroyed) return resolve();
          const st = session.request(headers);
          st.on("response", () => answered++);
          st.on("error", () => {});
          st.on("data", () => {});
          st.once("close", () => resolve());
          st.end(grpcBody(r));
        });
      });
      session.destroy();
      (batch + 2000 <= STREAM_INPUTS / 2 ? firstHalf : secondHalf).push(footprint(d.pid).rssKiB);
    }
    assert.ok(answered > STREAM_INPUTS / 2, `most garbage calls got an answer (${answered})`);

    // Still alive and serving, nothing kept for the clients that went.
    assert.equal(footprint(d.pid).fds > 0, true, "the daemon is alive");
    await assert.rejects(api.service(Controller).status({ sandboxId: "after" }, { timeoutMs: 5000 }), { code: Code.NotFound });
    await assertFootprintBounded("sandbox-api", d.pid, before, firstHalf, secondHalf);
    assert.ok(stalled.every((s) => s.destroyed || s.readableEnded), "the server closed every stalled peer");
    for (const s of stalled) s.destroy();
  });
});
