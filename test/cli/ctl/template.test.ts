import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { SHORT_SOCKET_DIR } from "../../../src/fs/long-socket-path.js";
import { join } from "node:path";
import { describe, it } from "node:test";
import { repoRoot } from "../../../testing/deps.js";
import { assertIsolated } from "../../../testing/isolation.js";
import { takeCensus, censusDiff } from "../../../testing/leak-census.js";

assertIsolated();

/** These VMs run in no cgroup of their own: processes, mounts and what is left under /run/kuasar are what can leak. */
const scope = { dirs: ["/run/kuasar"], cgroupRoots: [] };

function ctl(...args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(join(repoRoot(), "bin", "kuasar-ctl"), ["template", ...args], { encoding: "utf8", timeout: 300_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe("kuasar-ctl template (real QEMU, the built guest)", () => {
  it("builds the template of the configured shape ahead of time; a changed kernel command line makes a new one; prune removes the stale one", (t) => {
    mkdirSync(SHORT_SOCKET_DIR, { recursive: true, mode: 0o700 }); // kuasard's, shared by every long socket path: it stays
    const before = takeCensus(scope);
    const dir = mkdtempSync("/run/kuasar/ctl-tmpl-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const config = (params: string) => {
      const path = join(dir, "kuasard.toml");
      writeFileSync(path, `[sandboxers.vmm]\ndir = "${dir}/vmm"\n[sandboxers.vmm.hypervisor]\naccelerator = "tcg"\nmemory_in_mb = 128\nkernel_params = "${params}"\n`);
      return path;
    };
    const first = ctl("build", "--config", config(""));
    assert.equal(first.status, 0, first.stderr);
    const [key1] = first.stdout.split(" ");
    assert.match(key1!, /^tcg-[0-9a-f]{32}$/, first.stdout);
    assert.match(first.stdout, /1 vCPU, 128 MiB, tcg/);
    const again = ctl("build", "--config", config(""));
    assert.equal(again.stdout.split(" ")[0], key1, "built once: the second build finds it");

    const second = ctl("build", "--config", config("loglevel=4"));
    assert.equal(second.status, 0, second.stderr);
    const [key2] = second.stdout.split(" ");
    assert.notEqual(key2, key1, "another kernel command line, another template");
    const list = ctl("list", "--config", config("loglevel=4"), "--accelerator", "tcg");
    assert.deepEqual(list.stdout.trimEnd().split("\n").sort(), [`  ${key1}`, `* ${key2}`].sort());

    const pruned = ctl("prune", "--config", config("loglevel=4"));
    assert.equal(pruned.stdout.trim(), `removed ${key1}`);
    assert.deepEqual(readdirSync(join(dir, "vmm", "templates")), [key2]);

    assert.equal(ctl("build", "--accelerator", "hvf").status, 2, "a bad accelerator is refused");
    assert.equal(ctl("frobnicate").status, 2);
    rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(censusDiff(before, takeCensus(scope)), {}, "no QEMU, socket or file left behind");
  });
});
