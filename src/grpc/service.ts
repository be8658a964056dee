import type { DescMethod, DescMethodUnary, DescService } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";

/**
 * The header containerd puts the namespace in on gRPC calls (the ttrpc
 * equivalent is `containerd-namespace-ttrpc`).
 */
export const NAMESPACE_HEADER = "containerd-namespace";

/**
 * The largest message either side accepts, in bytes: 16 MiB, the send/receive
 * limit containerd's proxy-plugin client sets (grpc-go's own default receive
 * limit is 4 MiB).
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

type Methods<S> = S extends GenService<infer M> ? M : never;

/**
 * The local names (`status`, `wait`, …) of the unary methods of a generated
 * service. Streaming methods are left out: nothing we serve over gRPC streams.
 */
export type UnaryMethodName<S extends GenService<GenServiceMethods>> = {
  [K in keyof Methods<S>]: Methods<S>[K]["methodKind"] extends "unary" ? K : never;
}[keyof Methods<S>];

/** The input schema of method `K` of service `S`. */
export type MethodInput<S extends GenService<GenServiceMethods>, K extends keyof Methods<S>> = Methods<S>[K]["input"];

/** The output schema of method `K` of service `S`. */
export type MethodOutput<S extends GenService<GenServiceMethods>, K extends keyof Methods<S>> = Methods<S>[K]["output"];

/** The unary methods of a service descriptor. */
export function unaryMethods(service: DescService): DescMethodUnary[] {
  return service.methods.filter((m): m is DescMethodUnary => m.methodKind === "unary");
}

/** The HTTP/2 `:path` of a method: `/containerd.services.sandbox.v1.Controller/Status` (under `serviceName` when given). */
export function grpcPath(method: DescMethod, serviceName: string = method.parent.typeName): string {
  return `/${serviceName}/${method.name}`;
}

/** A protobuf-es byte array viewed as a Buffer without copying (grpc-js wants Buffers). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
