import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { describe, it } from "node:test";
import { ROUTE_KEY, taskRoute } from "../../src/endpoint/route.js";
import { isErrorCode } from "../../src/errors/runtime-error.js";
import { Code } from "../../src/errors/code.js";
import { Task } from "../../src/gen/containerd/task/v2/shim_pb.js";
import { TtrpcClient } from "../../src/ttrpc/client.js";
import { encodeFrame, MAX_DATA_LENGTH, MessageType } from "../../src/ttrpc/frame.js";
import { encodeRequest } from "../../src/ttrpc/messages.js";
import { metadataFrom } from "../../src/ttrpc/metadata.js";
import { TASK_SERVICE_V2, TASK_SERVICE_V3 } from "../../src/task/task-service.js";
import { assertIsolated } from "../../testing/isolation.js";
import { assertFootprintBounded, fuzzDaemon, FUZZ_LIMITS } from "./fuzz-daemon.js";
import { eventually, footprint, fuzzSeed, inParallel, oneShot, Prng } from "./fuzz-kit.js";

assertIsolated();

const CONNECTION_INPUTS = 6000;
const CALL_INPUTS = 34_000;

const methods = Task.methods.map((m) => m.name);
const services = [TASK_SERVICE_V2, TASK_SERVICE_V3];
const routed = metadataFrom([
  [ROUTE_KEY, taskRoute("runc")],
  ["containerd-namespace-ttrpc", "fuzz"],
]);

function requestFrame(r: Prng, id: number): Buffer {
  const payload = encodeRequest({ service: r.pick(services), method: r.pick(methods), payload: r.junk(256), metadata: [{ key: ROUTE_KEY, value: taskRoute("runc") }] });
  return encodeFrame(id, MessageType.Request, 0, payload);
}

/** One connection-level malformed input. */
function connectionInput(r: Prng): Buffer {
  switch (r.int(6)) {
    case 0:
      return r.junk(2048);
    case 1: {
      // Oversize header: the server must refuse it from the header alone.
      const h = Buffer.alloc(10);
      h.writeUInt32BE(MAX_DATA_LENGTH + 1 + r.int(0x7fffffff), 0);
      h.writeUInt32BE(1 + 2 * r.int(100), 4);
      h[8] = r.int(4);
      return Buffer.concat([h, r.junk(64)]);
    }
    case 2: {
      const f = requestFrame(r, 1);
      return f.subarray(0, r.int(f.length));
    }
    case 3:
      // A frame whose envelope is not a Request message.
      return encodeFrame(1 + 2 * r.int(8), MessageType.Request, r.u32() & 0xff, r.junk(200));
    case 4:
      // Stream ids out of order, even, reused; unknown types and Data frames.
      return Buffer.concat([requestFrame(r, 5), requestFrame(r, 3), requestFrame(r, 4), encodeFrame(7, r.pick([0, 3, 4, 200]), r.u32() & 0xff, r.junk(32)), requestFrame(r, 5)]);
    default:
      return r.mutate(Buffer.concat([requestFrame(r, 1), requestFrame(r, 3)]));
  }
}

describe("fuzz: kuasard's internal ttrpc socket", { timeout: 120_000 }, () => {
  it(`takes ${CONNECTION_INPUTS + CALL_INPUTS} malformed inputs and a connection flood without a crash or dropping kuasar-endpoint`, async (t) => {
    const seed = fuzzSeed("internal-ttrpc");
    const r = new Prng(seed);
    const d = await fuzzDaemon(t);
    const viaEndpoint = await TtrpcClient.connect(`unix://${d.task}`);
    t.after(() => viaEndpoint.destroy());
    const stateOfNothing = () =>
      viaEndpoint.call(TASK_SERVICE_V3, "State", new Uint8Array([0x0a, 4, 0x6e, 0x6f, 0x70, 0x65]), { timeoutMs: 5000, metadata: metadataFrom([["containerd-namespace-ttrpc", "fuzz"]]) }).then(
        () => "ok",
        (err: unknown) => (isErrorCode(err, Code.NotFound) ? "NotFound" : String(err)),
      );
    assert.equal(await stateOfNothing(), "NotFound", "calls reach kuasard through the endpoint");
    const before = footprint(d.pid);

    await inParallel(CONNECTION_INPUTS, 32, () => oneShot(d.internal, connectionInput(r), { graceMs: 300 }));

    // A flood past the connection limit, idle and stalled ones: kuasard keeps the endpoint's.
    const flood: Socket[] = [];
    for (let i = 0; i < FUZZ_LIMITS.maxConnections + 50; i++) {
      const s = connect(d.internal);
      s.on("error", () => {});
      s.resume();
      if (i % 2 === 0) s.write(requestFrame(r, 1).subarray(0, 7));
      flood.push(s);
    }
    assert.equal(await stateOfNothing(), "NotFound", "the endpoint's connection is served during the flood");
    assert.ok(await eventually(() => flood.every((s) => s.destroyed || s.readableEnded), 15_000), "every flooding connection was closed by a bound");
    for (const s of flood) s.destroy();

    // Valid frames with garbage protobuf for every Task API method, pipelined on a few connections.
    const firstHalf: number[] = [];
    const secondHalf: number[] = [];
    let answered = 0;
    for (let batch = 0; batch < CALL_INPUTS; batch += 4000) {
      const client = await TtrpcClient.connect(`unix://${d.internal}`);
      await inParallel(Math.min(4000, CALL_INPUTS - batch), 64, async (i) => {
        // Every method of both service versions in turn, each with fresh junk.
        const k = batch + i;
        await client
          .call(services[k % 2]!, methods[Math.floor(k / 2) % methods.length]!, r.junk(512), { metadata: routed, timeoutMs: r.chance(0.1) ? 1 + r.int(20) : undefined })
          .then(
            () => answered++,
            (err: unknown) => {
              if (!isErrorCode(err, Code.Unavailable)) answered++;
            },
          );
      });
      client.destroy();
      (batch + 4000 <= CALL_INPUTS / 2 ? firstHalf : secondHalf).push(footprint(d.pid).rssKiB);
    }
    assert.ok(answered > CALL_INPUTS * 0.9, `garbage calls were answered (${answered})`);

    assert.equal(await stateOfNothing(), "NotFound", "calls still reach kuasard through the endpoint");
    // Every connection a bound closed was judged first: none of them was the endpoint's.
    const judged = d
      .logs()
      .split("\n")
      .filter((l) => l.includes("a connection from outside kuasar-endpoint is bounded"))
      .map((l) => (JSON.parse(l) as { peer_pid: number | null }).peer_pid);
    assert.ok(judged.length > 0, "the flood was judged");
    assert.deepEqual(judged.filter((p) => p === d.endpointPid || p === d.custodyPid), [], "no endpoint connection was ever bounded");
    await assertFootprintBounded("internal-ttrpc", d.pid, before, firstHalf, secondHalf);
  });
});
