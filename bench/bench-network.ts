/**
 * The pod network of a benchmark configuration: the same plugin chain as the e2e tests
 * (`testing/kuasar-containerd2.ts`: bridge without gateway or masquerading, then
 * loopback), in the run's private network namespace, but with a /20 of the benchmarking
 * range 198.18.0.0/15 (RFC 2544) per configuration, so 200 pods fit and configurations
 * never share a bridge, a network name or host-local IPAM state under /var/lib/cni.
 *
 * @internal benchmark, not part of the runtime
 */
import { writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Most configurations one run can give a network of its own (16 /20 blocks in 198.18.0.0/16). */
export const MAX_BENCH_NETWORKS = 16;

/** The CNI conflist (JSON text) of configuration number `index` (0-based). */
export function benchCniConflist(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_BENCH_NETWORKS) {
    throw new RangeError(`index: want 0..${MAX_BENCH_NETWORKS - 1}, got ${index}`);
  }
  return JSON.stringify({
    cniVersion: "1.0.0",
    name: `kuasar-bench-${index}`,
    plugins: [
      {
        type: "bridge",
        bridge: `kbench${index}`,
        isGateway: false,
        ipMasq: false,
        ipam: { type: "host-local", ranges: [[{ subnet: `198.18.${index * 16}.0/20` }]] },
      },
      { type: "loopback" },
    ],
  });
}

/** Writes {@link benchCniConflist} into containerd's CNI conf dir. */
export async function writeBenchCni(cniConfDir: string, index: number): Promise<void> {
  await writeFile(join(cniConfDir, `10-kuasar-bench-${index}.conflist`), benchCniConflist(index));
}
