#include "console.h"

#include "log.h"
#include "records.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int console_listen(const char *path, int *out)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof a.sun_path)
		return ENAMETOOLONG;
	strcpy(a.sun_path, path);
	struct stat st;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return EEXIST;
		unlink(path);
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return errno;
	mode_t old = umask(077);
	int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
	umask(old);
	if (rc < 0 || listen(fd, 1) < 0) {
		int e = errno;
		close(fd);
		return e;
	}
	*out = fd;
	return 0;
}

void console_listener_close(struct rec *r)
{
	if (r->con_listen >= 0) {
		close_fd(&r->con_listen);
		if (r->con_path)
			unlink(r->con_path);
	}
}

static void console_start(struct rec *r, int master)
{
	int fl = fcntl(master, F_GETFL);
	if (fl >= 0)
		fcntl(master, F_SETFL, fl | O_NONBLOCK);
	r->master = master;
	if (r->ws_pending) {
		ioctl(master, TIOCSWINSZ, &r->ws);
		r->ws_pending = false;
	}
	if (r->sin.active) {
		r->sin.fd = master;
		instream_run(&r->sin);
	}
	if (r->term_stream) {
		if (!stream_init(r, &r->out, master, false, 1)) {
			logmsg("%s: out of memory for the terminal pump", r->id);
			return;
		}
	} else {
		if (!pump_init(&r->out, master, false, r->con_stdout, true)) {
			logmsg("%s: out of memory for the terminal pump", r->id);
			close_fd(&r->con_stdout);
			return;
		}
		r->out.discard_on_error = true;
		r->con_stdout = -1;
	}
	if (r->con_stdin >= 0) {
		if (pump_init(&r->in, r->con_stdin, true, master, false))
			r->con_stdin = -1;
		else
			close_fd(&r->con_stdin);
	}
}

void console_try_recv(struct rec *r)
{
	char data[512];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 4)];
	} ctl;
	struct iovec iov = { data, sizeof data };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof ctl.b };
	ssize_t n = recvmsg(r->con_conn, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	int master = -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); n >= 0 && c; c = CMSG_NXTHDR(&m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		int *fds = (int *)(void *)CMSG_DATA(c);
		for (size_t i = 0; i < cnt; i++) {
			if (master < 0)
				master = fds[i];
			else
				close(fds[i]);
		}
	}
	close_fd(&r->con_conn);
	if (master < 0) {
		logmsg("%s: console socket closed without a terminal", r->id);
		return;
	}
	console_start(r, master);
}

void console_try_accept(struct rec *r)
{
	int c = accept4(r->con_listen, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (c < 0)
		return;
	console_listener_close(r);
	r->con_conn = c;
	console_try_recv(r);
}
