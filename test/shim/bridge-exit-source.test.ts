import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it, type TestContext } from "node:test";
import { Code } from "../../src/errors/code.js";
import { silentLogger } from "../../src/log/logger.js";
import { BridgeTasks } from "../../src/shim/bridge-tasks.js";
import { CRI_CONTAINER_TYPE, CRI_SANDBOX_ID } from "../../src/shim/cri-annotations.js";
import { EXIT_SOURCE_FILE, type ExitSource } from "../../src/task/exit-source.js";
import type { CreateTaskSpec, TaskBackend } from "../../src/task/task-backend.js";
import { fillDisk, tinyDisk, tinyDiskSkip } from "../../testing/tiny-disk.js";
import { mapSandboxer } from "../sandbox/map-sandboxer.js";

const SOURCE: ExitSource = { record: "/run/k/containers/c1.json", journal: "/run/k/pods/pod/exits", clockSkewMs: 0 };

/** A bridge over one pod whose tasks create and delete containers in a set. */
async function bridgeWithPod(): Promise<{ bridge: BridgeTasks; containers: Set<string> }> {
  const containers = new Set<string>();
  const tasks = {
    has: (id: string) => containers.has(id),
    create: async (spec: CreateTaskSpec) => {
      containers.add(spec.containerId);
      return { pid: 100 };
    },
    delete: async (id: string) => {
      containers.delete(id);
      return { pid: 100, exitStatus: 0, exitedAt: new Date() };
    },
    exitSource: (id: string) => (containers.has(id) ? SOURCE : undefined),
  } as unknown as TaskBackend;
  const sandboxer = mapSandboxer("runc", { tasks });
  await sandboxer.create({ id: "pod", namespace: "k8s.io", netnsPath: "", pod: undefined, annotations: {}, labels: {}, standalone: false });
  await sandboxer.start("pod");
  return { bridge: new BridgeTasks(new Map([["runc", sandboxer]]), "runc", { publish: () => {}, close: async () => {} }, silentLogger(), 5), containers };
}

function bundleIn(dir: string, t: TestContext): string {
  const bundle = mkdtempSync(join(dir, "bundle-"));
  t.after(() => rmSync(bundle, { recursive: true, force: true }));
  writeFileSync(join(bundle, "config.json"), JSON.stringify({ annotations: { [CRI_CONTAINER_TYPE]: "container", [CRI_SANDBOX_ID]: "pod" } }));
  return bundle;
}

const spec = (bundle: string): CreateTaskSpec => ({ containerId: "c1", bundle, rootfs: [], stdio: { stdin: "", stdout: "", stderr: "", terminal: false }, checkpoint: "", namespace: "k8s.io" });

describe("shim bridge: the container's exit source in its bundle", () => {
  it("Create writes where the exit is recorded, for the shim's delete while the daemon is down", async (t) => {
    const { bridge, containers } = await bridgeWithPod();
    const bundle = bundleIn("/tmp", t);
    await bridge.create(spec(bundle));
    assert.deepEqual([...containers], ["c1"]);
    assert.deepEqual(JSON.parse(readFileSync(join(bundle, EXIT_SOURCE_FILE), "utf8")), SOURCE);
  });

  it("on a full disk Create fails with ResourceExhausted and the container is deleted again: no task whose exit could be lost", { skip: tinyDiskSkip }, async (t) => {
    const { bridge, containers } = await bridgeWithPod();
    const disk = tinyDisk(t);
    const bundle = bundleIn(disk, t);
    fillDisk(disk);
    await assert.rejects(bridge.create(spec(bundle)), { code: Code.ResourceExhausted, message: new RegExp(`cannot write ${EXIT_SOURCE_FILE}.*no space left`) });
    assert.deepEqual([...containers], [], "the container made before the write failed is gone");
    assert.deepEqual(readdirSync(bundle).sort(), ["config.json"]);
  });
});
