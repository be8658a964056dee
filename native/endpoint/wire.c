#include "wire.h"

#include <stdlib.h>
#include <string.h>

void header_decode(const uint8_t *p, struct frame_header *h) {
  h->length = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  h->stream = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
  h->type = p[8];
  h->flags = p[9];
}

void header_encode(uint8_t *p, const struct frame_header *h) {
  p[0] = h->length >> 24, p[1] = h->length >> 16, p[2] = h->length >> 8, p[3] = h->length;
  p[4] = h->stream >> 24, p[5] = h->stream >> 16, p[6] = h->stream >> 8, p[7] = h->stream;
  p[8] = h->type, p[9] = h->flags;
}

/* Reads a varint at *i; -1 when truncated or longer than 10 bytes. */
static int read_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (*i >= n) return -1;
    uint8_t b = p[(*i)++];
    r |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *v = r;
      return 0;
    }
  }
  return -1;
}

/* Visits every field; calls fn for each (wire type 0: value in v; 2: bytes in s). */
typedef int (*field_fn)(void *ctx, uint32_t field, int wire, uint64_t v, struct slice s);

static int walk(const uint8_t *p, size_t n, field_fn fn, void *ctx) {
  size_t i = 0;
  while (i < n) {
    uint64_t key, v = 0;
    struct slice s = {0};
    if (read_varint(p, n, &i, &key) < 0) return -1;
    uint32_t field = (uint32_t)(key >> 3);
    int wire = key & 7;
    if (field == 0) return -1;
    switch (wire) {
    case 0:
      if (read_varint(p, n, &i, &v) < 0) return -1;
      break;
    case 1:
      if (n - i < 8) return -1;
      i += 8;
      break;
    case 2: {
      uint64_t len;
      if (read_varint(p, n, &i, &len) < 0 || len > n - i) return -1;
      s.p = p + i, s.n = (size_t)len;
      i += (size_t)len;
      break;
    }
    case 5:
      if (n - i < 4) return -1;
      i += 4;
      break;
    default:
      return -1;
    }
    if (fn && fn(ctx, field, wire, v, s) < 0) return -1;
  }
  return 0;
}

static int request_field(void *ctx, uint32_t field, int wire, uint64_t v, struct slice s) {
  struct request_view *r = ctx;
  switch (field) {
  case 1:
    if (wire != 2) return -1;
    r->service = s;
    break;
  case 2:
    if (wire != 2) return -1;
    r->method = s;
    break;
  case 3:
    if (wire != 2) return -1;
    r->payload = s;
    break;
  case 4:
    if (wire != 0) return -1;
    r->timeout_nano = (int64_t)v;
    break;
  case 5:
    if (wire != 2 || walk(s.p, s.n, NULL, NULL) < 0) return -1;
    break;
  }
  return 0;
}

int request_parse(const uint8_t *p, size_t n, struct request_view *out) {
  memset(out, 0, sizeof *out);
  return walk(p, n, request_field, out);
}

struct find_ctx {
  uint32_t field;
  struct slice *out;
  int found;
};

static int find_field(void *ctx, uint32_t field, int wire, uint64_t v, struct slice s) {
  (void)v;
  struct find_ctx *f = ctx;
  if (field == f->field && wire == 2) {
    *f->out = s;
    f->found = 1;
  }
  return 0;
}

int pb_find_bytes(const uint8_t *p, size_t n, uint32_t field, struct slice *out) {
  struct find_ctx f = {field, out, 0};
  out->p = NULL, out->n = 0;
  if (walk(p, n, find_field, &f) < 0) return -1;
  return f.found ? 0 : 1;
}

size_t pb_varint(uint8_t *out, uint64_t v) {
  size_t i = 0;
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    out[i++] = b | (v ? 0x80 : 0);
  } while (v);
  return i;
}

size_t pb_bytes_field(uint8_t *out, uint32_t field, const void *data, size_t n) {
  size_t i = pb_varint(out, (uint64_t)field << 3 | 2);
  i += pb_varint(out + i, n);
  memcpy(out + i, data, n);
  return i + n;
}

size_t pb_varint_field(uint8_t *out, uint32_t field, uint64_t v) {
  size_t i = pb_varint(out, (uint64_t)field << 3);
  return i + pb_varint(out + i, v);
}

int metadata_entry(uint8_t *out, size_t cap, const char *key, const char *value) {
  size_t kn = strlen(key), vn = strlen(value);
  if (kn > 1024 || vn > 1024 || cap < kn + vn + 16) return -1;
  uint8_t kv[2100];
  size_t m = pb_bytes_field(kv, 1, key, kn);
  m += pb_bytes_field(kv + m, 2, value, vn);
  return (int)pb_bytes_field(out, 5, kv, m);
}

uint8_t *response_frame(uint32_t stream, int code, const char *message, const uint8_t *payload, size_t payload_len, size_t *len) {
  size_t mn = message ? strlen(message) : 0;
  if (mn > 4096) mn = 4096;
  uint8_t *buf = malloc(TTRPC_HEADER + mn + payload_len + 64);
  if (!buf) return NULL;
  uint8_t status[4200];
  size_t sn = 0;
  if (code) sn += pb_varint_field(status + sn, 1, (uint64_t)code);
  if (mn) sn += pb_bytes_field(status + sn, 2, message, mn);
  uint8_t *body = buf + TTRPC_HEADER;
  size_t n = 0;
  if (code) n += pb_bytes_field(body + n, 1, status, sn);
  if (payload_len) n += pb_bytes_field(body + n, 2, payload, payload_len);
  struct frame_header h = {(uint32_t)n, stream, TTRPC_RESPONSE, 0};
  header_encode(buf, &h);
  *len = TTRPC_HEADER + n;
  return buf;
}
