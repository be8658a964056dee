import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { guestNetworkScript, TAP_NAME, unwirePodNetwork, wirePodNetwork } from "../../../src/sandboxers/vmm/pod-network.js";
import { vmSize } from "../../../src/sandboxers/vmm/vm-sizing.js";
import { TEST_POD_NETWORK } from "./pod-network-fixture.js";

describe("pod network in the guest", () => {
  it("gives the guest NIC the pod's MTU, addresses and routes, link routes first", () => {
    const script = guestNetworkScript(TEST_POD_NETWORK);
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

describe("pod network wiring on the host (a network namespace of the test's own)", () => {
  it("reads the CNI-like interface, its addresses and routes (link routes first, kernel ones left out), wires a tap both ways, and unwires it", async (t) => {
    const name = `kuasar-wire-test-${process.pid}-${randomBytes(3).toString("hex")}`;
    const add = spawnSync("ip", ["netns", "add", name], { encoding: "utf8" });
    if (add.status !== 0) return t.skip(`ip netns add: ${add.stderr.trim()}`);
    t.after(() => void spawnSync("ip", ["netns", "delete", name]));
    const netns = `/run/netns/${name}`;
    const ns = (...argv: string[]) => execFileSync("ip", ["netns", "exec", name, ...argv], { encoding: "utf8" });
    // What CNI leaves: a veth end named eth0 with addresses and routes, a gateway behind it.
    ns("ip", "link", "add", "eth0", "mtu", "1450", "type", "veth", "peer", "name", "peer0");
    ns("ip", "link", "set", "eth0", "up");
    ns("ip", "link", "set", "peer0", "up");
    ns("ip", "addr", "add", "192.0.2.5/24", "dev", "eth0");
    ns("ip", "-6", "addr", "add", "2001:db8::5/64", "dev", "eth0", "nodad");
    ns("ip", "route", "add", "198.51.100.0/24", "via", "192.0.2.254", "dev", "eth0");
    ns("ip", "route", "add", "203.0.113.0/24", "dev", "eth0", "scope", "link");
    ns("ip", "route", "add", "default", "via", "192.0.2.1", "dev", "eth0");
    ns("ip", "-6", "route", "add", "default", "via", "2001:db8::1", "dev", "eth0");
    const mac = ns("cat", "/sys/class/net/eth0/address").trim();

    const net = await wirePodNetwork(netns);
    assert.ok(net);
    assert.deepEqual(
      { ...net, routes: net.routes.map((r) => ({ ...r })) },
      {
        interface: "eth0",
        mac,
        mtu: 1450,
        addresses: ["192.0.2.5/24", "2001:db8::5/64"],
        routes: [
          { family: 4, dst: "203.0.113.0/24", gateway: undefined, scope: "link" },
          { family: 4, dst: "default", gateway: "192.0.2.1", scope: undefined },
          { family: 4, dst: "198.51.100.0/24", gateway: "192.0.2.254", scope: undefined },
          { family: 6, dst: "default", gateway: "2001:db8::1", scope: undefined },
        ],
        tap: TAP_NAME,
      },
    );
    assert.match(ns("ip", "-o", "link", "show", TAP_NAME), /mtu 1450 .*state (UP|DOWN|UNKNOWN)/);
    assert.match(ns("tc", "filter", "show", "dev", "eth0", "ingress"), new RegExp(`mirred \\(Egress Redirect to device ${TAP_NAME}\\)`));
    assert.match(ns("tc", "filter", "show", "dev", TAP_NAME, "ingress"), /mirred \(Egress Redirect to device eth0\)/);

    await unwirePodNetwork(netns, net.interface);
    assert.equal(spawnSync("ip", ["netns", "exec", name, "ip", "link", "show", TAP_NAME]).status, 1, "the tap is gone");
    assert.doesNotMatch(ns("tc", "qdisc", "show", "dev", "eth0"), /ingress/);
  });

  it("finds nothing to wire in a namespace with loopback only", async (t) => {
    const name = `kuasar-wire-test-${process.pid}-${randomBytes(3).toString("hex")}`;
    const add = spawnSync("ip", ["netns", "add", name], { encoding: "utf8" });
    if (add.status !== 0) return t.skip(`ip netns add: ${add.stderr.trim()}`);
    t.after(() => void spawnSync("ip", ["netns", "delete", name]));
    assert.equal(await wirePodNetwork(`/run/netns/${name}`), undefined);
  });
});

describe("pod network unwiring when the namespace is gone", () => {
  it("is best effort: nsenter failing before it reads its input neither fails the stop nor ends the process", async () => {
    // The pod stop's order is containerd's: the netns may be gone first. The commands' stdin
    // meets a dead reader then (EPIPE), which once ended kuasard.
    for (let i = 0; i < 20; i++) await unwirePodNetwork(`/run/netns/kuasar-test-gone-${randomBytes(4).toString("hex")}`, "eth0");
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
