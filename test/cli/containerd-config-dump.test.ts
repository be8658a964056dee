import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { parse } from "smol-toml";
import { containerdConfigSnippet, defaultSocketOf, type ContainerdFlavour } from "../../src/cli/containerd-config.js";
import { builtinKindNames as sandboxerKinds } from "../../src/daemon/sandboxer-kinds.js";
import { containerdBinaries, kuasarIoContainerdBinaries } from "../../testing/deps.js";

type Table = Record<string, unknown>;
const at = (t: unknown, ...path: string[]): Table | undefined => path.reduce<unknown>((o, k) => (o as Table | undefined)?.[k], t) as Table | undefined;
const snippet = (flavour: ContainerdFlavour) => containerdConfigSnippet({ flavour, kinds: sandboxerKinds, binDir: "/opt/kuasar/bin", socketOf: defaultSocketOf });

/** A node's own config: settings of the CRI plugin and a runc runtime with options, which ours must not disturb. */
const NODE_CONFIG_2X = `
[plugins.'io.containerd.cri.v1.runtime']
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    conf_dir = "/etc/cni/node.d"
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      SystemdCgroup = true
`;
const NODE_CONFIG_17 = `
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "example.com/pause:node"
  [plugins."io.containerd.grpc.v1.cri".cni]
    conf_dir = "/etc/cni/node.d"
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = true
`;

/**
 * What the real containerd makes of a node's config with ours added as the README says:
 * 2.x imports the drop-in, 1.7 and the fork have the snippet appended to config.toml.
 */
async function dump(binary: string, flavour: ContainerdFlavour): Promise<Table> {
  const dir = mkdtempSync("/tmp/ccdump-");
  try {
    const main = join(dir, "config.toml");
    const head = `root = ${JSON.stringify(join(dir, "root"))}\nstate = ${JSON.stringify(join(dir, "state"))}\n`;
    if (flavour === "2.x") {
      writeFileSync(join(dir, "kuasar.toml"), snippet(flavour));
      writeFileSync(main, `version = 3\nimports = [${JSON.stringify(join(dir, "kuasar.toml"))}]\n${head}${NODE_CONFIG_2X}`);
    } else {
      writeFileSync(main, `version = 2\n${head}${NODE_CONFIG_17}\n${snippet(flavour).replace(/^version = 2$/m, "")}`);
    }
    const { stdout } = await promisify(execFile)(binary, ["--config", main, "config", "dump"], { maxBuffer: 1 << 24 });
    return parse(stdout) as Table;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("kuasar-ctl containerd-config: what the real containerd reads", () => {
  it("containerd 2.x imports the drop-in: every handler and sandbox proxy plugin, the node's own settings kept", async () => {
    const cfg = await dump(containerdBinaries("2").containerd, "2.x");
    const cri = at(cfg, "plugins", "io.containerd.cri.v1.runtime")!;
    assert.equal(at(cri, "cni")?.["conf_dir"], "/etc/cni/node.d");
    assert.equal(at(cri, "containerd", "runtimes", "runc", "options")?.["SystemdCgroup"], true);
    for (const k of sandboxerKinds) {
      assert.equal(at(cri, "containerd", "runtimes", `kuasar-${k}`)?.["sandboxer"], `kuasar-${k}`);
      assert.equal(at(cri, "containerd", "runtimes", `kuasar-${k}`)?.["runtime_path"], `/opt/kuasar/bin/containerd-shim-kuasar-${k}-v2`);
      assert.equal(at(cfg, "proxy_plugins", `kuasar-${k}`)?.["type"], "sandbox");
    }
  });

  for (const [flavour, binary] of [
    ["1.7", () => containerdBinaries("1.7").containerd],
    ["kuasar-io", () => kuasarIoContainerdBinaries().containerd],
  ] as const) {
    it(`containerd ${flavour} with the snippet in its config: every handler, the node's own settings kept`, async () => {
      const cfg = await dump(binary(), flavour);
      const cri = at(cfg, "plugins", "io.containerd.grpc.v1.cri")!;
      assert.equal(cri["sandbox_image"], "example.com/pause:node");
      assert.equal(at(cri, "cni")?.["conf_dir"], "/etc/cni/node.d");
      assert.equal(at(cri, "containerd", "runtimes", "runc", "options")?.["SystemdCgroup"], true);
      for (const k of sandboxerKinds) {
        const h = at(cri, "containerd", "runtimes", `kuasar-${k}`);
        assert.equal(h?.["runtime_type"], "io.containerd.kuasar.v1");
        if (flavour === "1.7") assert.equal(at(h, "options")?.["sandboxer"], k);
        else {
          assert.equal(h?.["sandboxer"], `kuasar-${k}`);
          assert.equal(at(cfg, "proxy_plugins", `kuasar-${k}`)?.["address"], `/run/${k}-sandboxer.sock`);
        }
      }
    });
  }
});
