import { create, toBinary, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { AnySchema, type Any } from "@bufbuild/protobuf/wkt";

/**
 * Packs a message as containerd's `typeurl` does: the bare full name, no
 * `type.googleapis.com/` prefix (protocols.md §1).
 */
export function packAny<D extends DescMessage>(schema: D, message: MessageShape<D>): Any {
  return create(AnySchema, { typeUrl: schema.typeName, value: toBinary(schema, message) });
}
