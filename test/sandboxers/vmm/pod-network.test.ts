import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { guestNetworkScript } from "../../../src/sandboxers/vmm/pod-network.js";
import { vmSize } from "../../../src/sandboxers/vmm/vm-sizing.js";

describe("pod network in the guest", () => {
  it("gives the guest NIC the pod's MTU, addresses and routes, link routes first", () => {
    const script = guestNetworkScript({
      interface: "eth0",
      mac: "02:00:00:00:00:01",
      mtu: 1450,
      addresses: ["192.0.2.5/24", "2001:db8::5/64"],
      routes: [{ family: 4, dst: "10.0.0.0/8", scope: "link" }, { family: 4, dst: "default", gateway: "192.0.2.1" }, { family: 6, dst: "default", gateway: "2001:db8::1" }],
      tap: "tap0_kuasar",
    });
    assert.deepEqual(script.split("\n"), [
      "set -e",
      "ip link set eth0 mtu 1450 up",
      "ip addr add 192.0.2.5/24 dev eth0",
      "ip addr add 2001:db8::5/64 dev eth0",
      "ip -4 route add 10.0.0.0/8 scope link dev eth0",
      "ip -4 route add default via 192.0.2.1 dev eth0",
      "ip -6 route add default via 2001:db8::1 dev eth0",
    ]);
  });
});

describe("VM sizing", () => {
  it("adds the pod's CPU and memory limits to the configured base", () => {
    const base = { vcpus: 1, memoryInMb: 256 };
    assert.deepEqual(vmSize(base, undefined), { vcpus: 1, memoryMb: 256 });
    assert.deepEqual(vmSize(base, { cpuPeriod: 100_000, cpuQuota: 150_000, cpuShares: 0, memoryLimitBytes: 128 << 20 }), { vcpus: 3, memoryMb: 384 });
    assert.deepEqual(vmSize(base, { cpuPeriod: 0, cpuQuota: 150_000, cpuShares: 1024, memoryLimitBytes: 0 }), { vcpus: 1, memoryMb: 256 });
  });
});
