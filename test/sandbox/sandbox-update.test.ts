import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code } from "../../src/errors/code.js";
import { SandboxSchema } from "../../src/gen/containerd/types/sandbox_pb.js";
import { PodSandboxConfigSchema } from "../../src/gen/k8s.io/cri-api/runtime/v1/api_pb.js";
import { OCI_SPEC_URL, sandboxUpdateOf } from "../../src/sandbox/sandbox-update.js";

const any = (typeUrl: string, value: Uint8Array) => ({ typeUrl, value });
const json = (v: unknown) => Buffer.from(JSON.stringify(v));

describe("sandbox Update decoding", () => {
  it("takes the pod's resources from a CRI PodSandboxConfig or an OCI spec", () => {
    const cri = create(PodSandboxConfigSchema, { linux: { resources: { memoryLimitInBytes: 64n << 20n, cpuQuota: 20000n, cpuPeriod: 100000n } } });
    const a = sandboxUpdateOf(create(SandboxSchema, { spec: any("runtime.v1.PodSandboxConfig", toBinary(PodSandboxConfigSchema, cri)) }), ["spec"]);
    assert.deepEqual(a.resources, { memoryLimitBytes: 64 << 20, cpuQuota: 20000, cpuPeriod: 100000, cpuShares: 0 });
    const b = sandboxUpdateOf(create(SandboxSchema, { spec: any(OCI_SPEC_URL, json({ linux: { resources: { memory: { limit: 1 << 25 }, cpu: { shares: 256 } } } })) }), ["spec"]);
    assert.deepEqual(b.resources, { memoryLimitBytes: 1 << 25, cpuQuota: 0, cpuPeriod: 0, cpuShares: 256 });
  });

  it("keeps Kuasar's extensions.tasks as given and checks its shape", () => {
    const tasks = { tasks: [{ task_id: "c1", resources: { memory_limit_in_bytes: 1024 } }] };
    const u = sandboxUpdateOf(create(SandboxSchema, { extensions: { tasks: any("github.com/containerd/containerd.TaskResources", json(tasks)) } }), ["extensions.tasks"]);
    assert.deepEqual(JSON.parse(u.tasksExtension!), tasks);
    assert.equal(u.resources, undefined);
    assert.throws(() => sandboxUpdateOf(create(SandboxSchema, { extensions: { tasks: any("x", json([1])) } }), ["extensions.tasks"]), { code: Code.InvalidArgument });
    assert.throws(() => sandboxUpdateOf(create(SandboxSchema, {}), ["extensions.tasks"]), { code: Code.InvalidArgument });
  });

  it("refuses fields it cannot apply with Unimplemented, bad specs with InvalidArgument", () => {
    assert.throws(() => sandboxUpdateOf(create(SandboxSchema, {}), ["runtime"]), (e: Error & { code: Code }) => e.code === Code.Unimplemented && /"runtime"/.test(e.message));
    assert.throws(() => sandboxUpdateOf(create(SandboxSchema, {}), ["extensions.other"]), { code: Code.Unimplemented });
    assert.throws(() => sandboxUpdateOf(undefined, ["labels"]), { code: Code.InvalidArgument });
    assert.throws(() => sandboxUpdateOf(create(SandboxSchema, { spec: any("x.y/Other", new Uint8Array()) }), ["spec"]), { code: Code.InvalidArgument });
    assert.throws(() => sandboxUpdateOf(create(SandboxSchema, { spec: any(OCI_SPEC_URL, json({})) }), ["spec"]), /carries no linux.resources/);
    // No fields: everything present; a spec without resources changes nothing.
    const all = sandboxUpdateOf(create(SandboxSchema, { labels: { a: "1" }, spec: any(OCI_SPEC_URL, json({})) }), []);
    assert.deepEqual(all, { fields: [], labels: { a: "1" }, resources: undefined, tasksExtension: undefined });
  });
});
