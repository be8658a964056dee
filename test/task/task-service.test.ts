import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code } from "../../src/errors/code.js";
import { CheckpointOptionsSchema } from "../../src/gen/containerd/runc/v1/options_pb.js";
import { CheckpointTaskRequestSchema } from "../../src/gen/containerd/task/v2/shim_pb.js";
import { packAny } from "../../src/protobuf/typeurl.js";
import type { CheckpointSpec, TaskBackend } from "../../src/task/task-backend.js";
import { taskServiceImpl } from "../../src/task/task-service.js";
import type { CallContext } from "../../src/ttrpc/server.js";

/** A backend that records Checkpoint calls; nothing else is called. */
function recordingBackend(calls: { id: string; spec: CheckpointSpec }[]): TaskBackend {
  return {
    async checkpoint(id: string, spec: CheckpointSpec) {
      calls.push({ id, spec });
    },
  } as unknown as TaskBackend;
}

const ctx = { metadata: new Map(), signal: new AbortController().signal } as unknown as CallContext;

describe("Task API adapter: Checkpoint", () => {
  it("passes containerd's path and runc's exit option; no options means leave running", async () => {
    const calls: { id: string; spec: CheckpointSpec }[] = [];
    const impl = taskServiceImpl(recordingBackend(calls), () => "default");
    await impl.checkpoint(create(CheckpointTaskRequestSchema, { id: "c1", path: "/tmp/ctrd-checkpoint1" }), ctx);
    const exit = packAny(CheckpointOptionsSchema, create(CheckpointOptionsSchema, { exit: true, imagePath: "/img" }));
    await impl.checkpoint(create(CheckpointTaskRequestSchema, { id: "c1", path: "/img", options: exit }), ctx);
    assert.deepEqual(calls, [
      { id: "c1", spec: { path: "/tmp/ctrd-checkpoint1", exit: false } },
      { id: "c1", spec: { path: "/img", exit: true } },
    ]);
  });

  it("refuses an empty path and options of another type (InvalidArgument)", async () => {
    const impl = taskServiceImpl(recordingBackend([]), () => "default");
    await assert.rejects(impl.checkpoint(create(CheckpointTaskRequestSchema, { id: "c1" }), ctx), { code: Code.InvalidArgument, message: /path must not be empty/ });
    const other = { $typeName: "google.protobuf.Any" as const, typeUrl: "containerd.runc.v1.Options", value: new Uint8Array([8, 1]) };
    await assert.rejects(impl.checkpoint(create(CheckpointTaskRequestSchema, { id: "c1", path: "/p", options: other }), ctx), { code: Code.InvalidArgument, message: /unexpected type/ });
  });
});
