import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { RequestSchema, ResponseSchema, type Request, type Response } from "../gen/ttrpc/request_pb.js";

/** Decodes the data of a Request frame. Throws on malformed protobuf. */
export function decodeRequest(data: Uint8Array): Request {
  return fromBinary(RequestSchema, data);
}

export function encodeRequest(init: MessageInitShape<typeof RequestSchema>): Uint8Array {
  return toBinary(RequestSchema, create(RequestSchema, init));
}

/** Decodes the data of a Response frame; a missing status reads as OK. */
export function decodeResponse(data: Uint8Array): Response {
  return fromBinary(ResponseSchema, data);
}

/** Encodes a Response. Success omits `status` entirely (an Empty reply is zero bytes). */
export function encodeResponse(init: MessageInitShape<typeof ResponseSchema>): Uint8Array {
  return toBinary(ResponseSchema, create(ResponseSchema, init));
}
