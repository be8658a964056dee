#include "loop.h"

#include "console.h"
#include "holder.h"
#include "log.h"
#include "reaper.h"
#include "records.h"
#include "serve.h"
#include "server.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

void signals_init(struct holder *h)
{
	struct sigaction ign;
	memset(&ign, 0, sizeof ign);
	ign.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &ign, NULL);
	sigaction(SIGHUP, &ign, NULL);
	sigaction(SIGINT, &ign, NULL);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	/* A serve port's owner gets SIGIO when the host connects (see port_open): it only wakes the loop. */
	sigaddset(&mask, SIGIO);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		die(h, errno, "sigprocmask");
	h->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (h->sigfd < 0)
		die(h, errno, "signalfd");
}

static void handle_signals(struct holder *h)
{
	struct signalfd_siginfo si;
	bool term = false;
	while (read(h->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
		if (si.ssi_signo == SIGTERM)
			term = true;
	reap_all(h);
	if (term) {
		logmsg("SIGTERM: killing the pod's processes");
		kill_everything(h);
		holder_exit(h);
	}
}

enum slot_kind {
	S_SIG, S_LISTEN, S_CLIENT, S_IN_SRC, S_IN_DST, S_MASTER, S_OUT_DST, S_CON_LISTEN, S_CON_CONN,
	S_OUT_SRC, S_ERR_SRC, S_SIN,
};

struct slot {
	enum slot_kind kind;
	void *ptr;
};

/* What one poll round waits for: pfds[i] is polled for slots[i]. */
struct poll_set {
	struct pollfd *pfds;
	struct slot *slots;
	size_t n, cap;
};

static void slot_add(struct poll_set *ps, int fd, short events, enum slot_kind kind, void *ptr)
{
	if (ps->n == ps->cap) {
		size_t cap = ps->cap ? ps->cap * 2 : 64;
		struct pollfd *p = realloc(ps->pfds, cap * sizeof *p);
		if (p == NULL)
			return;
		ps->pfds = p;
		struct slot *s = realloc(ps->slots, cap * sizeof *s);
		if (s == NULL)
			return;
		ps->slots = s;
		ps->cap = cap;
	}
	ps->pfds[ps->n] = (struct pollfd){ .fd = fd, .events = events };
	ps->slots[ps->n++] = (struct slot){ kind, ptr };
}

/* Fills ps for the next round; returns the poll timeout (-1: none). */
static int build_slots(struct holder *h, struct poll_set *ps)
{
	ps->n = 0;
	slot_add(ps, h->sigfd, POLLIN, S_SIG, NULL);
	slot_add(ps, h->lfd, POLLIN, S_LISTEN, NULL);
	for (int i = 0; i < h->nclients; i++) {
		struct client *c = h->clients[i];
		if (!client_gone(c)) /* a detached port polls POLLHUP: re-checked by timer instead */
			slot_add(ps, c->fd, (short)(POLLIN | (c->out.len > c->out.off ? POLLOUT : 0)), S_CLIENT, c);
	}
	long long next = -1;
	for (struct rec *r = h->recs; r; r = r->next) {
		if (r->gone)
			continue;
		if (r->in.active) {
			if (!r->in.eof && r->in.len == 0 && r->in.src >= 0)
				slot_add(ps, r->in.src, POLLIN, S_IN_SRC, r);
			if (!r->console && r->in.dst >= 0) /* polled even when idle: POLLERR = no reader left */
				slot_add(ps, r->in.dst, r->in.len > 0 ? POLLOUT : 0, S_IN_DST, r);
		}
		if (r->master >= 0) {
			short ev = 0;
			if (pump_wants_input(h, &r->out))
				ev |= POLLIN;
			if (r->in.active && r->in.dst == r->master && r->in.len > 0)
				ev |= POLLOUT;
			if (r->sin.active && r->sin.fd == r->master && r->sin.q.len > r->sin.q.off)
				ev |= POLLOUT;
			if (ev)
				slot_add(ps, r->master, ev, S_MASTER, r);
		} else if (r->out.stream && pump_wants_input(h, &r->out)) {
			slot_add(ps, r->out.src, POLLIN, S_OUT_SRC, r);
		}
		if (pump_wants_input(h, &r->errout))
			slot_add(ps, r->errout.src, POLLIN, S_ERR_SRC, r);
		if (r->sin.active && r->sin.own) /* polled even when idle: POLLERR = no reader left */
			slot_add(ps, r->sin.fd, r->sin.q.len > r->sin.q.off ? POLLOUT : 0, S_SIN, r);
		if (r->out.active && r->out.len > 0 && r->out.dst >= 0)
			slot_add(ps, r->out.dst, POLLOUT, S_OUT_DST, r);
		if (r->con_listen >= 0)
			slot_add(ps, r->con_listen, POLLIN, S_CON_LISTEN, r);
		if (r->con_conn >= 0)
			slot_add(ps, r->con_conn, POLLIN, S_CON_CONN, r);
		for (int i = 0; i < r->npend; i++)
			if (next < 0 || r->pend[i].deadline < next)
				next = r->pend[i].deadline;
	}
	if (h->port != NULL && h->port->detached) {
		long long recheck = now_ms() + HOLDER_PORT_RECHECK_MS;
		if (next < 0 || recheck < next)
			next = recheck;
	}
	if (next < 0)
		return -1;
	long long left = next - now_ms();
	return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* Frees dead clients and finished records; sends exit events whose terminal output drained. */
static void sweep(struct holder *h)
{
	server_sweep(h);
	long long now = now_ms();
	for (struct rec **pp = &h->recs; *pp;) {
		struct rec *r = *pp;
		if (r->npend > 0 && (!r->out.active || r->out.len == 0 || now >= r->pend[0].deadline))
			flush_pending(h, r);
		/* A terminal whose output side ended (slave closed) is finished in both directions. */
		if (r->master >= 0 && !r->out.active) {
			pump_close(&r->in);
			if (r->sin.fd == r->master)
				instream_close(&r->sin);
			close_fd(&r->master);
		}
		/* A streamed terminal stdin whose terminal never came. */
		if (r->sin.active && r->sin.fd < 0 && r->con_listen < 0 && r->con_conn < 0 && r->master < 0)
			instream_close(&r->sin);
		bool idle = !r->pid_live && !r->apid_live && r->npend == 0 && r->con_listen < 0 && r->con_conn < 0 &&
			    !r->in.active && !r->out.active && !r->errout.active && !r->sin.active;
		if (r->gone || idle) {
			if (r->gone)
				flush_pending(h, r);
			*pp = r->next;
			rec_free(r);
		} else {
			pp = &r->next;
		}
	}
}

void loop(struct holder *h)
{
	struct poll_set ps = { 0 };
	for (;;) {
		int timeout = build_slots(h, &ps);
		struct pollfd *pfds = ps.pfds;
		const struct slot *slots = ps.slots;
		int rc = poll(pfds, (nfds_t)ps.n, timeout);
		if (rc < 0) {
			if (errno != EINTR)
				logmsg("poll: %s", strerror(errno));
			continue;
		}
		bool accept_ready = false;
		for (size_t i = 0; i < ps.n; i++) {
			short re = pfds[i].revents;
			if (re == 0)
				continue;
			int fd = pfds[i].fd;
			struct rec *r = slots[i].ptr;
			switch (slots[i].kind) {
			case S_SIG:
				handle_signals(h);
				break;
			case S_LISTEN:
				accept_ready = true;
				break;
			case S_CLIENT: {
				struct client *c = slots[i].ptr;
				if (client_gone(c))
					break;
				if (re & (POLLIN | POLLHUP | POLLERR))
					client_read(h, c);
				if (re & POLLOUT)
					client_flush(c);
				break;
			}
			case S_IN_SRC:
				if (!r->gone && r->in.active && r->in.src == fd)
					pump_run(h, &r->in);
				break;
			case S_IN_DST:
				if (r->gone || !r->in.active || r->in.dst != fd)
					break;
				if ((re & (POLLERR | POLLHUP)) && r->in.len == 0)
					pump_close(&r->in); /* the process (and everyone) closed its stdin */
				else
					pump_run(h, &r->in);
				break;
			case S_MASTER:
				if (r->gone || r->master != fd)
					break;
				if (r->out.active && (re & (POLLIN | POLLHUP | POLLERR)))
					pump_run(h, &r->out);
				if (r->in.active && r->in.dst == fd && (re & (POLLOUT | POLLERR)))
					pump_run(h, &r->in);
				if (r->sin.active && r->sin.fd == fd && (re & (POLLOUT | POLLERR)))
					instream_run(&r->sin);
				break;
			case S_OUT_SRC:
				if (!r->gone && r->out.active && r->out.src == fd)
					pump_run(h, &r->out);
				break;
			case S_ERR_SRC:
				if (!r->gone && r->errout.active && r->errout.src == fd)
					pump_run(h, &r->errout);
				break;
			case S_SIN:
				if (r->gone || !r->sin.active || r->sin.fd != fd)
					break;
				if (re & (POLLERR | POLLHUP))
					instream_close(&r->sin); /* the process (and everyone) closed its stdin */
				else
					instream_run(&r->sin);
				break;
			case S_OUT_DST:
				if (!r->gone && r->out.active && r->out.dst == fd)
					pump_run(h, &r->out);
				break;
			case S_CON_LISTEN:
				if (!r->gone && r->con_listen == fd)
					console_try_accept(r);
				break;
			case S_CON_CONN:
				if (!r->gone && r->con_conn == fd)
					console_try_recv(r);
				break;
			}
		}
		sweep(h);
		port_recheck(h);
		if (accept_ready)
			server_accept(h);
	}
}
