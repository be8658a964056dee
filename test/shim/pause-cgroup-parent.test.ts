import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { cgroupParentOfPauseSpec } from "../../src/shim/bridge-tasks.js";

describe("cgroup parent of a containerd 1.7 pause spec", () => {
  it("is the cgroupfs path's dir or the systemd slice, none without a path", () => {
    assert.equal(cgroupParentOfPauseSpec("/kubepods/burstable/pod-u1/abc123"), "/kubepods/burstable/pod-u1");
    assert.equal(cgroupParentOfPauseSpec("kubepods-burstable-pod1.slice:cri-containerd:abc123"), "kubepods-burstable-pod1.slice");
    assert.equal(cgroupParentOfPauseSpec("/abc123"), "");
    assert.equal(cgroupParentOfPauseSpec(undefined), "");
    assert.equal(cgroupParentOfPauseSpec(""), "");
  });
});
