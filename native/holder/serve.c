#include "serve.h"

#include "holder.h"
#include "log.h"
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/reboot.h>
#include <termios.h>
#include <unistd.h>

static void port_signal_connect(struct client *c, bool on);

void port_open(struct holder *h, const char *spec, int inherited)
{
	int fd = inherited;
	if (fd < 0) {
		fd = open(spec, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			die(h, errno, "open --serve-port %s", spec);
	} else {
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			die(h, errno, "--serve-port %s", spec);
	}
	if (fcntl(fd, F_SETOWN, getpid()) < 0)
		logmsg("--serve-port %s: no SIGIO on host connect (%s): re-checking every %d ms", spec, strerror(errno), HOLDER_PORT_RECHECK_MS);
	struct termios t;
	if (tcgetattr(fd, &t) == 0) { /* a serial console or a pty: bytes, not lines */
		cfmakeraw(&t);
		if (tcsetattr(fd, TCSANOW, &t) < 0)
			die(h, errno, "raw mode on --serve-port %s", spec);
	}
	struct client *c = calloc(1, sizeof *c);
	if (c == NULL)
		die(h, ENOMEM, "out of memory");
	c->fd = fd;
	c->seq = ++h->client_seq;
	c->port = true;
	h->clients[h->nclients++] = c;
	h->port = c;
	c->detached = true; /* until port_recheck sees the host */
	port_signal_connect(c, true);
}

/*
 * SIGIO (read through the signalfd: it only wakes the loop) while the host is away: a
 * virtio-serial port signals its owner when the host connects, so the agent, of a guest just
 * restored from a template above all, answers at once instead of at its next re-check. Off
 * while the host is there: the port would signal every byte it receives. Best effort: the
 * re-check stays for ports that do not signal.
 */
static void port_signal_connect(struct client *c, bool on)
{
	int fl = fcntl(c->fd, F_GETFL);
	if (fl >= 0)
		fcntl(c->fd, F_SETFL, on ? fl | O_ASYNC : fl & ~O_ASYNC);
}

/*
 * Whatever belonged to that connection (a partial request, unsent replies and
 * events) is dropped; the journal keeps the exits for the next one.
 */
void port_detach(struct client *c)
{
	if (c->detached)
		return;
	logmsg("host disconnected from the port");
	c->detached = true;
	port_signal_connect(c, true);
	free(c->msg);
	c->msg = NULL;
	c->hdr_got = 0;
	c->msg_len = c->msg_got = 0;
	buf_free(&c->out);
}

/* virtio-serial: POLLHUP while the host side is not connected; it clears when the host connects. */
void port_recheck(struct holder *h)
{
	struct client *c = h->port;
	if (c == NULL || !c->detached)
		return;
	struct pollfd p = { .fd = c->fd, .events = POLLIN };
	if (poll(&p, 1, 0) < 0 || (p.revents & (POLLHUP | POLLERR | POLLNVAL)))
		return;
	c->detached = false;
	port_signal_connect(c, false);
	logmsg("host connected to the port");
}

void power_off(void)
{
	logmsg("powering off");
	sync();
	reboot(RB_POWER_OFF);
	logmsg("reboot(RB_POWER_OFF): %s", strerror(errno));
	for (;;)
		pause();
}
