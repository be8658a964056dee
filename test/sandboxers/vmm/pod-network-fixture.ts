import type { PodNetwork } from "../../../src/sandboxers/vmm/pod-network.js";

/** A pod network as the wiring reads it: two addresses, a link route, an IPv4 and an IPv6 default. */
export const TEST_POD_NETWORK: PodNetwork = {
  interface: "eth0",
  mac: "02:00:00:00:00:01",
  mtu: 1450,
  addresses: ["192.0.2.5/24", "2001:db8::5/64"],
  routes: [{ family: 4, dst: "10.0.0.0/8", scope: "link" }, { family: 4, dst: "default", gateway: "192.0.2.1" }, { family: 6, dst: "default", gateway: "2001:db8::1" }],
  tap: "tap0_kuasar",
};
