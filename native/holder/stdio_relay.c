#include "stdio_relay.h"

#include "base64.h"
#include "holder.h"
#include "log.h"
#include "records.h"
#include "server.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool pump_init(struct pump *p, int src, bool own_src, int dst, bool own_dst)
{
	memset(p, 0, sizeof *p);
	p->buf = malloc(PUMP_BUF > HOLDER_STREAM_CHUNK_LENGTH ? PUMP_BUF : HOLDER_STREAM_CHUNK_LENGTH);
	if (p->buf == NULL)
		return false;
	p->active = true;
	p->src = src;
	p->dst = dst;
	p->own_src = own_src;
	p->own_dst = own_dst;
	return true;
}

bool stream_init(struct rec *r, struct pump *p, int src, bool own_src, int fd)
{
	if (!pump_init(p, src, own_src, -1, false))
		return false;
	p->stream = fd;
	p->rec = r;
	return true;
}

void pump_close(struct pump *p)
{
	if (!p->active)
		return;
	if (p->own_src)
		close_fd(&p->src);
	if (p->own_dst)
		close_fd(&p->dst);
	free(p->buf);
	memset(p, 0, sizeof *p);
	p->src = p->dst = -1;
}

/* ---- streamed output ---------------------------------------------------- */

enum stream_mode { STREAM_SEND, STREAM_HOLD, STREAM_DISCARD };

/* Where streamed output of r goes now: its owner, nowhere yet (back-pressure), or away. */
static enum stream_mode stream_target(struct holder *h, const struct rec *r, struct client **out)
{
	struct client *c = client_by_seq(h, r->owner);
	*out = NULL;
	if (c == NULL || c->dead)
		return h->serve ? STREAM_HOLD : STREAM_DISCARD; /* the port comes back; a socket does not */
	if (c->detached || c->out.len - c->out.off > HOLDER_STREAM_TX_HIGH)
		return STREAM_HOLD;
	*out = c;
	return STREAM_SEND;
}

/* An `out` event with n bytes of data, or with data NULL an `eof` event. */
static void send_stream_event(struct holder *h, struct client *c, const char *id, int fd, const char *data, size_t n)
{
	static char enc[(HOLDER_STREAM_CHUNK_LENGTH + 2) / 3 * 4]; /* scratch, off the stack */
	frame_begin(&h->tx);
	frame_str(&h->tx, data ? HOLDER_EVENT_OUT : HOLDER_EVENT_EOF);
	frame_str(&h->tx, HOLDER_UNSOLICITED_RID);
	frame_str(&h->tx, id);
	frame_fmt(&h->tx, "%d", fd);
	if (data)
		frame_mem(&h->tx, enc, b64_encode((const unsigned char *)data, n, enc));
	if (frame_end(&h->tx))
		client_send(c, &h->tx);
}

static void stream_run(struct holder *h, struct pump *p)
{
	for (int round = 0; p->active && round < PUMP_ROUNDS; round++) {
		struct client *c;
		if (stream_target(h, p->rec, &c) == STREAM_HOLD)
			return; /* unread output blocks the writer: nothing is lost */
		ssize_t n = read(p->src, p->buf, HOLDER_STREAM_CHUNK_LENGTH);
		if (n > 0) {
			if (c)
				send_stream_event(h, c, p->rec->id, p->stream, p->buf, (size_t)n);
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		/* EOF, or EIO from a terminal master whose slave is closed */
		if (c)
			send_stream_event(h, c, p->rec->id, p->stream, NULL, 0);
		pump_close(p);
		return;
	}
}

bool pump_wants_input(struct holder *h, const struct pump *p)
{
	struct client *c;
	return p->active && !p->eof && p->len == 0 && (!p->stream || stream_target(h, p->rec, &c) != STREAM_HOLD);
}

/* ---- fd to fd ------------------------------------------------------------- */

void pump_run(struct holder *h, struct pump *p)
{
	if (p->stream) {
		stream_run(h, p);
		return;
	}
	for (int round = 0; p->active && round < PUMP_ROUNDS; round++) {
		while (p->len > 0) {
			if (p->dst < 0) {
				p->off = p->len = 0;
				break;
			}
			ssize_t n = write(p->dst, p->buf + p->off, p->len);
			if (n < 0) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN)
					return;
				if (p->discard_on_error) {
					if (p->own_dst)
						close(p->dst);
					p->dst = -1;
					continue;
				}
				pump_close(p);
				return;
			}
			p->off += (size_t)n;
			p->len -= (size_t)n;
		}
		p->off = 0;
		if (p->eof || p->src < 0) {
			pump_close(p);
			return;
		}
		ssize_t n = read(p->src, p->buf, PUMP_BUF);
		if (n > 0) {
			p->len = (size_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			return;
		} else {
			p->eof = true; /* EOF, or EIO from a terminal master whose slave is closed */
		}
	}
}

void pump_finish_input(struct holder *h, struct pump *p)
{
	if (!p->active || p->eof)
		return;
	if (p->len == 0 && p->src >= 0) {
		ssize_t got = read(p->src, p->buf, PUMP_BUF);
		if (got > 0) {
			p->off = 0;
			p->len = (size_t)got;
		}
	}
	p->eof = true;
	if (p->own_src)
		close_fd(&p->src);
	pump_run(h, p);
}

/* ---- streamed stdin ------------------------------------------------------- */

void instream_close(struct instream *s)
{
	if (s->own)
		close_fd(&s->fd);
	buf_free(&s->q);
	memset(s, 0, sizeof *s);
	s->fd = -1;
}

void instream_run(struct instream *s)
{
	while (s->active && s->fd >= 0 && s->q.len > s->q.off) {
		ssize_t n = write(s->fd, s->q.p + s->q.off, s->q.len - s->q.off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				instream_close(s); /* no reader left: what is queued can never be delivered */
			return;
		}
		buf_consume(&s->q, (size_t)n);
	}
	if (s->active && s->closing && s->q.len == s->q.off && (s->fd >= 0 || !s->own))
		instream_close(s);
}
