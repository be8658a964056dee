import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "../../src/errors/code.js";
import { isErrorCode } from "../../src/errors/runtime-error.js";
import { Controller as UpstreamController } from "../../src/gen/containerd/services/sandbox/v1/sandbox_pb.js";
import { PodSandboxConfigSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { Controller } from "../../src/gen/kuasar_io/containerd/services/sandbox/v1/sandbox_pb.js";
import { GrpcServer } from "../../src/grpc/server.js";
import { KUASAR_IO_CONTROLLER_SERVICE, kuasarIoControllerServiceImpl, kuasarIoTaskAddress } from "../../src/sandbox/kuasar-io-controller-service.js";
import { OCI_SPEC_URL } from "../../src/sandbox/sandbox-update.js";
import { PreparedBundles } from "../../src/sandbox/prepared-bundles.js";
import type { TaskBackend } from "../../src/task/task-backend.js";
import { OCI_RESOURCES_URL } from "../../src/task/task-service.js";
import { clientOf, tempDir } from "../grpc/helpers.js";
import { mapSandboxer } from "./map-sandboxer.js";
import type { SandboxUpdate } from "../../src/sandbox/sandboxer.js";

const TASK_ADDRESS = "ttrpc+unix:///run/kuasar-runc/task.sock";

/** A sandboxer keeping sandboxes in a map, with a task backend that records updates and knows one live task. */
function fakeSandboxer() {
  const liveTasks = new Set<string>();
  const updates: { id: string; resources: unknown; annotations: Record<string, string> }[] = [];
  const podUpdates: { id: string; change: SandboxUpdate }[] = [];
  const tasks = {
    has: (id: string) => liveTasks.has(id),
    async update(id: string, resources: unknown, annotations: Record<string, string>) {
      updates.push({ id, resources, annotations });
    },
  } as unknown as TaskBackend;
  const sandboxer = mapSandboxer("fake", {
    tasks,
    // The fork's API has no Update: only its pod-level UpdateResources comes here.
    update: async (id, change) => {
      podUpdates.push({ id, change });
    },
    status: (s) => ({ ...s, pid: 4242, createdAt: new Date(1000), taskAddress: TASK_ADDRESS, taskApiVersion: 3, info: { kind: "fake" } }),
  });
  return { sandboxer, sandboxes: sandboxer.sandboxes, liveTasks, updates, podUpdates };
}

/** The fork's API served as kuasard serves it (under upstream's wire name), and a client speaking it. */
async function fixture(t: TestContext) {
  const dir = tempDir(t, "kuasar-io-");
  const fake = fakeSandboxer();
  const bundlesDir = join(dir, "bundles");
  const server = new GrpcServer();
  server.register(Controller, kuasarIoControllerServiceImpl(fake.sandboxer, new PreparedBundles(bundlesDir), "default"), KUASAR_IO_CONTROLLER_SERVICE);
  const path = join(dir, "s.sock");
  await server.listen(path);
  t.after(() => server.destroy());
  const client = clientOf(t, path);
  return { ...fake, bundlesDir, path, client, api: client.service(Controller, KUASAR_IO_CONTROLLER_SERVICE) };
}

const podOptions = () => ({
  typeUrl: "runtime.v1.PodSandboxConfig",
  value: toBinary(PodSandboxConfigSchema, create(PodSandboxConfigSchema, { metadata: { name: "web", namespace: "default", uid: "u1" }, annotations: { a: "b" } })),
});
const json = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
const rejectsWith = (p: Promise<unknown>, code: Code, re?: RegExp) =>
  assert.rejects(p, (e: unknown) => isErrorCode(e, code) && (!re || re.test((e as Error).message)));

describe("the kuasar-io fork's Sandbox API", () => {
  it("reads the fork's field numbers on the upstream wire name: Create, Start and Status with the task address as the fork dials it", async (t) => {
    const f = await fixture(t);
    await f.api.create({ sandboxId: "p1", options: podOptions(), netnsPath: "/var/run/netns/x" }, { namespace: "k8s.io" });
    const req = f.sandboxes.get("p1")?.req;
    assert.equal(req?.namespace, "k8s.io");
    assert.equal(req?.netnsPath, "/var/run/netns/x");
    assert.equal(req?.pod?.name, "web");
    assert.deepEqual(req?.annotations, { a: "b" });
    const started = await f.api.start({ sandboxId: "p1" });
    assert.equal(started.taskAddress, "unix:///run/kuasar-runc/task.sock");
    const st = await f.api.status({ sandboxId: "p1", verbose: true });
    assert.deepEqual([st.state, st.taskAddress, st.pid, st.info["kind"]], ["SANDBOX_READY", "unix:///run/kuasar-runc/task.sock", 4242, "fake"]);
    // An upstream-numbered Status lands its sandbox_id in the fork's `sandboxer` field: the socket's API is configured, never guessed.
    await rejectsWith(f.client.service(UpstreamController).status({ sandboxId: "p1" }), Code.InvalidArgument);
  });

  it("Prepare makes the container's bundle (spec and pod), Purge removes it once the task is gone, Shutdown removes the pod's", async (t) => {
    const f = await fixture(t);
    await f.api.create({ sandboxId: "p1", options: podOptions() });
    const spec = { ociVersion: "1.1.0", process: { args: ["sh"] }, annotations: { "io.kubernetes.cri.sandbox-id": "p1" } };
    const { bundle } = await f.api.prepare({ sandboxId: "p1", containerId: "c1", spec: { typeUrl: OCI_SPEC_URL, value: json(spec) }, stdout: "/fifo/out" });
    assert.equal(bundle, join(f.bundlesDir, "p1", "c1"));
    assert.deepEqual(JSON.parse(readFileSync(join(bundle, "config.json"), "utf8")), spec);
    assert.equal(readFileSync(join(bundle, "sandbox"), "utf8"), "p1");
    // An exec needs nothing made: the container's bundle is the answer.
    assert.equal((await f.api.prepare({ sandboxId: "p1", containerId: "c1", execId: "e1" })).bundle, bundle);

    f.liveTasks.add("c1");
    await rejectsWith(f.api.purge({ sandboxId: "p1", containerId: "c1" }), Code.FailedPrecondition, /still has a task/);
    assert.ok(existsSync(bundle), "a refused Purge loses nothing");
    f.liveTasks.delete("c1");
    await f.api.purge({ sandboxId: "p1", containerId: "c1" });
    assert.ok(!existsSync(bundle));

    await f.api.prepare({ sandboxId: "p1", containerId: "c2", spec: { typeUrl: OCI_SPEC_URL, value: json(spec) } });
    await f.api.stop({ sandboxId: "p1" });
    await f.api.shutdown({ sandboxId: "p1" });
    assert.ok(!existsSync(join(f.bundlesDir, "p1")));
  });

  it("refuses a Prepare it cannot honour, making nothing", async (t) => {
    const f = await fixture(t);
    await rejectsWith(f.api.prepare({ sandboxId: "nope", containerId: "c1", spec: { typeUrl: OCI_SPEC_URL, value: json({}) } }), Code.NotFound);
    await f.api.create({ sandboxId: "p1" });
    await rejectsWith(f.api.prepare({ sandboxId: "p1", containerId: "c1" }), Code.InvalidArgument, /spec is required/);
    await rejectsWith(f.api.prepare({ sandboxId: "p1", containerId: "c1", spec: { typeUrl: "x/Other", value: json({}) } }), Code.InvalidArgument, /unexpected type/);
    await rejectsWith(f.api.prepare({ sandboxId: "p1", containerId: "c1", spec: { typeUrl: OCI_SPEC_URL, value: json([1]) } }), Code.InvalidArgument, /JSON object/);
    await rejectsWith(f.api.prepare({ sandboxId: "p1", containerId: "../x", spec: { typeUrl: OCI_SPEC_URL, value: json({}) } }), Code.InvalidArgument);
    await rejectsWith(f.api.prepare({ sandboxId: "p1", containerId: "c1", execId: "e1" }), Code.NotFound, /no bundle/);
    assert.ok(!existsSync(join(f.bundlesDir, "p1", "c1")));
  });

  it("UpdateResources updates a container through the Task API backend, and the pod's cgroup through the sandboxer without a container", async (t) => {
    const f = await fixture(t);
    await f.api.create({ sandboxId: "p1" });
    const resources = { memory: { limit: 64 << 20 } };
    await f.api.updateResources({ sandboxId: "p1", containerId: "c1", resources: { typeUrl: OCI_RESOURCES_URL, value: json(resources) }, annotations: { k: "v" } });
    assert.deepEqual(f.updates, [{ id: "c1", resources, annotations: { k: "v" } }]);
    const pod = { memory: { limit: 96 << 20 }, cpu: { quota: 50_000, period: 100_000, shares: 512 } };
    await f.api.updateResources({ sandboxId: "p1", resources: { typeUrl: OCI_RESOURCES_URL, value: json(pod) } });
    assert.deepEqual(f.podUpdates, [
      { id: "p1", change: { fields: ["spec"], labels: {}, resources: { memoryLimitBytes: 96 << 20, cpuQuota: 50_000, cpuPeriod: 100_000, cpuShares: 512 }, tasksExtension: undefined } },
    ]);
    await rejectsWith(f.api.updateResources({ sandboxId: "p1", resources: { typeUrl: OCI_RESOURCES_URL, value: json({ pids: { limit: 5 } }) } }), Code.InvalidArgument, /no pod-level resource/);
    await rejectsWith(f.api.updateResources({ sandboxId: "p1", resources: { typeUrl: OCI_RESOURCES_URL, value: json({ memory: { limit: "lots" } }) } }), Code.InvalidArgument, /memory\.limit: want an integer/);
    await rejectsWith(f.api.updateResources({ sandboxId: "p1" }), Code.InvalidArgument, /required/);
    assert.equal(f.podUpdates.length, 1);
    await rejectsWith(f.api.updateResources({ sandboxId: "p1", containerId: "c1" }), Code.InvalidArgument, /required/);
    await rejectsWith(f.api.updateResources({ sandboxId: "nope", containerId: "c1", resources: { typeUrl: OCI_RESOURCES_URL, value: json(resources) } }), Code.NotFound);
    assert.equal(f.updates.length, 1);
  });

  it("gives the task address only in the unix:// form the fork dials", () => {
    assert.equal(kuasarIoTaskAddress("ttrpc+unix:///a/task.sock"), "unix:///a/task.sock");
    assert.equal(kuasarIoTaskAddress("unix:///a/task.sock"), "unix:///a/task.sock");
    assert.throws(() => kuasarIoTaskAddress("vsock://3:1024"), (e: unknown) => isErrorCode(e, Code.FailedPrecondition));
    assert.throws(() => kuasarIoTaskAddress("ttrpc+unix://relative"), (e: unknown) => isErrorCode(e, Code.FailedPrecondition));
  });
});
