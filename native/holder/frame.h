/* Builds one outgoing message: the length prefix, then NUL-terminated strings. */
#ifndef KUASAR_HOLDER_FRAME_H
#define KUASAR_HOLDER_FRAME_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>

struct frame {
	struct buf b;  /* the whole message, prefix included */
	bool ok;       /* false once a string did not fit (or memory ran out) */
};

/* Starts a message (keeps the capacity: output events come in a row). */
void frame_begin(struct frame *f);
void frame_mem(struct frame *f, const char *s, size_t n);
void frame_str(struct frame *f, const char *s);
void frame_fmt(struct frame *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Writes the length prefix; false (logged) when the message cannot be sent. */
bool frame_end(struct frame *f);

#endif
