import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { podSysctlsToApply } from "../../src/sandbox/pod-sysctls-applied.js";

describe("pod sysctls an engine applies", () => {
  it("are the runtime's defaults overridden by the pod's own", () => {
    assert.deepEqual(podSysctlsToApply({ sysctls: { a: "1", b: "2" }, runtimeSysctls: { b: "0", c: "3" } }), { a: "1", b: "2", c: "3" });
    assert.deepEqual(podSysctlsToApply({ sysctls: { a: "1" } }), { a: "1" });
    assert.deepEqual(podSysctlsToApply(undefined), {});
  });
});
