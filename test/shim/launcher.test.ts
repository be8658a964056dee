import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { OptionsSchema } from "../../src/gen/runtimeoptions/v1/api_pb.js";
import { LAUNCHER_SANDBOXER_FILE } from "../../src/shim/sandboxer-choice.js";
import { repoRoot } from "../../testing/deps.js";

/** The runtime handler's options as containerd writes them to a shim's stdin: an Any of runtimeoptions.v1.Options whose config_body is the TOML table. */
function optionsStdin(toml: string): Uint8Array {
  const value = toBinary(OptionsSchema, create(OptionsSchema, { configBody: new TextEncoder().encode(toml) }));
  return toBinary(AnySchema, create(AnySchema, { typeUrl: "runtimeoptions.v1.Options", value }));
}

describe("the shim launcher records the sandboxer its invocation asks for", () => {
  let dir = "";
  let sock = "";
  let server: Server;
  before(async () => {
    dir = mkdtempSync("/tmp/klaunch-");
    sock = join(dir, "shim.sock");
    server = createServer().listen(sock);
    await new Promise((r) => server.once("listening", r));
  });
  after(() => {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `bin/<name> start` in a fresh bundle with `stdin` (containerd's options bytes); returns the kind it recorded, or undefined. */
  async function start(name: string, stdin: Uint8Array | undefined): Promise<string | undefined> {
    const bundle = mkdtempSync(join(dir, "b-"));
    const out = await new Promise<string>((resolve, reject) => {
      // PATH is empty: the launcher must manage with shell builtins.
      const child = execFile(join(repoRoot(), "bin", name), ["-namespace", "k8s.io", "-id", "x", "start"], { cwd: bundle, env: { PATH: "", KUASAR_SHIM_SOCKET: sock } }, (err, stdout, stderr) => (err ? reject(new Error(stderr, { cause: err })) : resolve(stdout)));
      child.stdin!.end(stdin ?? new Uint8Array());
    });
    assert.equal(out, `unix://${sock}\n`);
    const f = join(bundle, LAUNCHER_SANDBOXER_FILE);
    return existsSync(f) ? readFileSync(f, "utf8").trim() : undefined;
  }

  it("takes `sandboxer` from the runtime handler's options, in either TOML quoting", async () => {
    assert.equal(await start("containerd-shim-kuasar-v1", optionsStdin(`sandboxer = "wasm"\n`)), "wasm");
    assert.equal(await start("containerd-shim-kuasar-v1", optionsStdin(`other = 1\nsandboxer = 'gvisor'\n`)), "gvisor");
  });

  it("records nothing without options or with no sandboxer in them (the bridge's default applies)", async () => {
    assert.equal(await start("containerd-shim-kuasar-v1", undefined), undefined);
    assert.equal(await start("containerd-shim-kuasar-v1", optionsStdin(`x = 2\n`)), undefined);
  });

  it("ignores a value that is not a plain kind name", async () => {
    assert.equal(await start("containerd-shim-kuasar-v1", optionsStdin(`sandboxer = "../../etc"\n`)), undefined);
  });

  it("run under Kuasar's names asks for that kind; the handler's options still win", async () => {
    assert.equal(await start("containerd-shim-kuasar-wasm-v2", undefined), "wasm");
    assert.equal(await start("containerd-shim-kuasar-vmm-v2", undefined), "vmm");
    assert.equal(await start("containerd-shim-kuasar-runc-v2", undefined), "runc");
    assert.equal(await start("containerd-shim-kuasar-vmm-v2", optionsStdin(`sandboxer = "runc"\n`)), "runc");
  });
});
