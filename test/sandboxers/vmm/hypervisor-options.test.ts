import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveKuasardOptions } from "../../../src/daemon/kuasard-options.js";
import { Code } from "../../../src/errors/code.js";
import { RuntimeError } from "../../../src/errors/runtime-error.js";

const bad = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof RuntimeError && e.code === Code.InvalidArgument && re.test(e.message));

describe("vmm hypervisor options", () => {
  it("defaults to QEMU with our guest, probing KVM", () => {
    const o = resolveKuasardOptions({}, { sandboxers: "vmm" }).sandboxer.vmm;
    assert.equal(o.listen, "/run/vmm-sandboxer.sock");
    assert.equal(o.dir, "/run/kuasar-vmm");
    assert.equal(o.hypervisor.path, "qemu-system-x86_64");
    assert.equal(o.hypervisor.accelerator, "auto");
    assert.match(o.hypervisor.kernelPath, /build\/guest\/vmlinuz$/);
    assert.match(o.hypervisor.initrdPath, /build\/guest\/initrd\.img$/);
  });

  it("reads [sandboxers.vmm.hypervisor] and a Kuasar-style top-level [hypervisor]", () => {
    const a = resolveKuasardOptions({ sandboxers: { vmm: { hypervisor: { vcpus: 2, memory_in_mb: 512, machine_type: "pc", accelerator: "tcg" } } } }, {});
    assert.deepEqual([a.sandboxer.vmm.hypervisor.vcpus, a.sandboxer.vmm.hypervisor.memoryInMb, a.sandboxer.vmm.hypervisor.machineType], [2, 512, "pc"]);
    const b = resolveKuasardOptions({ hypervisor: { kernel_path: "/boot/vmlinuz", kernel_params: "debug" } }, { sandboxers: "vmm" });
    assert.equal(b.sandboxer.vmm.hypervisor.kernelPath, "/boot/vmlinuz");
    assert.equal(b.sandboxer.vmm.hypervisor.kernelParams, "debug");
  });

  it("names the bad key", () => {
    bad(() => resolveKuasardOptions({ sandboxers: { vmm: { hypervisor: { vcpu: 2 } } } }, {}), /sandboxers\.vmm\.hypervisor\.vcpu: unknown key/);
    bad(() => resolveKuasardOptions({ hypervisor: { accelerator: "hvf" } }, { sandboxers: "vmm" }), /hypervisor\.accelerator: expected one of auto, kvm, tcg/);
    bad(() => resolveKuasardOptions({ sandboxers: { vmm: { hypervisor: { memory_in_mb: 1 } } } }, {}), /memory_in_mb|memoryInMb/);
    bad(() => resolveKuasardOptions({ sandboxers: { runc: { hypervisor: {} } } }, {}), /only the vmm sandboxer boots VMs/);
  });
});
