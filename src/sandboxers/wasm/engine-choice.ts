import { Code } from "../../errors/code.js";
import { RuntimeError } from "../../errors/runtime-error.js";
import { autoEngine, engineFromOptions, wasmEngineNames, type WasmEngineName, type WasmEngineOptions } from "./engine-from-options.js";
import type { WasmEngine } from "./wasm-engine.js";

/**
 * Pod (or container) annotation naming the engine of its containers, over the kind's
 * `wasm_engine`. Kuasar has none (its engine is a build feature); the name follows the
 * project's `io.kuasar.*` annotations, which containerd 1.7 passes with
 * `pod_annotations = ["io.kuasar.*"]`.
 */
export const WASM_ENGINE_ANNOTATION = "io.kuasar.wasm.engine";

/**
 * The engines of one wasm sandboxer: the configured default, made (and checked) when the
 * sandboxer is, and the others on first use by an annotation, each once.
 */
export class WasmEngines {
  readonly default: WasmEngine;
  /** Under `wasm_engine = "auto"`, why the default is not `wasmedge-pod` (what is missing); else undefined. */
  readonly fallback: string | undefined;
  private readonly made = new Map<string, WasmEngine>();

  constructor(
    private readonly options: Partial<WasmEngineOptions>,
    private readonly make: (o: Partial<WasmEngineOptions>) => WasmEngine = (o) => engineFromOptions(o),
  ) {
    if (options.engine === "auto") {
      ({ engine: this.default, fallback: this.fallback } = autoEngine((engine) => make({ ...options, engine })));
    } else {
      this.default = make(options);
      this.fallback = undefined;
    }
    this.made.set(this.default.name, this.default);
  }

  /** The default engine (and, under `"auto"`, why it fell back to `node`), for the daemon's status. */
  facts(): Record<string, string> {
    return { wasm_engine: this.default.name, ...(this.fallback === undefined ? {} : { wasm_engine_fallback: this.fallback }) };
  }

  /**
   * The engine `annotations` ask for (the first set of the container's, then the pod's), else
   * the default. An unknown name is InvalidArgument; an engine not installed here is
   * FailedPrecondition, both naming the annotation.
   */
  choose(...annotations: (Readonly<Record<string, string>> | undefined)[]): WasmEngine {
    const asked = askedEngine(annotations);
    return asked === undefined ? this.default : this.named(asked);
  }

  /**
   * As {@link choose}, for a module of this kind: a WASI preview 2 component that no annotation
   * names an engine for runs on `node` (which transpiles it) when the default cannot run
   * components (WasmEdge), so `"auto"` choosing WasmEdge does not refuse components.
   */
  chooseFor(component: boolean, ...annotations: (Readonly<Record<string, string>> | undefined)[]): WasmEngine {
    const engine = this.choose(...annotations);
    if (!component || engine.components !== "none" || askedEngine(annotations) !== undefined) return engine;
    return this.named("node");
  }

  private named(asked: string): WasmEngine {
    const known = this.made.get(asked);
    if (known) return known;
    if (!(wasmEngineNames as readonly string[]).includes(asked)) {
      throw new RuntimeError(Code.InvalidArgument, `annotation ${WASM_ENGINE_ANNOTATION}: unknown wasm engine ${JSON.stringify(asked)} (known: ${wasmEngineNames.join(", ")})`);
    }
    let engine: WasmEngine;
    try {
      engine = this.make({ ...this.options, engine: asked as WasmEngineName });
    } catch (err) {
      const e = RuntimeError.from(err);
      throw new RuntimeError(e.code, `annotation ${WASM_ENGINE_ANNOTATION}: ${e.message}`, { cause: err });
    }
    this.made.set(asked, engine);
    return engine;
  }
}

/** The engine the first annotation set that names one asks for. */
function askedEngine(annotations: readonly (Readonly<Record<string, string>> | undefined)[]): string | undefined {
  return annotations.map((a) => a?.[WASM_ENGINE_ANNOTATION]).find((v) => v !== undefined && v !== "");
}
