import { parseArgs } from "node:util";
import { readTomlFile } from "../../config/toml-file.js";
import { resolveKuasardOptions } from "../../daemon/kuasard-options.js";
import { builtinSandboxerKinds } from "../../daemon/sandboxer-kinds.js";
import { createRootLogger } from "../../log/logger.js";
import { chooseAccelerator } from "../../sandboxers/vmm/accelerator-probe.js";
import type { Accelerator } from "../../sandboxers/vmm/driver/hypervisor.js";
import type { VmmKindOptions } from "../../sandboxers/vmm/vmm-kind.js";
import { QemuDriver } from "../../sandboxers/vmm/qemu/qemu-driver.js";
import { templateKey } from "../../sandboxers/vmm/template/template-shape.js";
import { VmTemplates } from "../../sandboxers/vmm/vm-templates.js";

export const usage = `usage: kuasar-ctl template build|list|prune [--config FILE] [--accelerator kvm|tcg] [--vcpus N] [--memory-mb N]
  VM templates of the vmm sandboxer (under <its dir>/templates): a guest booted once and
  saved, which pods restore instead of booting ([sandboxers.vmm.hypervisor] template = true).
  build  makes the template of pods of the given size (default: the configured vcpus and
         memory_in_mb, a pod without limits) now rather than at the first pod's start
  list   the templates present; the current one for that size is marked *
  prune  removes templates of another kernel, initrd (agent), QEMU or command line
  --config       kuasard's config (default: none, every key at its default)
  --accelerator  default: the config's; "auto" probes KVM by booting a guest, as kuasard does
`;

/** `kuasar-ctl template`: returns the exit code. */
export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { config: { type: "string" }, accelerator: { type: "string" }, vcpus: { type: "string" }, "memory-mb": { type: "string" } },
  });
  const [verb] = positionals;
  if (positionals.length !== 1 || !["build", "list", "prune"].includes(verb!) || (values.accelerator !== undefined && !["kvm", "tcg"].includes(values.accelerator))) {
    process.stderr.write(usage);
    return 2;
  }
  const options = resolveKuasardOptions(values.config ? await readTomlFile(values.config) : {}, {}, builtinSandboxerKinds);
  const vmm = options.sandboxer["vmm"]!;
  const h = (vmm.own as VmmKindOptions).hypervisor;
  const log = createRootLogger({ name: "kuasar-ctl", level: "warn" });
  const qemu = new QemuDriver(h.path, h.machineType);
  const templates = new VmTemplates(qemu, h, vmm.dir, log);
  const size = { vcpus: Number(values.vcpus ?? h.vcpus), memoryMb: Number(values["memory-mb"] ?? h.memoryInMb) };
  if (!(Number.isInteger(size.vcpus) && size.vcpus > 0 && Number.isInteger(size.memoryMb) && size.memoryMb >= 64)) {
    process.stderr.write(`kuasar-ctl template: --vcpus must be a positive integer and --memory-mb at least 64\n`);
    return 2;
  }
  const accelerator = async (): Promise<Accelerator> => (values.accelerator as Accelerator | undefined) ?? (await chooseAccelerator(qemu, h, vmm.dir, log)).accelerator;
  if (verb === "prune") {
    for (const key of templates.prune()) process.stdout.write(`removed ${key}\n`);
    return 0;
  }
  if (verb === "list") {
    const current = values.accelerator ? templateKey(templates.identity(values.accelerator as Accelerator, size)) : undefined;
    for (const key of templates.store.list()) process.stdout.write(`${key === current ? "*" : " "} ${key}\n`);
    return 0;
  }
  const started = Date.now();
  const t = await templates.obtain(await accelerator(), size);
  process.stdout.write(`${t.key} ${t.dir} (${size.vcpus} vCPU, ${size.memoryMb} MiB, ${t.identity.accelerator}; ${Date.now() - started} ms)\n`);
  return 0;
}
