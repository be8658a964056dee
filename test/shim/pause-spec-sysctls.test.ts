import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { splitPauseSpecSysctls } from "../../src/shim/pause-spec-sysctls.js";

describe("sysctls of a pause spec", () => {
  it("tells containerd 2.x's unprivileged-port and ICMP defaults from the pod's own sysctls", () => {
    assert.deepEqual(
      splitPauseSpecSysctls({ "net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647", "kernel.shm_rmid_forced": "1" }),
      { sysctls: { "kernel.shm_rmid_forced": "1" }, runtimeSysctls: { "net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647" } },
    );
  });

  it("keeps a pod's own value of those keys as the pod's", () => {
    assert.deepEqual(splitPauseSpecSysctls({ "net.ipv4.ip_unprivileged_port_start": "80", "net.ipv4.ping_group_range": "0 0" }), {
      sysctls: { "net.ipv4.ip_unprivileged_port_start": "80", "net.ipv4.ping_group_range": "0 0" },
      runtimeSysctls: {},
    });
    assert.deepEqual(splitPauseSpecSysctls(undefined), { sysctls: {}, runtimeSysctls: {} });
  });
});
