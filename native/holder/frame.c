#include "frame.h"

#include "log.h"
#include "protocol.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void frame_begin(struct frame *f)
{
	f->b.off = f->b.len = 0;
	f->ok = buf_put(&f->b, "\0\0\0\0", HOLDER_HEADER_LENGTH, SIZE_MAX);
}

void frame_mem(struct frame *f, const char *s, size_t n)
{
	const size_t max = HOLDER_MAX_REPLY_LENGTH + HOLDER_HEADER_LENGTH;
	if (f->ok)
		f->ok = buf_put(&f->b, s, n, max) && buf_put(&f->b, "", 1, max);
}

void frame_str(struct frame *f, const char *s)
{
	frame_mem(f, s, strlen(s));
}

void frame_fmt(struct frame *f, const char *fmt, ...)
{
	char s[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(s, sizeof s, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n >= (int)sizeof s)
		n = (int)sizeof s - 1;
	frame_mem(f, s, (size_t)n);
}

bool frame_end(struct frame *f)
{
	if (!f->ok) {
		logmsg("dropping an outgoing message: out of memory or too large");
		return false;
	}
	uint32_t n = (uint32_t)(f->b.len - HOLDER_HEADER_LENGTH);
	f->b.p[0] = (char)(n >> 24);
	f->b.p[1] = (char)(n >> 16);
	f->b.p[2] = (char)(n >> 8);
	f->b.p[3] = (char)n;
	return true;
}
