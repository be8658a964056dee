import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "../../../src/errors/code.js";
import { isErrorCode } from "../../../src/errors/runtime-error.js";
import { holderError, type HolderRoute } from "../../../src/holder/holder-client.js";
import { GUEST_CRUN } from "../../../src/sandboxers/vmm/guest-paths.js";
import { GUEST_RUNTIME_PROBE } from "../../../src/sandboxers/vmm/guest-oci-runtime.js";
import { guestSetupScript, setUpGuest, type GuestSetup, type GuestSetupAgent } from "../../../src/sandboxers/vmm/guest-setup.js";
import type { PodNetwork } from "../../../src/sandboxers/vmm/pod-network.js";
import { TEST_POD_NETWORK } from "./pod-network-fixture.js";

const ENOENT = 2;
const EEXIST = 17;
const ENODEV = 19;
const ENOSYS = 38;

const network: PodNetwork = TEST_POD_NETWORK;

const setup: GuestSetup = { hostname: "pod-1", network, nicHotplugged: false, sysctls: { "net.ipv4.ip_forward": "1", "kernel.shm_rmid_forced": "1" } };

/** A guest agent that records each call; `fail` decides, per call, an error to answer instead. */
class FakeGuestAgent implements GuestSetupAgent {
  readonly calls: string[] = [];
  constructor(private readonly fail: (call: string, n: number) => Error | undefined = () => undefined) {}

  private async answer(call: string): Promise<void> {
    const n = this.calls.filter((c) => c === call).length;
    this.calls.push(call);
    const err = this.fail(call, n);
    if (err) throw err;
  }

  access(path: string) {
    return this.answer(`access ${path}`);
  }
  setHostname(name: string) {
    return this.answer(`hostname ${name}`);
  }
  linkUp(ifname: string, mtu: number) {
    return this.answer(`linkup ${ifname} ${mtu}`);
  }
  addAddress(ifname: string, cidr: string) {
    return this.answer(`addradd ${ifname} ${cidr}`);
  }
  addRoute(ifname: string, r: HolderRoute) {
    return this.answer(`routeadd ${ifname} ${r.family} ${r.dst} ${r.gateway ?? ""} ${r.scope ?? ""}`.trimEnd());
  }
  sysctl(key: string, value: string) {
    return this.answer(`sysctl ${key} ${value}`);
  }
}

const noScript = async (): Promise<string> => assert.fail("the script is for an agent older than the verbs");
const opts = (extra: Partial<{ nicWaitMs: number; signal: AbortSignal }> = {}) => ({ deadline: Date.now() + 5000, nicWaitMs: 10_000, ...extra });

describe("a VM pod's guest setup by the agent's verbs", () => {
  it("probes the runtime, then sets the hostname, the NIC, its addresses, its routes in their order, and the sysctls", async () => {
    const agent = new FakeGuestAgent();
    assert.equal(await setUpGuest(agent, setup, noScript, opts()), "crun");
    assert.deepEqual(agent.calls, [
      `access ${GUEST_CRUN}`,
      "hostname pod-1",
      "linkup eth0 1450",
      "addradd eth0 192.0.2.5/24",
      "addradd eth0 2001:db8::5/64",
      "routeadd eth0 4 10.0.0.0/8  link",
      "routeadd eth0 4 default 192.0.2.1",
      "routeadd eth0 6 default 2001:db8::1",
      "sysctl net.ipv4.ip_forward 1",
      "sysctl kernel.shm_rmid_forced 1",
    ]);
  });

  it("is runc where the guest has no crun, and touches no NIC without a network", async () => {
    const agent = new FakeGuestAgent((call) => (call.startsWith("access") ? holderError(ENOENT, "access: No such file or directory") : undefined));
    assert.equal(await setUpGuest(agent, { hostname: "h", nicHotplugged: true, sysctls: {} }, noScript, opts()), "runc");
    assert.deepEqual(agent.calls, [`access ${GUEST_CRUN}`, "hostname h"]);
  });

  it("runs the script instead on an agent older than the verbs (Unimplemented at the first), and reads the runtime from it", async () => {
    const agent = new FakeGuestAgent((call) => (call.startsWith("access") ? holderError(ENOSYS, "unknown request access with 3 fields") : undefined));
    const scripts: string[] = [];
    const runtime = await setUpGuest(agent, { ...setup, nicHotplugged: true }, async (s) => (scripts.push(s), "oci_runtime=crun\n"), opts());
    assert.equal(runtime, "crun");
    assert.deepEqual(agent.calls, [`access ${GUEST_CRUN}`, "hostname pod-1"], "the hostname went out with the probe (an old agent refuses both); nothing after");
    assert.deepEqual(scripts, [guestSetupScript({ ...setup, nicHotplugged: true })]);
  });

  it("asks again for a hot-plugged NIC until the guest has it", async () => {
    const agent = new FakeGuestAgent((call, n) => (call.startsWith("linkup") && n < 3 ? holderError(ENODEV, "linkup: no link eth0 (yet)") : undefined));
    const waited: number[] = [];
    await setUpGuest(agent, { ...setup, nicHotplugged: true }, noScript, { ...opts(), onNicUp: (ms) => waited.push(ms) });
    assert.equal(agent.calls.filter((c) => c.startsWith("linkup")).length, 4);
    assert.equal(waited.length, 1);
    assert.ok(waited[0]! > 0, "the wait is told (0 only when the NIC was there at once)");
    assert.equal(agent.calls.at(-1), "sysctl kernel.shm_rmid_forced 1", "the rest follows");
  });

  it("gives up on a hot-plugged NIC after its wait, saying so; a booted VM's missing NIC fails at once", async () => {
    const missing = () => new FakeGuestAgent((call) => (call.startsWith("linkup") ? holderError(ENODEV, "linkup: no link eth0 (yet)") : undefined));
    const late = missing();
    await assert.rejects(setUpGuest(late, { ...setup, nicHotplugged: true }, noScript, opts({ nicWaitMs: 60 })), /guest setup: bringing eth0 up \(not there after 60 ms\): holder: linkup/);
    assert.ok(late.calls.filter((c) => c.startsWith("linkup")).length >= 2);
    assert.ok(!late.calls.some((c) => c.startsWith("addradd")));
    const booted = missing();
    await assert.rejects(setUpGuest(booted, setup, noScript, opts()), /guest setup: bringing eth0 up: holder: linkup/);
    assert.equal(booted.calls.filter((c) => c.startsWith("linkup")).length, 1);
  });

  it("fails with the first failing step in order, its code kept and its step named (an address already there fails, as the script did)", async () => {
    const agent = new FakeGuestAgent((call) =>
      call === "addradd eth0 2001:db8::5/64" ? holderError(EEXIST, "addradd 2001:db8::5/64 dev eth0: File exists") : call.startsWith("sysctl") ? holderError(2, "sysctl: no such key") : undefined,
    );
    await assert.rejects(setUpGuest(agent, setup, noScript, opts()), (e: unknown) => isErrorCode(e, Code.AlreadyExists) && /guest setup: adding address 2001:db8::5\/64: /.test((e as Error).message));
    // Sent together after the NIC: the steps behind the failed one went out too (a VM whose setup failed is discarded).
    assert.equal(agent.calls.at(-1), "sysctl kernel.shm_rmid_forced 1");
  });

  it("sends the steps after the NIC without waiting for each answer, in their order", async () => {
    let inFlight = 0;
    let most = 0;
    const agent = new FakeGuestAgent();
    const answer = agent.addAddress.bind(agent);
    agent.addAddress = async (ifname: string, cidr: string) => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return answer(ifname, cidr);
    };
    await setUpGuest(agent, setup, noScript, opts());
    assert.equal(most, 2, "both addresses were asked for before either was answered");
  });

  it("fails a refusal other than a missing crun (a holder that is not a guest's pid 1) rather than guessing runc", async () => {
    const agent = new FakeGuestAgent(() => holderError(1, "access: only a VM guest's agent (pid 1) sets up its machine"));
    await assert.rejects(setUpGuest(agent, setup, noScript, opts()), (e: unknown) => isErrorCode(e, Code.PermissionDenied));
  });

  it("stops waiting for the NIC when its caller gives up, with the caller's reason", async () => {
    const agent = new FakeGuestAgent((call) => (call.startsWith("linkup") ? holderError(ENODEV, "linkup: no link eth0 (yet)") : undefined));
    const ac = new AbortController();
    const reason = new Error("caller gone");
    setTimeout(() => ac.abort(reason), 30);
    await assert.rejects(setUpGuest(agent, { ...setup, nicHotplugged: true }, noScript, opts({ signal: ac.signal })), (e: unknown) => e === reason);
  });
});

describe("the guest setup script (for an older agent)", () => {
  it("probes the runtime first, quotes the hostname and sysctls, and waits for a hot-plugged NIC only", () => {
    const hot = guestSetupScript({ ...setup, hostname: "it's", nicHotplugged: true }).split("\n");
    assert.equal(hot[0], GUEST_RUNTIME_PROBE);
    assert.equal(hot[1], `hostname 'it'\\''s'`);
    assert.match(hot[2]!, /while \[ ! -e \/sys\/class\/net\/eth0 \]/);
    assert.equal(hot[3], "set -e");
    assert.ok(hot.includes("ip -4 route add default via 192.0.2.1 dev eth0"));
    assert.deepEqual(hot.slice(-2), ["sysctl -w 'net.ipv4.ip_forward=1'", "sysctl -w 'kernel.shm_rmid_forced=1'"]);
    assert.ok(!guestSetupScript(setup).includes("/sys/class/net/eth0"), "a booted VM's NIC is there from the start");
    assert.ok(!guestSetupScript({ ...setup, network: undefined, nicHotplugged: true }).includes("eth0"), "no network, no NIC");
  });
});
