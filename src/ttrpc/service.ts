import { create, fromBinary, toBinary, type DescMessage, type DescService, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { Code } from "../errors/code.js";
import { RuntimeError } from "../errors/runtime-error.js";
import type { CallOptions, TtrpcClient } from "./client.js";
import type { CallContext, TtrpcServer, UnaryHandler } from "./server.js";

type Methods<S> = S extends GenService<infer M> ? M : never;

/** A typed implementation of a generated service: one async function per unary method. */
export type ServiceImpl<S extends GenService<GenServiceMethods>> = {
  [K in keyof Methods<S>]: (
    request: MessageShape<Methods<S>[K]["input"]>,
    ctx: CallContext,
  ) => Promise<MessageInitShape<Methods<S>[K]["output"]>>;
};

/** A typed client of a generated service. */
export type ServiceClient<S extends GenService<GenServiceMethods>> = {
  [K in keyof Methods<S>]: (
    request: MessageInitShape<Methods<S>[K]["input"]>,
    options?: CallOptions,
  ) => Promise<MessageShape<Methods<S>[K]["output"]>>;
};

/**
 * Registers `impl` for `service` on a ttrpc server. A method missing from a
 * partial implementation answers Unimplemented; a payload that does not decode
 * answers Internal, as containerd/ttrpc does.
 */
export function serveService<S extends GenService<GenServiceMethods>>(
  server: TtrpcServer,
  service: S,
  impl: Partial<ServiceImpl<S>>,
  typeName: string = (service as DescService).typeName,
): void {
  const handlers: Record<string, UnaryHandler> = {};
  for (const m of (service as DescService).methods) {
    const fn = (impl as Record<string, ((req: unknown, ctx: CallContext) => Promise<unknown>) | undefined>)[m.localName];
    handlers[m.name] = fn
      ? unary(m.input, m.output, fn.bind(impl))
      : () => Promise.reject(new RuntimeError(Code.Unimplemented, `method ${m.name} not implemented`));
  }
  server.register(typeName, handlers);
}

/** Adapts one typed function to the byte-level handler the server runs. */
function unary(input: DescMessage, output: DescMessage, fn: (req: unknown, ctx: CallContext) => Promise<unknown>): UnaryHandler {
  return async (payload, ctx) => {
    let req: unknown;
    try {
      req = fromBinary(input, payload);
    } catch (err) {
      throw new RuntimeError(Code.Internal, `ttrpc: error unmarshalling payload: ${(err as Error).message}`, { cause: err });
    }
    const res = await fn(req, ctx);
    return toBinary(output, create(output, res as MessageInitShape<DescMessage>));
  };
}

/** Builds a typed client for `service` that calls through `client`. */
export function serviceClient<S extends GenService<GenServiceMethods>>(
  client: TtrpcClient,
  service: S,
  typeName: string = (service as DescService).typeName,
): ServiceClient<S> {
  const out: Record<string, (req: unknown, options?: CallOptions) => Promise<unknown>> = {};
  for (const m of (service as DescService).methods) {
    out[m.localName] = async (req, options) => {
      const payload = toBinary(m.input, create(m.input, req as MessageInitShape<DescMessage>));
      const reply = await client.call(typeName, m.name, payload, options);
      return fromBinary(m.output, reply);
    };
  }
  return out as ServiceClient<S>;
}
