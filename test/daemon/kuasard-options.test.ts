import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { describe, it } from "node:test";
import { readTomlFile } from "../../src/config/toml-file.js";
import { defaultServerLimits, resolveKuasardOptions as resolveFor, taskSocketPath } from "../../src/daemon/kuasard-options.js";
import { builtinSandboxerKinds } from "../../src/daemon/sandboxer-kinds.js";
import type { GvisorKindOptions } from "../../src/sandboxers/gvisor/gvisor-kind.js";
import type { RuncKindOptions } from "../../src/sandboxers/runc/runc-kind.js";

const resolveKuasardOptions = (toml: Record<string, unknown>, flags: Record<string, unknown>) => resolveFor(toml, flags, builtinSandboxerKinds);
const gvisor = (o: ReturnType<typeof resolveKuasardOptions>) => o.sandboxer["gvisor"]!.own as GvisorKindOptions;

const packagedConfig = fileURLToPath(new URL("../../../packaging/kuasard.toml", import.meta.url));

describe("kuasard options: the gvisor sandboxer", () => {
  it("takes the documented defaults from packaging/kuasard.toml", async () => {
    const o = resolveKuasardOptions(await readTomlFile(packagedConfig), { sandboxers: "runc,wasm,gvisor" });
    assert.deepEqual(o.sandboxers, ["runc", "wasm", "gvisor"]);
    assert.equal(o.sandboxer["gvisor"]!.listen, "/run/gvisor-sandboxer.sock");
    assert.equal(o.sandboxer["gvisor"]!.dir, "/run/kuasar-gvisor");
    const g = gvisor(o);
    assert.deepEqual([g.runscBinary, g.runscPlatform, g.runscNetwork, g.runscDebugLogDir, g.runscFlags, g.runscCommandTimeoutMs], ["", "auto", "auto", "", [], 30000]);
  });

  it("reads runsc settings and --listen/--dir for a single gvisor sandboxer", () => {
    const toml = { sandboxers: { gvisor: { runsc_platform: "kvm", runsc_network: "sandbox", runsc_flags: ["--overlay2=root:memory"] } } };
    const o = resolveKuasardOptions(toml, { sandboxers: "gvisor", listen: "/tmp/g.sock", dir: "/tmp/g" });
    assert.deepEqual([gvisor(o).runscPlatform, gvisor(o).runscNetwork, gvisor(o).runscFlags], ["kvm", "sandbox", ["--overlay2=root:memory"]]);
    assert.deepEqual([o.sandboxer["gvisor"]!.listen, o.sandboxer["gvisor"]!.dir], ["/tmp/g.sock", "/tmp/g"]);
  });

  it("names the key of a bad value", () => {
    assert.throws(() => resolveKuasardOptions({ sandboxers: { gvisor: { runsc_network: "bridge" } } }, {}), /config \[sandboxers\.gvisor\] runsc_network: expected one of auto, sandbox, host, none/);
    assert.throws(() => resolveKuasardOptions({ sandboxers: { gvisor: { runsc_platform: "qemu" } } }, {}), /\[sandboxers\.gvisor\] runsc_platform/);
  });
});

describe("kuasard options: server limits", () => {
  it("documents the defaults in packaging/kuasard.toml and reads a [limits] table", async () => {
    assert.deepEqual(resolveKuasardOptions(await readTomlFile(packagedConfig), {}).limits, defaultServerLimits);
    assert.deepEqual(resolveKuasardOptions({}, {}).limits, defaultServerLimits);
    const o = resolveKuasardOptions({ limits: { max_connections: 8, idle_timeout_ms: 1000, stall_timeout_ms: 200, ping_interval_ms: 300 } }, {});
    assert.deepEqual(o.limits, { maxConnections: 8, idleTimeoutMs: 1000, stallTimeoutMs: 200, pingIntervalMs: 300 });
  });

  it("refuses a bad limit, naming it", () => {
    assert.throws(() => resolveKuasardOptions({ limits: { max_connections: 0 } }, {}), /config \[limits\] max_connections: must be at least 1/);
    assert.throws(() => resolveKuasardOptions({ limits: { idle_timeout_ms: 2 ** 31 } }, {}), /config \[limits\] idle_timeout_ms: must be at most/);
    assert.throws(() => resolveKuasardOptions({ limits: { stall: 1 } }, {}), /config \[limits\] stall: not a key of this table \(known: max_connections, idle_timeout_ms, stall_timeout_ms, ping_interval_ms\)/);
    assert.throws(() => resolveKuasardOptions({ limits: 5 }, {}), /config limits: expected a table/);
  });
});

describe("kuasard options: state directories of any length that works", () => {
  const longDir = `/var/lib/kuasar/${"n".repeat(200)}/runc-sandboxer`;

  it("accepts a --dir and --state-dir far longer than a unix socket path", () => {
    const o = resolveKuasardOptions({}, { sandboxers: "runc", dir: longDir, stateDir: longDir });
    assert.equal(o.sandboxer["runc"]!.dir, longDir);
    assert.equal(o.stateDir, longDir);
    const task = taskSocketPath(o.sandboxer["runc"]!);
    assert.ok(Buffer.byteLength(task) <= 107, `${task} fits sun_path`);
    assert.equal(taskSocketPath(o.sandboxer["runc"]!), task, "stable across restarts");
    assert.equal(taskSocketPath(resolveKuasardOptions({}, { sandboxers: "runc", dir: "/run/kuasar-runc" }).sandboxer["runc"]!), "/run/kuasar-runc/task.sock");
  });

  it("rejects only what cannot work, naming the flag or key", () => {
    const tooLong = `/${"d/".repeat(1600)}x`;
    assert.throws(() => resolveKuasardOptions({}, { sandboxers: "runc", dir: tooLong }), /^InvalidArgument: --dir: 3202 bytes is too long; at most 3072/);
    assert.throws(() => resolveKuasardOptions({}, { stateDir: tooLong }), /--state-dir: 3202 bytes is too long/);
    assert.throws(() => resolveKuasardOptions({ sandboxers: { vmm: { dir: `/x/${"c".repeat(256)}` } } }, {}), /config \[sandboxers\.vmm\] dir: the component .* is 256 bytes; a file name may have at most 255/);
    assert.throws(() => resolveKuasardOptions({ state_dir: "relative" }, {}), /config state_dir: expected an absolute path/);
  });
});

describe("kuasard options: which Sandbox API a socket speaks", () => {
  it("documents upstream as the default in packaging/kuasard.toml, with no second socket", async () => {
    const o = resolveKuasardOptions(await readTomlFile(packagedConfig), { sandboxers: "runc,wasm,vmm,gvisor" });
    for (const k of ["runc", "wasm", "vmm", "gvisor"]) assert.deepEqual([o.sandboxer[k]!.sandboxApi, o.sandboxer[k]!.kuasarIoListen], ["upstream", ""]);
  });

  it("reads sandbox_api and kuasar_io_listen per sandboxer, and --sandbox-api for a single one", () => {
    const o = resolveKuasardOptions({ sandboxers: { runc: { sandbox_api: "kuasar-io" }, vmm: { kuasar_io_listen: "/run/vmm-kuasar-io.sock" } } }, {});
    assert.deepEqual([o.sandboxer["runc"]!.sandboxApi, o.sandboxer.vmm.sandboxApi, o.sandboxer.vmm.kuasarIoListen], ["kuasar-io", "upstream", "/run/vmm-kuasar-io.sock"]);
    assert.equal(resolveKuasardOptions({}, { sandboxers: "runc", listen: "/run/runc-sandboxer.sock", sandboxApi: "kuasar-io" }).sandboxer["runc"]!.sandboxApi, "kuasar-io");
  });

  it("refuses an unknown API, a relative or shared second socket, and --sandbox-api with several sandboxers", () => {
    assert.throws(() => resolveKuasardOptions({ sandboxers: { runc: { sandbox_api: "v1" } } }, {}), /config \[sandboxers\.runc\] sandbox_api: expected one of upstream, kuasar-io/);
    assert.throws(() => resolveKuasardOptions({ sandboxers: { runc: { kuasar_io_listen: "x.sock" } } }, {}), /kuasar_io_listen: expected an absolute socket path/);
    assert.throws(() => resolveKuasardOptions({ sandboxers: { runc: { listen: "/run/a.sock", kuasar_io_listen: "/run/a.sock" } } }, {}), /the same socket as listen/);
    assert.throws(() => resolveKuasardOptions({}, { sandboxers: "runc,wasm", sandboxApi: "kuasar-io" }), /--sandbox-api apply to a single sandboxer/);
  });
});

describe("kuasard options: each kind's own keys", () => {
  it("refuses a key of another kind, naming the table, the key and the kind it belongs to", () => {
    assert.throws(() => resolveKuasardOptions({ sandboxers: { runc: { runsc_platform: "ptrace" } } }, {}), /^InvalidArgument: config \[sandboxers\.runc\] runsc_platform: not a key of the runc kind \(it belongs to gvisor\)$/);
    assert.throws(() => resolveKuasardOptions({ sandboxers: { runc: { hypervisor: {} } } }, {}), /\[sandboxers\.runc\] hypervisor: not a key of the runc kind \(it belongs to vmm\)/);
    assert.throws(() => resolveKuasardOptions({ sandboxers: { vmm: { shm_size_mb: 128 } } }, {}), /\[sandboxers\.vmm\] shm_size_mb: not a key of the vmm kind \(it belongs to runc, wasm, gvisor\)/);
    assert.throws(() => resolveKuasardOptions({ runc_binary: "runc" }, {}), /config runc_binary: not a top-level key \(it belongs to runc\)/);
  });

  it("refuses a key of no table, listing the known ones", () => {
    assert.throws(() => resolveKuasardOptions({ sandboxers: { wasm: { wasm_engin: "node" } } }, {}), /\[sandboxers\.wasm\] wasm_engin: not a key of the wasm kind \(known: shm_size_mb, reconcile_interval_secs, wasm_engine, wasmtime_binary\)/);
  });

  it("reads the shm size and the command timeouts", () => {
    const o = resolveKuasardOptions({ sandboxers: { runc: { shm_size_mb: 128, runc_command_timeout_ms: 5000 }, gvisor: { runsc_command_timeout_ms: 7000 } } }, {});
    const runc = o.sandboxer["runc"]!.own as RuncKindOptions;
    assert.deepEqual([runc.shmSizeMb, runc.runcCommandTimeoutMs, gvisor(o).runscCommandTimeoutMs, gvisor(o).shmSizeMb], [128, 5000, 7000, 64]);
    assert.throws(() => resolveKuasardOptions({ sandboxers: { runc: { shm_size_mb: 0 } } }, {}), /\[sandboxers\.runc\] shm_size_mb: must be at least 1/);
  });

  it("refuses an unknown kind", () => {
    assert.throws(() => resolveKuasardOptions({ sandboxers: { kata: {} } }, {}), /config sandboxers: unknown kind "kata" \(known: runc, wasm, vmm, gvisor\)/);
    assert.throws(() => resolveKuasardOptions({}, { sandboxers: "runc,kata" }), /unknown kind "kata"/);
  });
});

describe("kuasard options: metrics and tracing", () => {
  it("documents both off in packaging/kuasard.toml", async () => {
    const o = resolveKuasardOptions(await readTomlFile(packagedConfig), {});
    assert.equal(o.metricsAddress, "");
    assert.deepEqual(o.tracing, { otlpEndpoint: "", serviceName: "kuasard" });
  });

  it("reads metrics_address and a [tracing] table", () => {
    const o = resolveKuasardOptions({ metrics_address: "127.0.0.1:9325", tracing: { otlp_endpoint: "http://collector:4318/v1/traces", service_name: "node-7" } }, {});
    assert.equal(o.metricsAddress, "127.0.0.1:9325");
    assert.deepEqual(o.tracing, { otlpEndpoint: "http://collector:4318/v1/traces", serviceName: "node-7" });
  });

  it("refuses a bad address or endpoint, naming the key", () => {
    assert.throws(() => resolveKuasardOptions({ metrics_address: "9325" }, {}), /^InvalidArgument: config metrics_address: want host:port/);
    assert.throws(() => resolveKuasardOptions({ tracing: { otlp_endpoint: "collector:4318" } }, {}), /config \[tracing\] otlp_endpoint: want an http\(s\) URL/);
    assert.throws(() => resolveKuasardOptions({ tracing: { endpoint: "x" } }, {}), /config \[tracing\] endpoint: not a key of this table/);
    assert.throws(() => resolveKuasardOptions({ tracing: "on" }, {}), /config tracing: expected a table/);
  });
});
