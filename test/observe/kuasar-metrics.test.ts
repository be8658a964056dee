import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "../../src/errors/code.js";
import { KuasarMetrics } from "../../src/observe/kuasar-metrics.js";
import { parseListenAddress } from "../../src/observe/listen-address.js";
import { announcePhase } from "../../src/diagnostics/pod-phase-channel.js";
import { announceCall } from "../../src/diagnostics/rpc-call-channel.js";
import type { CgroupStats } from "../../src/task/task-backend.js";
import { mapSandboxer } from "../sandbox/map-sandboxer.js";

/** The value of one sample line (`name{labels} value`), or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (!rest.startsWith("{") && !rest.startsWith(" ")) continue;
    if (!Object.entries(labels).every(([k, v]) => rest.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

const stats = (memory: bigint, cpuNs: bigint): CgroupStats => ({ version: 2, cpuUsageNs: cpuNs, cpuUserNs: 0n, cpuSystemNs: 0n, memoryUsageBytes: memory, memoryLimitBytes: 0n, pidsCurrent: 1n, pidsLimit: 0n });

function fixture() {
  const runc = mapSandboxer("runc");
  runc.metrics = async (id) => (id === "p1" ? stats(3n << 20n, 2_500_000_000n) : Promise.reject(new Error("no cgroup")));
  const wasm = mapSandboxer("wasm");
  const endpoint = { connections: 3, pendingCalls: 1, relayGeneration: 2, backendConnected: true };
  const metrics = new KuasarMetrics({ sandboxers: new Map([["runc", runc], ["wasm", wasm]]), endpoint: async () => endpoint });
  return { runc, wasm, metrics };
}

const req = (id: string) => ({ id, namespace: "k8s.io", netnsPath: "", pod: undefined, annotations: {}, labels: {}, standalone: false });

describe("kuasar metrics registry", () => {
  it("counts pods by kind and state, and reads ready sandboxes' cgroups on scrape", async () => {
    const { runc, metrics } = fixture();
    try {
      await runc.create(req("p1"));
      await runc.create(req("p2"));
      await runc.start("p1");
      let text = await metrics.scrape();
      assert.equal(sample(text, "kuasar_pods", { kind: "runc", state: "ready" }), 1);
      assert.equal(sample(text, "kuasar_pods", { kind: "runc", state: "created" }), 1);
      assert.equal(sample(text, "kuasar_pods", { kind: "wasm", state: "ready" }), 0);
      assert.equal(sample(text, "kuasar_sandbox_memory_usage_bytes", { sandbox_id: "p1", kind: "runc" }), 3 << 20);
      assert.equal(sample(text, "kuasar_sandbox_cpu_usage_seconds_total", { sandbox_id: "p1" }), 2.5);
      assert.equal(sample(text, "kuasar_sandbox_memory_usage_bytes", { sandbox_id: "p2" }), undefined, "a sandbox not ready has no sample");
      await runc.stop("p1", 0);
      await runc.shutdown("p1");
      text = await metrics.scrape();
      assert.equal(sample(text, "kuasar_pods", { kind: "runc", state: "ready" }), 0);
      assert.equal(sample(text, "kuasar_sandbox_memory_usage_bytes", { sandbox_id: "p1" }), undefined, "a removed sandbox's series goes");
    } finally {
      metrics.close();
    }
  });

  it("counts RPCs per API, method and code, with errors and a latency histogram", async () => {
    const { metrics } = fixture();
    try {
      announceCall("sandbox", "containerd.services.sandbox.v1.Controller", "Create", new Map())?.(Code.OK);
      announceCall("sandbox", "containerd.services.sandbox.v1.Controller", "Create", new Map())?.(Code.AlreadyExists);
      announceCall("task", "containerd.task.v3.Task", "Start", new Map())?.(Code.OK);
      const text = await metrics.scrape();
      assert.equal(sample(text, "kuasar_rpc_requests_total", { api: "sandbox", method: "Create", code: "OK" }), 1);
      assert.equal(sample(text, "kuasar_rpc_requests_total", { api: "sandbox", method: "Create", code: "AlreadyExists" }), 1);
      assert.equal(sample(text, "kuasar_rpc_errors_total", { api: "sandbox", method: "Create" }), 1);
      assert.equal(sample(text, "kuasar_rpc_errors_total", { api: "task", method: "Start" }), undefined);
      assert.equal(sample(text, "kuasar_rpc_duration_seconds_count", { api: "task", method: "Start" }), 1);
    } finally {
      metrics.close();
    }
    assert.equal(announceCall("task", "s", "m", new Map()), undefined, "nobody listens once closed");
  });

  it("observes pod phases, the daemon's process and the endpoint", async () => {
    const { metrics } = fixture();
    try {
      announcePhase("vmm", "start", process.hrtime.bigint() - 2_000_000_000n, true);
      announcePhase("vmm", "start.holder", process.hrtime.bigint(), false);
      const text = await metrics.scrape();
      assert.equal(sample(text, "kuasar_pod_phase_duration_seconds_count", { kind: "vmm", phase: "start", result: "ok" }), 1);
      assert.equal(sample(text, "kuasar_pod_phase_duration_seconds_bucket", { kind: "vmm", phase: "start", le: "1" }), 0);
      assert.equal(sample(text, "kuasar_pod_phase_duration_seconds_bucket", { kind: "vmm", phase: "start", le: "2.5" }), 1);
      assert.equal(sample(text, "kuasar_pod_phase_duration_seconds_count", { phase: "start.holder", result: "error" }), 1);
      assert.ok((sample(text, "kuasar_daemon_process_resident_memory_bytes") ?? 0) > 1 << 20);
      assert.ok((sample(text, "kuasar_daemon_process_open_fds") ?? 0) > 2);
      assert.ok(sample(text, "kuasar_daemon_nodejs_eventloop_lag_seconds") !== undefined);
      assert.equal(sample(text, "kuasar_endpoint_connections"), 3);
      assert.equal(sample(text, "kuasar_endpoint_relays_started"), 2);
      assert.equal(sample(text, "kuasar_endpoint_up"), 1);
    } finally {
      metrics.close();
    }
  });
});

describe("metrics_address", () => {
  it("takes host:port and [v6]:port, refuses the rest", () => {
    assert.deepEqual(parseListenAddress("127.0.0.1:9325"), { host: "127.0.0.1", port: 9325 });
    assert.deepEqual(parseListenAddress("[::1]:0"), { host: "::1", port: 0 });
    assert.deepEqual(parseListenAddress("localhost:80"), { host: "localhost", port: 80 });
    for (const bad of ["9325", ":9325", "127.0.0.1:99999", "127.0.0.1:x", "a b:1", ""]) assert.throws(() => parseListenAddress(bad), /want host:port/, bad);
  });
});
