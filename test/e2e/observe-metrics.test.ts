import assert from "node:assert/strict";
import { get } from "node:http";
import { join } from "node:path";
import { describe, it } from "node:test";
import { isErrorCode } from "../../src/errors/runtime-error.js";
import { Code } from "../../src/errors/code.js";
import { Controller } from "../../src/gen/containerd/services/sandbox/v1/sandbox_pb.js";
import { GrpcClient } from "../../src/grpc/client.js";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd2WithKuasar, HANDLER } from "../../testing/kuasar-containerd2.js";
import { censusDiff, takeCensus } from "../../testing/leak-census.js";
import { startOtlpReceiver } from "../../testing/otlp-receiver.js";
import { HTTPD_SERVER, podScenario, warmUpPod } from "../../testing/pod-scenario.js";
import { eventually } from "../fuzz/fuzz-kit.js";

assertIsolated();

/** GET on the metrics port, on a connection of its own (closed after: the census counts the daemon's fds). */
function httpGet(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    }).on("error", reject);
  });
}

/** The value of the sample `name` whose labels include `labels`; undefined when there is none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return undefined;
}

interface LogLine {
  msg: string;
  level: string;
  sandbox_id?: string;
  kind?: string;
  duration_ms?: number;
  metrics_address?: string;
  log_level?: string;
}
const lines = (text: string): LogLine[] => text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as LogLine);

describe("observing kuasard on containerd 2.x: metrics, tracing, lifecycle logs, SIGUSR1", () => {
  it("the pod scenario moves the Prometheus series, sends OTLP spans (parented on traceparent), logs each lifecycle event, and SIGUSR1 toggles debug", async (t) => {
    const otlp = await startOtlpReceiver();
    t.after(() => otlp.close());
    const env = await containerd2WithKuasar(t, ["runc"], `\n[tracing]\notlp_endpoint = "${otlp.url}"\n`, { topConfig: `metrics_address = "127.0.0.1:0"` });
    const served = lines(env.sandboxer.logs()).find((l) => l.msg === "serving Prometheus metrics");
    assert.ok(served?.metrics_address, "the daemon says where it serves metrics");
    const port = Number(served.metrics_address.split(":").pop());
    const scrape = async () => {
      const r = await httpGet(port, "/metrics");
      assert.equal(r.status, 200);
      return r.body;
    };
    assert.equal((await httpGet(port, "/other")).status, 404);

    await warmUpPod(env.cri, HANDLER, join(env.dir, "logs"));
    const before = await scrape();
    assert.equal(sample(before, "kuasar_pods", { kind: "runc", state: "ready" }), 0);
    const createsBefore = sample(before, "kuasar_rpc_requests_total", { api: "sandbox", method: "Create", code: "OK" }) ?? 0;
    const startsBefore = sample(before, "kuasar_pod_phase_duration_seconds_count", { kind: "runc", phase: "start", result: "ok" }) ?? 0;
    assert.equal(createsBefore, 1, "the warm-up pod's Create was counted");
    // The exporter's one connection to the receiver is open before the baseline (kept alive by it).
    assert.ok(await eventually(() => otlp.spans.some((sp) => sp.name === "containerd.services.sandbox.v1.Controller/Shutdown"), 15_000), "the warm-up pod's spans arrived");
    const census = { fdPids: [env.sandboxer.pid], dirs: [env.sandboxerDir], ignorePids: [env.sandboxer.pid, env.containerd.pid] };
    const baseline = takeCensus(census);

    const pod = await podScenario({
      cri: env.cri,
      handler: HANDLER,
      name: "observed",
      logDir: join(env.dir, "logs", "observed"),
      server: HTTPD_SERVER,
      whileRunning: async ({ podId, clientId }) => {
        const during = await scrape();
        assert.equal(sample(during, "kuasar_pods", { kind: "runc", state: "ready" }), 1);
        assert.equal(sample(during, "kuasar_containers", { kind: "runc", state: "running" }), 2);
        assert.ok((sample(during, "kuasar_sandbox_memory_usage_bytes", { kind: "runc", sandbox_id: podId }) ?? 0) > 0, "the pod's memory, from its containers' cgroups");
        assert.ok((sample(during, "kuasar_sandbox_cpu_usage_seconds_total", { sandbox_id: podId }) ?? -1) >= 0);
        assert.ok((sample(during, "kuasar_rpc_requests_total", { api: "task", method: "Create", code: "OK" }) ?? 0) >= 3, "task Creates: warm-up's and both containers'");
        assert.ok((sample(during, "kuasar_rpc_requests_total", { api: "task", method: "Exec", code: "OK" }) ?? 0) >= 2, "the ExecSyncs");
        assert.ok((sample(during, "kuasar_rpc_duration_seconds_count", { api: "task", method: "Start" }) ?? 0) >= 3);
        assert.equal(sample(during, "kuasar_endpoint_up"), 1);
        assert.ok((sample(during, "kuasar_endpoint_connections") ?? 0) >= 1, "containerd's task connection, held by the endpoint");
        assert.ok((sample(during, "kuasar_daemon_process_resident_memory_bytes") ?? 0) > 10 << 20);
        assert.ok((sample(during, "kuasar_daemon_process_open_fds") ?? 0) > 5);

        // SIGUSR1: the daemon runs at debug here; the first toggle quiets it, the second brings debug back.
        const switches = () => lines(env.sandboxer.logs()).filter((l) => l.msg === "log level switched (SIGUSR1)");
        const debugAfterSwitch = () => {
          const all = lines(env.sandboxer.logs());
          const at = all.map((l) => l.msg).lastIndexOf("log level switched (SIGUSR1)");
          return all.slice(at + 1).filter((l) => l.level === "debug").length;
        };
        process.kill(env.sandboxer.pid, "SIGUSR1");
        assert.ok(await eventually(() => switches().length === 1, 10_000));
        assert.equal(switches()[0]!.log_level, "info");
        await env.cri.runtime.execSync({ containerId: clientId, cmd: ["true"], timeout: 10n });
        assert.equal(debugAfterSwitch(), 0, "no debug line once switched to info");
        process.kill(env.sandboxer.pid, "SIGUSR1");
        assert.ok(await eventually(() => switches().length === 2, 10_000));
        assert.equal(switches()[1]!.log_level, "debug");
        await env.cri.runtime.execSync({ containerId: clientId, cmd: ["true"], timeout: 10n });
        assert.ok(await eventually(() => debugAfterSwitch() > 0, 10_000), "debug lines again after the second SIGUSR1");
      },
    });

    const after = await scrape();
    assert.equal(sample(after, "kuasar_pods", { kind: "runc", state: "ready" }), 0);
    assert.equal(sample(after, "kuasar_sandbox_memory_usage_bytes", { sandbox_id: pod.podId }), undefined, "a removed pod has no series");
    assert.equal(sample(after, "kuasar_rpc_requests_total", { api: "sandbox", method: "Create", code: "OK" }), createsBefore + 1);
    assert.equal(sample(after, "kuasar_pod_phase_duration_seconds_count", { kind: "runc", phase: "start", result: "ok" }), startsBefore + 1);
    assert.equal(sample(after, "kuasar_pod_phase_duration_seconds_count", { kind: "runc", phase: "start.holder", result: "ok" }), startsBefore + 1);
    assert.ok((sample(after, "kuasar_pod_phase_duration_seconds_count", { kind: "runc", phase: "remove", result: "ok" }) ?? 0) >= 2);
    assert.ok((sample(after, "kuasar_rpc_requests_total", { api: "task", method: "Delete", code: "OK" }) ?? 0) >= 2);
    // The daemon closes a scrape's connection when the client's FIN arrives, after the response did.
    await eventually(() => Object.keys(censusDiff(baseline, takeCensus(census))).length === 0, 10_000);
    assert.deepEqual(censusDiff(baseline, takeCensus(census)), {}, "scrapes and the scenario leave nothing behind");

    // One info line per lifecycle event, with its kind and duration.
    const events = lines(env.sandboxer.logs()).filter((l) => l.sandbox_id === pod.podId && l.level === "info" && /^pod (created|started|stopped|removed)$/.test(l.msg));
    assert.deepEqual([...new Set(events.map((e) => e.msg))].sort(), ["pod created", "pod removed", "pod started", "pod stopped"]);
    for (const e of events) assert.ok(e.kind === "runc" && typeof e.duration_ms === "number" && e.duration_ms >= 0, JSON.stringify(e));

    // Tracing: a call carrying traceparent is a child span of the caller's; the pod's calls are spans too.
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parentId = "00f067aa0ba902b7";
    const api = new GrpcClient(env.listen, { namespace: "k8s.io" });
    t.after(() => api.close());
    await assert.rejects(api.service(Controller).status({ sandboxId: "no-such-pod" }, { metadata: { traceparent: `00-${traceId}-${parentId}-01` } }), (e: unknown) => isErrorCode(e, Code.NotFound));
    assert.ok(await eventually(() => otlp.spans.some((s) => s.traceId === traceId), 15_000), "the span arrived at the OTLP receiver");
    const span = otlp.spans.find((s) => s.traceId === traceId)!;
    assert.equal(span.name, "containerd.services.sandbox.v1.Controller/Status");
    assert.equal(span.parentSpanId, parentId);
    assert.equal(span.service, "kuasard");
    assert.equal(span.kind, 2, "SPAN_KIND_SERVER");
    assert.equal(span.statusCode, 2, "an error status for NotFound");
    assert.equal(span.attributes["rpc.system"], "grpc");
    assert.equal(span.attributes["rpc.grpc.status_code"], Code.NotFound);
    const names = new Set(otlp.spans.map((s) => s.name));
    for (const n of ["containerd.services.sandbox.v1.Controller/Create", "containerd.services.sandbox.v1.Controller/Start", "containerd.task.v3.Task/Create", "containerd.task.v3.Task/Exec"]) assert.ok(names.has(n), `span ${n} (got ${[...names].join(", ")})`);
    assert.equal(otlp.spans.find((s) => s.name === "containerd.task.v3.Task/Create")?.attributes["rpc.system"], "ttrpc");
  });
});
