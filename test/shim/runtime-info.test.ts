import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { AnySchema } from "@bufbuild/protobuf/wkt";
import { OptionsSchema as RuncOptionsSchema } from "../../src/gen/containerd/runc/v1/options_pb.js";
import { RuntimeInfoSchema } from "../../src/gen/containerd/types/introspection_pb.js";
import { OptionsSchema } from "../../src/gen/runtimeoptions/v1/api_pb.js";
import {
  FEATURES_TYPE_URL,
  kindFeatures,
  kindFromLauncherName,
  parseInfoRequest,
  runtimeInfoBytes,
  sandboxerInToml,
  type OciFeatures,
} from "../../src/shim/runtime-info.js";
import { repoRoot } from "../../testing/deps.js";

const RUNC: OciFeatures = {
  ociVersionMin: "1.0.0",
  ociVersionMax: "1.0.2-dev",
  mountOptions: ["bind", "rbind", "ro", "rro", "rnosuid", "nosuid"],
  linux: { namespaces: ["user", "pid"], mountExtensions: { idmap: { enabled: true } } },
};

const runtimeOptions = (toml: string) =>
  toBinary(AnySchema, create(AnySchema, { typeUrl: "runtimeoptions.v1.Options", value: toBinary(OptionsSchema, create(OptionsSchema, { configBody: new TextEncoder().encode(toml) })) }));
const runcOptions = (binaryName: string) =>
  toBinary(AnySchema, create(AnySchema, { typeUrl: "containerd.runc.v1.Options", value: toBinary(RuncOptionsSchema, create(RuncOptionsSchema, { binaryName })) }));

describe("runtime info: which kind and runtime -info is asked about", () => {
  it("reads `sandboxer` from runtimeoptions TOML and BinaryName from runc options; nothing from empty stdin", () => {
    assert.equal(parseInfoRequest(runtimeOptions(`a = 1\nsandboxer = "gvisor"\n`)).sandboxer, "gvisor");
    assert.equal(parseInfoRequest(runtimeOptions(`sandboxer = "../x"\n`)).sandboxer, undefined);
    assert.equal(parseInfoRequest(runcOptions("/usr/bin/crun")).runcBinary, "/usr/bin/crun");
    assert.equal(parseInfoRequest(runcOptions("")).runcBinary, undefined);
    assert.deepEqual(parseInfoRequest(new Uint8Array()), {});
    assert.throws(() => parseInfoRequest(new Uint8Array([0xff, 0xff, 0xff])));
  });

  it("takes the kind from a Kuasar-style launcher name only", () => {
    assert.equal(kindFromLauncherName("containerd-shim-kuasar-vmm-v2"), "vmm");
    assert.equal(kindFromLauncherName("containerd-shim-kuasar-v1"), undefined);
    assert.equal(sandboxerInToml(`sandboxer='wasm'`), "wasm");
  });
});

describe("runtime info: each kind claims only what it honours", () => {
  it("runc passes runc's mount options (rro included) and drops idmapped mounts (no CRI userns)", () => {
    const f = kindFeatures("runc", RUNC);
    assert.deepEqual(f.mountOptions, RUNC.mountOptions);
    assert.deepEqual(f.linux, { namespaces: ["user", "pid"] });
    assert.ok(RUNC.linux!["mountExtensions"], "the input is left as it was");
  });

  it("vmm keeps rro alone of the recursive attributes, gvisor and wasm never claim rro", () => {
    assert.deepEqual(kindFeatures("vmm", RUNC).mountOptions, ["bind", "rbind", "ro", "rro", "nosuid"]);
    assert.ok(!kindFeatures("gvisor", RUNC).mountOptions!.includes("rro"));
    assert.ok(kindFeatures("gvisor", undefined).mountOptions!.includes("ro"));
    assert.deepEqual(kindFeatures("wasm", undefined).mountOptions, ["bind", "rbind"]);
    assert.deepEqual(kindFeatures("runc", undefined).mountOptions, [], "a runc without `features` claims nothing");
  });

  it("always carries a linux object (containerd 2.1 dereferences it unchecked)", () => {
    for (const kind of ["runc", "vmm", "gvisor", "wasm"]) {
      assert.equal(typeof kindFeatures(kind, undefined).linux, "object", kind);
      assert.equal(typeof kindFeatures(kind, RUNC).linux, "object", kind);
    }
  });

  it("encodes RuntimeInfo with the options echoed and the features as JSON in containerd's type URL", () => {
    const req = parseInfoRequest(runcOptions("runc"));
    const info = fromBinary(RuntimeInfoSchema, runtimeInfoBytes("io.containerd.kuasar.v1", "1.2.3", req, kindFeatures("runc", RUNC)));
    assert.equal(info.name, "io.containerd.kuasar.v1");
    assert.equal(info.version?.version, "1.2.3");
    assert.equal(info.options?.typeUrl, "containerd.runc.v1.Options");
    assert.equal(info.features?.typeUrl, FEATURES_TYPE_URL);
    assert.ok((JSON.parse(new TextDecoder().decode(info.features!.value)) as OciFeatures).mountOptions!.includes("rro"));
  });
});

/** Runs `bin/<name> -info` with `stdin`, as containerd's introspection does. */
function info(name: string, stdin: Uint8Array): Promise<OciFeatures> {
  return new Promise((resolve, reject) => {
    const child = execFile(join(repoRoot(), "bin", name), ["-info"], { encoding: "buffer" }, (err, stdout, stderr) => {
      if (err) return reject(new Error(stderr.toString(), { cause: err }));
      const ri = fromBinary(RuntimeInfoSchema, new Uint8Array(stdout));
      resolve(JSON.parse(new TextDecoder().decode(ri.features!.value)) as OciFeatures);
    });
    child.stdin!.end(stdin);
  });
}

describe("the launcher's -info", () => {
  it("reports the configured runc's rro for runc, none for gvisor (by options or by name)", async () => {
    assert.ok((await info("containerd-shim-kuasar-v1", new Uint8Array())).mountOptions!.includes("rro"), "the host's runc supports rro");
    assert.ok((await info("containerd-shim-kuasar-runc-v2", runcOptions("runc"))).mountOptions!.includes("rro"));
    assert.ok(!(await info("containerd-shim-kuasar-v1", runtimeOptions(`sandboxer = "gvisor"\n`))).mountOptions!.includes("rro"));
    assert.ok(!(await info("containerd-shim-kuasar-gvisor-v2", new Uint8Array())).mountOptions!.includes("rro"));
  });

  it("claims no mount option when the options name a runc that does not exist", async () => {
    const f = await info("containerd-shim-kuasar-runc-v2", runcOptions("/nonexistent/runc"));
    assert.deepEqual(f.mountOptions, []);
  });
});
