/* ttrpc framing and the few protobuf fields the endpoint reads or writes.
 * Pure functions over byte buffers: no sockets, no allocation beyond what they return. */
#ifndef KUASAR_ENDPOINT_WIRE_H
#define KUASAR_ENDPOINT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define TTRPC_HEADER 10
#define TTRPC_MAX_DATA (4u << 20)
#define TTRPC_REQUEST 1
#define TTRPC_RESPONSE 2

/* gRPC status codes the endpoint itself answers with. */
enum {
  CODE_OK = 0,
  CODE_INVALID_ARGUMENT = 3,
  CODE_DEADLINE_EXCEEDED = 4,
  CODE_NOT_FOUND = 5,
  CODE_ALREADY_EXISTS = 6,
  CODE_RESOURCE_EXHAUSTED = 8,
  CODE_FAILED_PRECONDITION = 9,
  CODE_UNIMPLEMENTED = 12,
  CODE_INTERNAL = 13,
  CODE_UNAVAILABLE = 14,
};

struct frame_header {
  uint32_t length;
  uint32_t stream;
  uint8_t type;
  uint8_t flags;
};

void header_decode(const uint8_t *p, struct frame_header *h);
void header_encode(uint8_t *p, const struct frame_header *h);

/* A length-delimited field's view into a message. */
struct slice {
  const uint8_t *p;
  size_t n;
};

/* The parts of a ttrpc Request the relay needs. */
struct request_view {
  struct slice service;
  struct slice method;
  struct slice payload;
  int64_t timeout_nano;
};

/* Parses a ttrpc Request; 0 on success, -1 on malformed protobuf. */
int request_parse(const uint8_t *p, size_t n, struct request_view *out);

/* Writes a protobuf KeyValue metadata entry (Request field 5) for key=value into out
 * (at most cap bytes); returns its length or -1 when it does not fit. */
int metadata_entry(uint8_t *out, size_t cap, const char *key, const char *value);

/* Encodes a whole ttrpc Response frame (header included) with `code`/`message` and an
 * optional payload; returns a malloc'd buffer and its length in *len, NULL on OOM. */
uint8_t *response_frame(uint32_t stream, int code, const char *message, const uint8_t *payload, size_t payload_len, size_t *len);

/* Protobuf writing helpers for the control API's small messages. */
size_t pb_varint(uint8_t *out, uint64_t v);
size_t pb_bytes_field(uint8_t *out, uint32_t field, const void *data, size_t n);
size_t pb_varint_field(uint8_t *out, uint32_t field, uint64_t v);

/* Reads field `field` (length-delimited) of a flat message; 0 found, 1 absent, -1 malformed. */
int pb_find_bytes(const uint8_t *p, size_t n, uint32_t field, struct slice *out);

#endif
