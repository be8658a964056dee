/*
 * kuasar-pty-exec SOCKET PROGRAM [ARG...]
 *
 * Runs PROGRAM (an absolute path) on a new pseudoterminal whose master end is
 * sent over the AF_UNIX socket SOCKET, as runc's --console-socket does. For
 * programs that take a process's terminal from their own stdio rather than
 * from a console socket: an attached `runsc exec` of a terminal process.
 * PROGRAM replaces this process, so its exit status is PROGRAM's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void fail(const char *what)
{
	fprintf(stderr, "kuasar-pty-exec: %s: %s\n", what, strerror(errno));
	_exit(127);
}

/* Sends `fd` with the terminal's name as payload, as runc does. */
static void send_master(const char *path, int fd, const char *name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path) {
		errno = ENAMETOOLONG;
		fail(path);
	}
	strcpy(a.sun_path, path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		fail("socket");
	if (connect(s, (struct sockaddr *)&a, sizeof a) < 0)
		fail(path);
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} ctl;
	memset(&ctl, 0, sizeof ctl);
	struct iovec iov = { (void *)name, strlen(name) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	if (sendmsg(s, &m, 0) < 0)
		fail("sendmsg");
	close(s);
}

int main(int argc, char **argv)
{
	if (argc < 3 || argv[2][0] != '/') {
		fprintf(stderr, "usage: kuasar-pty-exec SOCKET /PROGRAM [ARG...]\n");
		return 127;
	}
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
		fail("posix_openpt");
	const char *name = ptsname(master);
	if (name == NULL)
		fail("ptsname");
	int slave = open(name, O_RDWR | O_NOCTTY);
	if (slave < 0)
		fail(name);
	send_master(argv[1], master, name);
	close(master);
	/* A session of its own (unless it leads one already, as the pod holder's children do). */
	if (getsid(0) != getpid() && setsid() < 0)
		fail("setsid");
	if (ioctl(slave, TIOCSCTTY, 0) < 0)
		fail("TIOCSCTTY");
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			fail("dup2");
	if (slave > 2)
		close(slave);
	execv(argv[2], argv + 2);
	fail(argv[2]);
}
