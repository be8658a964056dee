/* kuasar-wasm-run: one wasm container as the pod's holder sees it. It hands its stdio and
 * its KW_* launch to the pod's kuasar-wasm-host (starting the host when none answers), waits
 * on the start FIFO, then mirrors the instance: signals it gets are passed on, and it ends
 * the way the instance ended (exit status, or the same signal). Small and static: it is
 * exec'd once per container. */
#define _GNU_SOURCE
#include "host_socket.h"
#include "protocol.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static int sigpipe_w = -1;

static void die(int status, const char *fmt, const char *arg)
{
	dprintf(2, fmt, arg ? arg : "");
	dprintf(2, "\n");
	exit(status);
}

/* Starts the host (argv from KW_HOST_0, KW_HOST_1, ..., empty environment, stdio on /dev/null,
 * its own session) in the current directory; returns once it listens (it says so on a pipe:
 * no polling for its socket), false when it died first. */
static bool start_host(void)
{
	char *argv[16];
	int n = 0;
	for (; n < 13; n++) {
		char k[32];
		snprintf(k, sizeof k, "KW_HOST_%d", n);
		if ((argv[n] = getenv(k)) == NULL)
			break;
	}
	if (n == 0)
		die(KW_RUNTIME_FAILURE, "wasm runner: no KW_HOST_0 to start%s", NULL);
	/* The holder (this runner's parent): the host leaves when it does. */
	char holder[32];
	snprintf(holder, sizeof holder, "--holder=%d", (int)getppid());
	argv[n++] = holder;
	argv[n++] = "--ready-fd=3";
	argv[n] = NULL;
	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		die(KW_RUNTIME_FAILURE, "wasm runner: pipe: %s", strerror(errno));
	/* Forked twice: the host is orphaned at once and adopted by the pod's holder (a subreaper),
	 * whose shutdown then ends it like any of its children. */
	pid_t p = fork();
	if (p < 0)
		die(KW_RUNTIME_FAILURE, "wasm runner: fork: %s", strerror(errno));
	if (p > 0) {
		close(ready[1]);
		while (waitpid(p, NULL, 0) < 0 && errno == EINTR)
			;
		/* One byte once it listens; end of file: it died (or failed) before. */
		char b;
		ssize_t r;
		do
			r = read(ready[0], &b, 1);
		while (r < 0 && errno == EINTR);
		close(ready[0]);
		return r == 1;
	}
	if (fork() != 0)
		_exit(0);
	{
		int null = open("/dev/null", O_RDWR);
		for (int i = 0; i < 3; i++)
			dup2(null, i);
		if (null > 2)
			close(null);
		/* Fd 3 without O_CLOEXEC: the host writes it. */
		if (ready[1] == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(ready[1], 3) < 0)
			_exit(KW_RUNTIME_FAILURE);
		setsid();
		char *envp[] = { NULL };
		execve(argv[0], argv, envp);
		_exit(KW_RUNTIME_FAILURE);
	}
}

/* Connects to the pod's host in `dir`, starting it under a lock when nobody answers. */
static int connect_host(const char *dir)
{
	int cwd = open(".", O_PATH | O_CLOEXEC);
	if (chdir(dir) < 0)
		die(KW_RUNTIME_FAILURE, "wasm runner: host directory: %s", strerror(errno));
	int fd = kw_try_connect();
	if (fd < 0) {
		int lock = kw_start_lock();
		if (lock < 0)
			die(KW_RUNTIME_FAILURE, "wasm runner: host lock: %s", strerror(errno));
		fd = kw_try_connect();
		if (fd < 0 && start_host())
			fd = kw_try_connect();
		close(lock);
		if (fd < 0)
			die(KW_RUNTIME_FAILURE, "wasm runner: the pod's wasm host did not start%s", NULL);
	}
	if (cwd >= 0) {
		if (fchdir(cwd) < 0)
			die(KW_RUNTIME_FAILURE, "wasm runner: chdir back: %s", strerror(errno));
		close(cwd);
	}
	return fd;
}

static void send_launch(int fd)
{
	static char buf[KW_MSG_MAX];
	size_t len = 0;
	buf[len++] = 'L';
	for (char **e = environ; *e; e++) {
		if (strncmp(*e, "KW_", 3) != 0)
			continue;
		size_t l = strlen(*e) + 1;
		if (len + l > sizeof buf)
			die(KW_RUNTIME_FAILURE, "wasm runner: launch too large%s", NULL);
		memcpy(buf + len, *e, l);
		len += l;
	}
	int fds[3] = { 0, 1, 2 };
	char ctl[CMSG_SPACE(sizeof fds)];
	memset(ctl, 0, sizeof ctl);
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof fds);
	memcpy(CMSG_DATA(c), fds, sizeof fds);
	if (sendmsg(fd, &m, MSG_NOSIGNAL) < 0)
		die(KW_RUNTIME_FAILURE, "wasm runner: send: %s", strerror(errno));
}

static ssize_t recv_msg(int fd, char *buf, size_t cap)
{
	for (;;) {
		ssize_t n = recv(fd, buf, cap - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n >= 0)
			buf[n] = '\0';
		return n;
	}
}

static void await_start(const char *fifo)
{
	if (fifo == NULL || *fifo == '\0')
		return;
	int f;
	do
		f = open(fifo, O_RDONLY | O_CLOEXEC);
	while (f < 0 && errno == EINTR);
	if (f < 0)
		die(KW_RUNTIME_FAILURE, "wasm runner: start FIFO: %s", strerror(errno));
	char b;
	ssize_t n;
	do
		n = read(f, &b, 1);
	while (n < 0 && errno == EINTR);
	close(f);
	if (n != 1)
		die(KW_RUNTIME_FAILURE, "wasm runner: start FIFO closed before start%s", NULL);
}

static void on_signal(int sig)
{
	unsigned char s = (unsigned char)sig;
	ssize_t r = write(sigpipe_w, &s, 1);
	(void)r;
}

int main(void)
{
	const char *dir = getenv("KW_HOST_DIR");
	if (dir == NULL)
		die(KW_RUNTIME_FAILURE, "wasm runner: KW_HOST_DIR is not set%s", NULL);
	int fd = connect_host(dir);
	/* KW_WARM: only bring the pod's host up (at the pod's start, so its first container
	 * does not wait for it). */
	if (getenv("KW_WARM") != NULL)
		exit(0);
	send_launch(fd);
	char buf[4096];
	ssize_t n = recv_msg(fd, buf, sizeof buf);
	if (n <= 0)
		die(KW_RUNTIME_FAILURE, "wasm runner: the pod's wasm host went away%s", NULL);
	if (buf[0] == 'E') {
		char *msg = strchr(buf, ' ');
		die(atoi(buf + 1), "%s", msg ? msg + 1 : "");
	}
	if (buf[0] != 'R')
		die(KW_RUNTIME_FAILURE, "wasm runner: unexpected reply from the wasm host%s", NULL);

	/* Until the start byte, signals keep their default effect (nothing runs yet). */
	await_start(getenv("KW_START_FIFO"));

	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		die(KW_RUNTIME_FAILURE, "wasm runner: pipe: %s", strerror(errno));
	sigpipe_w = p[1];
	const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH };
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++)
		sigaction(forwarded[i], &sa, NULL);
	if (send(fd, "G", 1, MSG_NOSIGNAL) < 0)
		die(KW_RUNTIME_FAILURE, "wasm runner: send: %s", strerror(errno));

	struct pollfd pf[2] = { { fd, POLLIN, 0 }, { p[0], POLLIN, 0 } };
	for (;;) {
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die(KW_RUNTIME_FAILURE, "wasm runner: poll: %s", strerror(errno));
		}
		if (pf[1].revents & POLLIN) {
			unsigned char s;
			while (read(p[0], &s, 1) == 1) {
				char k[16];
				int l = snprintf(k, sizeof k, "K%d", s);
				send(fd, k, (size_t)l, MSG_NOSIGNAL);
			}
		}
		if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			n = recv_msg(fd, buf, sizeof buf);
			if (n <= 0) {
				/* The host died (kill -9): its instances die with it (PR_SET_PDEATHSIG,
				 * SIGKILL), so this container ends as its instance did. */
				dprintf(2, "wasm runner: the pod's wasm host went away\n");
				signal(SIGKILL, SIG_DFL);
				raise(SIGKILL);
				exit(128 + SIGKILL);
			}
			if (buf[0] != 'X')
				continue;
			int ws = atoi(buf + 1);
			if (WIFEXITED(ws))
				exit(WEXITSTATUS(ws));
			int sig = WIFSIGNALED(ws) ? WTERMSIG(ws) : SIGKILL;
			signal(sig, SIG_DFL);
			sigset_t all;
			sigfillset(&all);
			sigprocmask(SIG_UNBLOCK, &all, NULL);
			raise(sig);
			exit(128 + sig);
		}
	}
}
