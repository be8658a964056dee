import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "smol-toml";
import { containerdConfigCommand, containerdConfigSnippet, defaultSocketOf, DROP_IN_NAME, flavourOfVersion } from "../../src/cli/containerd-config.js";
import { builtinKindNames as sandboxerKinds } from "../../src/daemon/sandboxer-kinds.js";

type Table = Record<string, unknown>;
/** The table at `path`, as a plain object (smol-toml makes null-prototype ones). */
const at = (t: unknown, ...path: string[]): Table => JSON.parse(JSON.stringify(path.reduce((o, k) => (o as Table)[k] as Table, t as Table))) as Table;
const all = { kinds: sandboxerKinds, binDir: "/opt/kuasar/bin", socketOf: defaultSocketOf };

describe("kuasar-ctl containerd-config: the snippet", () => {
  it("2.x: one sandbox proxy plugin per kind and a handler that names it, introspectable through our launcher", () => {
    const toml = parse(containerdConfigSnippet({ flavour: "2.x", ...all }));
    assert.equal(toml["version"], 3);
    for (const k of sandboxerKinds) {
      assert.deepEqual(at(toml, "proxy_plugins", `kuasar-${k}`), { type: "sandbox", address: `/run/${k}-sandboxer.sock` });
      assert.deepEqual(at(toml, "plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes", `kuasar-${k}`), {
        runtime_type: "io.containerd.runc.v2",
        runtime_path: `/opt/kuasar/bin/containerd-shim-kuasar-${k}-v2`,
        sandboxer: `kuasar-${k}`,
      });
    }
  });

  it("1.7: shim bridge handlers, each sending its pods to its kind through its options", () => {
    const toml = parse(containerdConfigSnippet({ flavour: "1.7", ...all, kinds: ["runc", "vmm"] }));
    assert.equal(toml["version"], 2);
    const runtimes = at(toml, "plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes");
    assert.deepEqual(Object.keys(runtimes), ["kuasar-runc", "kuasar-vmm"]);
    assert.deepEqual(runtimes["kuasar-vmm"], { runtime_type: "io.containerd.kuasar.v1", pod_annotations: ["io.kuasar.*"], options: { sandboxer: "vmm" } });
    assert.equal(toml["proxy_plugins"], undefined, "1.7 has no sandbox proxy plugins");
  });

  it("kuasar-io: version 2 proxy plugins and handlers naming them", () => {
    const toml = parse(containerdConfigSnippet({ flavour: "kuasar-io", ...all, kinds: ["gvisor"] }));
    assert.equal(toml["version"], 2);
    assert.deepEqual(at(toml, "proxy_plugins", "kuasar-gvisor"), { type: "sandbox", address: "/run/gvisor-sandboxer.sock" });
    assert.deepEqual(at(toml, "plugins", "io.containerd.grpc.v1.cri", "containerd", "runtimes", "kuasar-gvisor"), { runtime_type: "io.containerd.kuasar.v1", sandboxer: "kuasar-gvisor" });
  });
});

describe("kuasar-ctl containerd-config: the version found", () => {
  it("reads Debian's, upstream's and containerd.io's version lines", () => {
    assert.equal(flavourOfVersion("containerd github.com/containerd/containerd 1.7.24~ds1 1.7.24~ds1-6+deb13u1"), "1.7");
    assert.equal(flavourOfVersion("containerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7"), "2.x");
    assert.equal(flavourOfVersion("containerd containerd.io 2.0.0 207ad71"), "2.x");
  });

  it("refuses what it cannot serve, saying how to override", () => {
    assert.throws(() => flavourOfVersion("containerd github.com/containerd/containerd v1.6.20 x"), /1\.7 or later.*--containerd/);
    assert.throws(() => flavourOfVersion("something else"), /--containerd 1\.7\|2\.x\|kuasar-io/);
  });
});

describe("kuasar-ctl containerd-config: the command", () => {
  const run = async (argv: string[]) => {
    let out = "";
    let err = "";
    const code = await containerdConfigCommand(argv, (s) => (out += s), (s) => (err += s));
    return { code, out, err };
  };

  it("--write DIR writes the drop-in and prints its path", async (t) => {
    const dir = mkdtempSync("/tmp/cc-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const r = await run(["--containerd", "2.x", "--kinds", "runc,wasm", "--bin-dir", "/x/bin", "--write", join(dir, "conf.d")]);
    assert.deepEqual(r, { code: 0, out: `${join(dir, "conf.d", DROP_IN_NAME)}\n`, err: "" });
    const toml = parse(readFileSync(join(dir, "conf.d", DROP_IN_NAME), "utf8"));
    assert.deepEqual(Object.keys(at(toml, "proxy_plugins")), ["kuasar-runc", "kuasar-wasm"]);
  });

  it("refuses a drop-in for 1.7 and the fork (1.7 would lose its config's CRI settings), writing nothing", async (t) => {
    const dir = mkdtempSync("/tmp/cc-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (const flavour of ["1.7", "kuasar-io"]) {
      const r = await run(["--containerd", flavour, "--write", dir]);
      assert.equal(r.code, 2);
      assert.match(r.err, /no drop-in for containerd .*add the printed snippet \(without --write\) to its config\.toml/);
    }
    assert.equal(existsSync(join(dir, DROP_IN_NAME)), false);
  });

  it("a bad kind or flavour is refused with exit 2 and nothing written", async (t) => {
    const dir = mkdtempSync("/tmp/cc-");
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const bad = await run(["--containerd", "2.x", "--kinds", "runc,kata", "--write", dir]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown sandboxer kind kata/);
    assert.equal((await run(["--containerd", "1.6", "--write", dir])).code, 2);
    assert.equal(existsSync(join(dir, DROP_IN_NAME)), false);
  });

  it("asks the containerd binary given when no flavour is named, and fails clearly without one", async () => {
    const missing = await run(["--containerd-binary", "/nonexistent/containerd"]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /--version: .*pass --containerd/);
  });
});
