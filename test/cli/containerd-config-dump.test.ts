import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { parse } from "smol-toml";
import { containerdConfigSnippet, defaultSocketOf, type ContainerdFlavour } from "../../src/cli/containerd-config.js";
import { sandboxerKinds } from "../../src/daemon/kuasard-options.js";
import { containerdBinaries, kuasarIoContainerdBinaries } from "../harness/deps.js";

type Table = Record<string, unknown>;
const at = (t: unknown, ...path: string[]): Table | undefined => path.reduce<unknown>((o, k) => (o as Table | undefined)?.[k], t) as Table | undefined;

/**
 * What the real containerd makes of its config when it imports the drop-in we write:
 * `containerd config dump` of a main config (only root/state of its own) importing it.
 */
async function dumpWithDropIn(binary: string, flavour: ContainerdFlavour): Promise<Table> {
  const dir = mkdtempSync("/tmp/ccdump-");
  try {
    const dropIn = join(dir, "kuasar.toml");
    writeFileSync(dropIn, containerdConfigSnippet({ flavour, kinds: sandboxerKinds, binDir: "/opt/kuasar/bin", socketOf: defaultSocketOf, dropIn: true }));
    const main = join(dir, "config.toml");
    writeFileSync(main, `version = ${flavour === "2.x" ? 3 : 2}\nimports = [${JSON.stringify(dropIn)}]\nroot = ${JSON.stringify(join(dir, "root"))}\nstate = ${JSON.stringify(join(dir, "state"))}\n`);
    const { stdout } = await promisify(execFile)(binary, ["--config", main, "config", "dump"], { maxBuffer: 1 << 24 });
    return parse(stdout) as Table;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("kuasar-ctl containerd-config: the drop-in as the real containerd reads it", () => {
  it("containerd 2.x: every handler and sandbox proxy plugin, and runc still there", async () => {
    const cfg = await dumpWithDropIn(containerdBinaries("2").containerd, "2.x");
    const runtimes = at(cfg, "plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes")!;
    assert.equal(at(runtimes, "runc")?.["runtime_type"], "io.containerd.runc.v2", "the default runtime survives the import");
    for (const k of sandboxerKinds) {
      assert.equal(at(runtimes, `kuasar-${k}`)?.["sandboxer"], `kuasar-${k}`);
      assert.equal(at(runtimes, `kuasar-${k}`)?.["runtime_path"], `/opt/kuasar/bin/containerd-shim-kuasar-${k}-v2`);
      assert.equal(at(cfg, "proxy_plugins", `kuasar-${k}`)?.["type"], "sandbox");
    }
  });

  it("containerd 1.7: every bridge handler with its kind, and runc still there (1.7 takes an imported runtimes table whole)", async () => {
    const cfg = await dumpWithDropIn(containerdBinaries("1.7").containerd, "1.7");
    const cri = at(cfg, "plugins", "io.containerd.grpc.v1.cri", "containerd")!;
    assert.equal(at(cri, "runtimes", at(cri)?.["default_runtime_name"] as string)?.["runtime_type"], "io.containerd.runc.v2", "the default runtime survives the import");
    for (const k of sandboxerKinds) {
      assert.equal(at(cri, "runtimes", `kuasar-${k}`)?.["runtime_type"], "io.containerd.kuasar.v1");
      assert.equal(at(cri, "runtimes", `kuasar-${k}`, "options")?.["sandboxer"], k);
    }
  });

  it("the kuasar-io fork: every handler naming its proxy plugin, and runc still there", async () => {
    const cfg = await dumpWithDropIn(kuasarIoContainerdBinaries().containerd, "kuasar-io");
    const cri = at(cfg, "plugins", "io.containerd.grpc.v1.cri", "containerd")!;
    assert.equal(at(cri, "runtimes", "runc")?.["runtime_type"], "io.containerd.runc.v2");
    for (const k of sandboxerKinds) {
      assert.equal(at(cri, "runtimes", `kuasar-${k}`)?.["sandboxer"], `kuasar-${k}`);
      assert.equal(at(cfg, "proxy_plugins", `kuasar-${k}`)?.["address"], `/run/${k}-sandboxer.sock`);
    }
  });
});
