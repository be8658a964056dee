import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { Code } from "../../../src/errors/code.js";
import { defaultHolderBinary } from "../../../src/holder/start-holder.js";
import { silentLogger } from "../../../src/log/logger.js";
import { createGvisorSandboxer } from "../../../src/sandboxers/gvisor/gvisor-sandboxer.js";
import type { EventPublisher } from "../../../src/task/task-event.js";

const noEvents: EventPublisher = { publish: () => {}, close: async () => {} };

function sandboxer(dir: string, over: { runsc?: string; pause?: string } = {}) {
  return createGvisorSandboxer(
    {
      dir,
      taskAddress: "ttrpc+unix:///nowhere.sock",
      holderBinary: defaultHolderBinary,
      shmSizeBytes: 1 << 20,
      reconcileIntervalMs: 0,
      runsc: { binary: over.runsc ?? "runsc", platform: "ptrace", network: "host", debugLogDir: "", extraFlags: [], commandTimeoutMs: 5000 },
      ...(over.pause ? { pauseBinary: over.pause } : {}),
      // Create's checks come before any sandbox: no probe of the host here.
      runscSetup: Promise.resolve({ platform: "ptrace", platformReason: "configured", network: "host" as const, networkReason: "configured", rootImage: "", rootImageReason: "not probed", features: { version: "", platforms: ["ptrace"], directfs: false } }),
    },
    silentLogger(),
    noEvents,
    0,
  );
}

const request = { id: "pod1", namespace: "k8s.io", netnsPath: "", pod: undefined, annotations: {}, labels: {}, standalone: false };

describe("gvisor sandboxer Create", () => {
  it("refuses a missing runsc binary with FailedPrecondition and leaves nothing behind", async (t) => {
    const dir = mkdtempSync("/tmp/gv-unit-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const s = sandboxer(dir, { runsc: "/nonexistent/runsc" });
    await assert.rejects(s.create(request), { code: Code.FailedPrecondition, message: /runsc binary "\/nonexistent\/runsc" not found/ });
    assert.deepEqual(readdirSync(join(dir, "pods")), []);
    assert.equal(s.has("pod1"), false);
  });

  it("refuses a missing pause program the same way", async (t) => {
    const dir = mkdtempSync("/tmp/gv-unit-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const s = sandboxer(dir, { runsc: process.execPath, pause: "/nonexistent/kuasar-pause" });
    await assert.rejects(s.create(request), { code: Code.FailedPrecondition, message: /kuasar-pause binary/ });
    assert.deepEqual(readdirSync(join(dir, "pods")), []);
  });
});
