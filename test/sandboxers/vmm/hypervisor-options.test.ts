import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { resolveKuasardOptions as resolveFor, type KuasardOptions } from "../../../src/daemon/kuasard-options.js";
import { builtinSandboxerKinds } from "../../../src/daemon/sandboxer-kinds.js";
import type { VmmKindOptions } from "../../../src/sandboxers/vmm/vmm-kind.js";
import { Code } from "../../../src/errors/code.js";
import { RuntimeError } from "../../../src/errors/runtime-error.js";

const resolveKuasardOptions = (toml: Record<string, unknown>, flags: Record<string, unknown>) => resolveFor(toml, flags, builtinSandboxerKinds);
const hypervisor = (o: KuasardOptions) => (o.sandboxer["vmm"]!.own as VmmKindOptions).hypervisor;
const bad = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof RuntimeError && e.code === Code.InvalidArgument && re.test(e.message));

describe("vmm hypervisor options", () => {
  it("defaults to QEMU with our guest, probing KVM", () => {
    const o = resolveKuasardOptions({}, { sandboxers: "vmm" });
    assert.equal(o.sandboxer["vmm"]!.listen, "/run/vmm-sandboxer.sock");
    assert.equal(o.sandboxer["vmm"]!.dir, "/run/kuasar-vmm");
    assert.equal(hypervisor(o).path, "qemu-system-x86_64");
    assert.equal(hypervisor(o).accelerator, "auto");
    assert.match(hypervisor(o).kernelPath, /build\/guest\/vmlinuz$/);
    assert.match(hypervisor(o).initrdPath, /build\/guest\/initrd\.img$/);
  });

  it("reads [sandboxers.vmm.hypervisor] and a Kuasar-style top-level [hypervisor]", () => {
    const a = resolveKuasardOptions({ sandboxers: { vmm: { hypervisor: { vcpus: 2, memory_in_mb: 512, machine_type: "pc", accelerator: "tcg" } } } }, {});
    assert.deepEqual([hypervisor(a).vcpus, hypervisor(a).memoryInMb, hypervisor(a).machineType], [2, 512, "pc"]);
    const b = resolveKuasardOptions({ hypervisor: { kernel_path: "/boot/vmlinuz", kernel_params: "debug" } }, { sandboxers: "vmm" });
    assert.equal(hypervisor(b).kernelPath, "/boot/vmlinuz");
    assert.equal(hypervisor(b).kernelParams, "debug");
  });

  it("refuses the table given twice, as [hypervisor] and [sandboxers.vmm.hypervisor]", () => {
    bad(() => resolveKuasardOptions({ hypervisor: { vcpus: 2 }, sandboxers: { vmm: { hypervisor: { vcpus: 3 } } } }, {}), /\[sandboxers\.vmm\] hypervisor: given twice/);
  });

  it("names the bad key", () => {
    bad(() => resolveKuasardOptions({ sandboxers: { vmm: { hypervisor: { vcpu: 2 } } } }, {}), /config \[sandboxers\.vmm\.hypervisor\] vcpu: not a key of this table/);
    bad(() => resolveKuasardOptions({ hypervisor: { accelerator: "hvf" } }, { sandboxers: "vmm" }), /config \[hypervisor\] accelerator: expected one of auto, kvm, tcg/);
    bad(() => resolveKuasardOptions({ sandboxers: { vmm: { hypervisor: { memory_in_mb: 1 } } } }, {}), /\[sandboxers\.vmm\.hypervisor\] memory_in_mb: must be at least 64/);
    bad(() => resolveKuasardOptions({ sandboxers: { runc: { hypervisor: {} } } }, {}), /\[sandboxers\.runc\] hypervisor: not a key of the runc kind \(it belongs to vmm\)/);
  });
});
