import { join } from "node:path";
import type { Logger } from "../../log/logger.js";
import { PodRuntime, type PodRuntimeOptions } from "../../pod/pod-runtime.js";
import { PodSandboxer } from "../../pod/pod-sandboxer.js";
import { HolderHost } from "../../pod/holder-host.js";
import type { EventPublisher } from "../../task/task-event.js";
import { ContainerdContent, grpcAddressOf } from "./containerd-content.js";
import { ComponentCache } from "./component-cache.js";
import { WasmEngines } from "./engine-choice.js";
import { JcoTranspiler } from "./jco-transpiler.js";
import type { WasmEngineOptions } from "./engine-from-options.js";
import { WasmArtifacts } from "./wasm-artifact.js";
import { PodTasks } from "../../pod/pod-tasks.js";
import { WasmRuntime } from "./wasm-runtime.js";

/** Options of the wasm sandboxer. */
export interface WasmSandboxerOptions extends PodRuntimeOptions {
  engine: Partial<WasmEngineOptions>;
}

/**
 * The wasm sandboxer: pods held by a kuasar-holder (the pod's network
 * namespace, exit journal), each container a WASI runner process launched by
 * the holder, on the configured engine (`wasm_engine`) or the one a pod's
 * annotation names; a wasm OCI artifact's module comes from containerd's content store.
 */
export function createWasmSandboxer(options: WasmSandboxerOptions, log: Logger, events: EventPublisher, minOomScoreAdj: number, containerdTtrpcAddress?: string): PodSandboxer {
  const rt = new PodRuntime(options, log, events, minOomScoreAdj);
  const engines = new WasmEngines(options.engine);
  log.info({ wasm_engine: engines.default.name, ...(engines.fallback === undefined ? {} : { fallback: engines.fallback }) }, "wasm engine chosen");
  // Artifacts' modules are read from containerd's content store (its gRPC socket, beside the ttrpc one).
  const artifacts = containerdTtrpcAddress ? new WasmArtifacts(new ContainerdContent(grpcAddressOf(containerdTtrpcAddress)), join(options.dir, "wasm-modules")) : undefined;
  // Components are transpiled (for the node engine) into the state dir, by digest, on first use.
  const components = new ComponentCache(join(options.dir, "wasm-components"), new JcoTranspiler(), log.child({ component: "wasm-components" }));
  const tasks = new PodTasks(rt, (ops) => new WasmRuntime(ops, engines, artifacts, components));
  return new PodSandboxer("wasm", rt, tasks, new HolderHost(rt, tasks, [], () => engines.facts()));
}
