import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { assertIsolated } from "../../testing/isolation.js";
import { containerd2WithKuasar, WASM_HANDLER } from "../../testing/kuasar-containerd2.js";
import { containerd17WithKuasar, WASM_HANDLER_17 } from "../../testing/kuasar-containerd17.js";
import { wasmEchoPod } from "../../testing/wasm-echo-pod.js";
import { importWasmArtifact } from "../../testing/wasm-image.js";
import { echoArgsEnvFileModule } from "../../testing/wat-modules.js";

assertIsolated();

/**
 * A wasm OCI artifact (the module as an `application/wasm` layer, no rootfs): containerd gives
 * the container an empty root, and the sandboxer reads the module from containerd's content
 * store into its cache, named by the layer's digest.
 */
describe("wasm OCI artifacts (application/wasm layers)", () => {
  it("containerd 2.x: the artifact's module runs with args, env, a volume and its exit code; once cached, by digest", async (t) => {
    const env = await containerd2WithKuasar(t, ["runc", "wasm"]);
    let digest = "";
    const run = (arg: string) =>
      wasmEchoPod(t, {
        cri: env.cri,
        containerd: env.containerd,
        handler: WASM_HANDLER,
        logDir: `${env.dir}/logs/${arg}`,
        arg,
        importImage: async (ref) => {
          digest = await importWasmArtifact(env.containerd, "k8s.io", ref, await echoArgsEnvFileModule());
        },
      });
    await run("artifact-1");
    await run("artifact-2");
    const logs = env.sandboxer.logs();
    const hex = digest.slice("sha256:".length);
    const created = logs.split("\n").filter((l) => l.includes('"msg":"container created"') && l.includes(`${hex}.wasm`));
    assert.equal(created.length, 2, "both containers ran the cached module");
  });

  it("containerd 1.7 (shim bridge): the same artifact", async (t) => {
    const env = await containerd17WithKuasar(t, ["runc", "wasm"]);
    await wasmEchoPod(t, {
      cri: env.cri,
      containerd: env.containerd,
      handler: WASM_HANDLER_17,
      logDir: `${env.dir}/logs/artifact17`,
      arg: "artifact-17",
      importImage: async (ref) => {
        await importWasmArtifact(env.containerd, "k8s.io", ref, await echoArgsEnvFileModule());
      },
    });
  });
});
