import type { Logger } from "../../log/logger.js";
import { PodRuntime, type PodRuntimeOptions } from "../../pod/pod-runtime.js";
import { PodSandboxer } from "../../pod/pod-sandboxer.js";
import { HolderHost } from "../../pod/holder-host.js";
import type { EventPublisher } from "../../task/task-event.js";
import { engineFromOptions, type WasmEngineOptions } from "./engine-from-options.js";
import { PodTasks } from "../../pod/pod-tasks.js";
import { WasmRuntime } from "./wasm-runtime.js";

/** Options of the wasm sandboxer. */
export interface WasmSandboxerOptions extends PodRuntimeOptions {
  engine: Partial<WasmEngineOptions>;
}

/**
 * The wasm sandboxer: pods held by a kuasar-holder (the pod's network
 * namespace, exit journal), each container a WASI runner process launched by
 * the holder, on the configured engine (node:wasi by default).
 */
export function createWasmSandboxer(options: WasmSandboxerOptions, log: Logger, events: EventPublisher, minOomScoreAdj: number): PodSandboxer {
  const rt = new PodRuntime(options, log, events, minOomScoreAdj);
  const engine = engineFromOptions(options.engine);
  const tasks = new PodTasks(rt, (ops) => new WasmRuntime(ops, engine));
  return new PodSandboxer("wasm", rt, tasks, new HolderHost(rt, tasks, []));
}
