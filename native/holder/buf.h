/* Growable byte buffers. */
#ifndef KUASAR_HOLDER_BUF_H
#define KUASAR_HOLDER_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *p;
	size_t off, len, cap; /* live bytes are p[off, len) */
};

/* Appends n bytes unless the live bytes would exceed max (or memory runs out). */
bool buf_put(struct buf *b, const void *d, size_t n, size_t max);
/* Drops n live bytes from the front; an emptied big buffer is given back. */
void buf_consume(struct buf *b, size_t n);
void buf_free(struct buf *b);

#endif
