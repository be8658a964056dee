import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import { fromBinary } from "@bufbuild/protobuf";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { EventForwarder } from "../../src/containerd/event-forwarder.js";
import { Code } from "../../src/errors/code.js";
import { RuntimeError } from "../../src/errors/runtime-error.js";
import { TaskExitSchema } from "../../src/gen/containerd/events/task_pb.js";
import { Events, type Envelope } from "../../src/gen/containerd/services/events/ttrpc/v1/events_pb.js";
import { silentLogger } from "../../src/log/logger.js";
import { TtrpcServer } from "../../src/ttrpc/server.js";
import { ManualClock } from "../../testing/manual-clock.js";
import { serveService } from "../../src/ttrpc/service.js";

/** A stand-in for containerd's ttrpc events endpoint that records what it is sent. */
async function fakeContainerd(t: TestContext, path: string, reject?: (e: Envelope) => RuntimeError | undefined) {
  const got: { envelope: Envelope; namespace: string | undefined }[] = [];
  const arrivals = new EventEmitter();
  const server = new TtrpcServer();
  serveService(server, Events, {
    forward: async (req, ctx) => {
      const err = reject?.(req.envelope!);
      if (err) throw err;
      got.push({ envelope: req.envelope!, namespace: ctx.metadata.get("containerd-namespace-ttrpc")?.[0] });
      arrivals.emit("got");
      return {};
    },
  });
  await server.listen(path);
  t.after(() => server.destroy());
  /** Resolves once `n` events arrived. */
  const received = async (n: number) => {
    while (got.length < n) await once(arrivals, "got");
  };
  return { server, got, received };
}

function tmpSocket(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), "events-test-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, "containerd.sock.ttrpc");
}

const exit = (id: string, status: number) =>
  ({ kind: "exit", containerId: "c1", id, pid: 100, exitStatus: status, exitedAt: new Date(1_700_000_000_123) }) as const;

describe("EventForwarder", () => {
  it("forwards in order, with bare type urls, the topic, the namespace and a timestamp", async (t) => {
    const path = tmpSocket(t);
    const { got } = await fakeContainerd(t, path);
    const fwd = new EventForwarder({ address: path }, silentLogger());
    fwd.publish("k8s.io", exit("exec1", 1));
    fwd.publish("k8s.io", exit("c1", 137));
    fwd.publish("default", { kind: "oom", containerId: "c1" });
    await fwd.close();
    assert.deepEqual(
      got.map((g) => [g.envelope.topic, g.envelope.event!.typeUrl, g.envelope.namespace, g.namespace]),
      [
        ["/tasks/exit", "containerd.events.TaskExit", "k8s.io", "k8s.io"],
        ["/tasks/exit", "containerd.events.TaskExit", "k8s.io", "k8s.io"],
        ["/tasks/oom", "containerd.events.TaskOOM", "default", "default"],
      ],
    );
    const ev = fromBinary(TaskExitSchema, got[1]!.envelope.event!.value);
    assert.equal(ev.id, "c1");
    assert.equal(ev.exitStatus, 137);
    assert.equal(ev.exitedAt!.seconds, 1_700_000_000n);
    assert.equal(ev.exitedAt!.nanos, 123_000_000);
    assert.ok(got[0]!.envelope.timestamp!.seconds > 0n);
  });

  it("re-dials and delivers what was queued while containerd was away", async (t) => {
    const path = tmpSocket(t);
    const first = await fakeContainerd(t, path);
    const clock = new ManualClock();
    const fwd = new EventForwarder({ address: path, backoffMs: 1000, maxAttempts: 50 }, silentLogger(), clock);
    fwd.publish("ns", exit("c1", 1));
    await first.received(1);
    await first.server.destroy();
    fwd.publish("ns", exit("c1", 2));
    await clock.waiting(); // the attempt on the dead connection failed: backing off
    const second = await fakeContainerd(t, path);
    assert.equal(second.got.length, 0, "nothing is retried before the back-off is over");
    clock.advance(1000);
    await second.received(1);
    await fwd.close();
    assert.deepEqual(second.got.map((g) => fromBinary(TaskExitSchema, g.envelope.event!.value).exitStatus), [2]);
  });

  it("drops an event containerd rejects as invalid and keeps going", async (t) => {
    const path = tmpSocket(t);
    const { got } = await fakeContainerd(t, path, (e) =>
      e.topic === "/tasks/oom" ? new RuntimeError(Code.InvalidArgument, "bad topic") : undefined,
    );
    const fwd = new EventForwarder({ address: path, backoffMs: 1 }, silentLogger());
    fwd.publish("ns", { kind: "oom", containerId: "c1" });
    fwd.publish("ns", exit("c1", 3));
    await fwd.close();
    assert.deepEqual(got.map((g) => g.envelope.topic), ["/tasks/exit"]);
  });

  it("gives up after maxAttempts when containerd is unreachable", async (t) => {
    const path = tmpSocket(t);
    const fwd = new EventForwarder({ address: path, backoffMs: 1, maxAttempts: 3 }, silentLogger());
    fwd.publish("ns", exit("c1", 4));
    await fwd.close();
    assert.equal(fwd.pending, 0);
  });
});
