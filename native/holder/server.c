#include "server.h"

#include "holder.h"
#include "log.h"
#include "requests.h"
#include "serve.h"
#include "util.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLIENT_OUT_MAX ((size_t)HOLDER_MAX_REPLY_LENGTH + (1u << 20))

/* A broken connection: a socket client is dropped, the port waits for the host. */
static void client_broken(struct client *c)
{
	if (c->port)
		port_detach(c);
	else
		c->dead = true;
}

bool client_gone(const struct client *c)
{
	return c->dead || c->detached;
}

void client_flush(struct client *c)
{
	while (!client_gone(c) && c->out.len > c->out.off) {
		const char *p = c->out.p + c->out.off;
		size_t len = c->out.len - c->out.off;
		ssize_t n = c->port ? write(c->fd, p, len) : send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_broken(c);
			return;
		}
		buf_consume(&c->out, (size_t)n);
	}
}

void client_send(struct client *c, const struct frame *f)
{
	if (client_gone(c))
		return;
	if (!buf_put(&c->out, f->b.p, f->b.len, CLIENT_OUT_MAX)) {
		if (c->port) {
			/* Dropping the port's queue could cut a frame in half: drop this message only. */
			logmsg("the host does not read the port; dropping a %zu-byte message", f->b.len);
			return;
		}
		logmsg("client %llu does not read its replies; dropping it", (unsigned long long)c->seq);
		c->dead = true;
		return;
	}
	client_flush(c);
}

struct client *client_by_seq(struct holder *h, uint64_t seq)
{
	for (int i = 0; i < h->nclients; i++)
		if (h->clients[i]->seq == seq)
			return h->clients[i];
	return NULL;
}

void broadcast(struct holder *h, const struct frame *f)
{
	for (int i = 0; i < h->nclients; i++)
		client_send(h->clients[i], f);
}

static void client_free(struct client *c)
{
	close(c->fd);
	free(c->msg);
	buf_free(&c->out);
	free(c);
}

void server_sweep(struct holder *h)
{
	for (int i = 0; i < h->nclients;) {
		if (h->clients[i]->dead && !h->clients[i]->port) {
			client_free(h->clients[i]);
			h->clients[i] = h->clients[--h->nclients];
		} else {
			i++;
		}
	}
}

void reply_err(struct holder *h, struct client *c, const char *rid, int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	frame_begin(&h->tx);
	frame_str(&h->tx, HOLDER_REPLY_ERR);
	frame_str(&h->tx, rid);
	frame_fmt(&h->tx, "%d", err);
	frame_str(&h->tx, msg);
	if (frame_end(&h->tx))
		client_send(c, &h->tx);
}

void reply_ok(struct holder *h, struct client *c, const char *rid)
{
	frame_begin(&h->tx);
	frame_str(&h->tx, HOLDER_REPLY_OK);
	frame_str(&h->tx, rid);
	if (frame_end(&h->tx))
		client_send(c, &h->tx);
}

/* Frames the bytes a client sent: a length prefix, then that many bytes of request. */
static void client_feed(struct holder *h, struct client *c, const char *d, size_t n)
{
	while (n > 0 && !client_gone(c)) {
		if (c->hdr_got < 4) {
			size_t take = 4 - c->hdr_got < n ? 4 - c->hdr_got : n;
			memcpy(c->hdr + c->hdr_got, d, take);
			c->hdr_got += (unsigned)take;
			d += take;
			n -= take;
			if (c->hdr_got < 4)
				return;
			uint32_t len = (uint32_t)c->hdr[0] << 24 | (uint32_t)c->hdr[1] << 16 | (uint32_t)c->hdr[2] << 8 | c->hdr[3];
			if (len > HOLDER_MAX_REQUEST_LENGTH) {
				logmsg("client %llu sent a %u-byte message (max %u); dropping it", (unsigned long long)c->seq,
				       len, (unsigned)HOLDER_MAX_REQUEST_LENGTH);
				client_broken(c);
				return;
			}
			c->msg_len = len;
			c->msg_got = 0;
			if (len > 0 && (c->msg = malloc(len)) == NULL) {
				client_broken(c);
				return;
			}
		}
		size_t take = c->msg_len - c->msg_got < n ? c->msg_len - c->msg_got : n;
		if (take > 0) {
			memcpy(c->msg + c->msg_got, d, take);
			c->msg_got += (uint32_t)take;
			d += take;
			n -= take;
		}
		if (c->msg_got == c->msg_len) {
			char *m = c->msg;
			c->msg = NULL;
			c->hdr_got = 0;
			handle_request(h, c, m, c->msg_len);
			free(m);
		}
	}
}

void client_read(struct holder *h, struct client *c)
{
	static char rx[64 * 1024]; /* scratch, off the stack */
	for (int round = 0; round < 4 && !client_gone(c); round++) {
		ssize_t n = c->port ? read(c->fd, rx, sizeof rx) : recv(c->fd, rx, sizeof rx, MSG_DONTWAIT);
		if (n == 0) {
			client_broken(c); /* a port reads 0 (or EIO for a pty) while the host is away */
			return;
		}
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				client_broken(c);
			return;
		}
		client_feed(h, c, rx, (size_t)n);
	}
}

void server_accept(struct holder *h)
{
	for (;;) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		if (h->nclients == MAX_CLIENTS) {
			/* Drop the oldest client that never made a proper request, so strays and
			 * garbage never push kuasard's connection out; only if every client
			 * spoke does the oldest go. */
			struct client **cl = h->clients;
			int oldest = -1;
			for (int pass = 0; pass < 2 && oldest < 0; pass++)
				for (int i = 0; i < h->nclients; i++)
					if ((pass == 1 || !cl[i]->spoke) && (oldest < 0 || cl[i]->seq < cl[oldest]->seq))
						oldest = i;
			logmsg("too many clients; dropping the oldest%s (%llu)", cl[oldest]->spoke ? "" : " silent one",
			       (unsigned long long)cl[oldest]->seq);
			client_free(cl[oldest]);
			cl[oldest] = cl[--h->nclients];
		}
		struct client *c = calloc(1, sizeof *c);
		if (c == NULL) {
			close(fd);
			return;
		}
		c->fd = fd;
		c->seq = ++h->client_seq;
		h->clients[h->nclients++] = c;
	}
}

/*
 * sun_path holds 107 bytes but DIR may be any length: when DIR/holder.sock does not fit,
 * bind through our open descriptor of DIR (/proc/self/fd/N/holder.sock, a magic link the
 * kernel resolves to DIR itself). The socket is still DIR/holder.sock; clients that cannot
 * name it reach it the same way through their own descriptor of DIR.
 */
static void sock_addr_init(struct holder *h)
{
	int n = strlen(h->sock_path) < sizeof h->sock_addr
			? snprintf(h->sock_addr, sizeof h->sock_addr, "%s", h->sock_path)
			: snprintf(h->sock_addr, sizeof h->sock_addr, "/proc/self/fd/%d/" SOCK_NAME, h->dirfd);
	if (n < 0 || (size_t)n >= sizeof h->sock_addr)
		die(h, ENAMETOOLONG, "%s: no unix socket address fits", h->sock_path);
}

void server_listen(struct holder *h)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	sock_addr_init(h);
	strcpy(a.sun_path, h->sock_addr);
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (connect(probe, (struct sockaddr *)&a, sizeof a) == 0)
			die(h, EADDRINUSE, "%s: another holder is serving this directory", h->sock_path);
		close(probe);
	}
	unlinkat(h->dirfd, SOCK_NAME, 0);
	h->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->lfd < 0)
		die(h, errno, "socket");
	mode_t old = umask(077);
	int rc = bind(h->lfd, (struct sockaddr *)&a, sizeof a);
	umask(old);
	if (rc < 0)
		die(h, errno, "bind %s", h->sock_path);
	h->sock_created = true;
	if (fchmodat(h->dirfd, SOCK_NAME, 0600, 0) < 0)
		die(h, errno, "chmod %s", h->sock_path);
	if (listen(h->lfd, 64) < 0)
		die(h, errno, "listen %s", h->sock_path);
}

void holder_exit(struct holder *h)
{
	long long deadline = now_ms() + 1000;
	for (;;) {
		struct pollfd pfd[MAX_CLIENTS];
		int n = 0;
		for (int i = 0; i < h->nclients; i++) {
			struct client *c = h->clients[i];
			if (!client_gone(c) && c->out.len > c->out.off)
				pfd[n++] = (struct pollfd){ .fd = c->fd, .events = POLLOUT };
		}
		long long left = deadline - now_ms();
		if (n == 0 || left <= 0)
			break;
		if (poll(pfd, (nfds_t)n, (int)left) <= 0)
			break;
		for (int i = 0; i < h->nclients; i++)
			client_flush(h->clients[i]);
	}
	if (h->sock_created)
		unlinkat(h->dirfd, SOCK_NAME, 0);
	if (h->pid_path != NULL)
		unlink(h->pid_path);
	/* The pod ends with its holder (ADR 0004); what is still mapped keeps the pages (MNT_DETACH). */
	if (h->shm != NULL && umount2(h->shm, MNT_DETACH) < 0)
		logmsg("unmount %s: %s", h->shm, strerror(errno));
	if (h->init)
		power_off();
	logmsg("exiting");
	_exit(0);
}
