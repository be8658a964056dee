import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { criStateString, LABELS_INFO_KEY, namespaceOr, statusInfoWithLabels, timestampOf } from "../../src/sandbox/sandbox-wire.js";
import type { SandboxStatus } from "../../src/sandbox/sandboxer.js";

const status = (labels: Record<string, string>): SandboxStatus => ({
  id: "p",
  state: "ready",
  pid: 1,
  createdAt: new Date(0),
  exitedAt: undefined,
  exitStatus: 0,
  taskAddress: "",
  taskApiVersion: 2,
  labels,
  info: { kind: "runc" },
});

describe("sandbox API wire mapping", () => {
  it("reports only CRI's two state strings", () => {
    assert.equal(criStateString("ready"), "SANDBOX_READY");
    for (const s of ["created", "stopped"] as const) assert.equal(criStateString(s), "SANDBOX_NOTREADY");
  });

  it("carries labels in Status info as JSON, and leaves info alone when there are none", () => {
    assert.deepEqual(statusInfoWithLabels(status({})), { kind: "runc" });
    assert.deepEqual(statusInfoWithLabels(status({ app: "web" })), { kind: "runc", [LABELS_INFO_KEY]: '{"app":"web"}' });
  });

  it("maps dates to timestamps and no date to none; an unnamed namespace to the fallback", () => {
    assert.equal(timestampOf(undefined), undefined);
    assert.equal(timestampOf(new Date(1500))?.seconds, 1n);
    assert.equal(namespaceOr({ namespace: undefined }, "default"), "default");
    assert.equal(namespaceOr({ namespace: "" }, "default"), "default");
    assert.equal(namespaceOr({ namespace: "k8s.io" }, "default"), "k8s.io");
  });
});
