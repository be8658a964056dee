/* kuasar-wasm-host --zygote: the node's template of a pod's wasm host. It loads WasmEdge once
 * (the libraries, relocations and engine objects that are most of a host's start) and makes
 * each pod's host by forking: the fork joins the pod (its holder's network, IPC and UTS
 * namespaces, the pid namespace of the holder's children, the pod's cgroups and the holder's
 * oom_score_adj), listens in the pod's wasm dir and serves it, as a host the holder started
 * would. The holder takes it as a member (its `member` verb): its kills reach the host and
 * its instances, and its shutdown ends them.
 *
 * Its one connection is the daemon's (fd 3, a socketpair it started it with): lines of
 * tab-separated fields, answered in order.
 *
 *   daemon -> zygote  "<id>\tH\t<holder pid>\t<pod's wasm dir>[\t<cgroup dir>]...\n"
 *   zygote -> daemon  "<id>\tR\t<host pid>\n" (0: a host started by a runner answers there)
 *                     "<id>\tE\t<errno>\t<reason>\n"
 *
 * It leaves when that connection closes or the daemon (--parent=PID) dies. A host it made
 * does not depend on it: the zygote's death (or the daemon's) leaves every pod's host as it
 * is. Every host shares the zygote's address layout (fork keeps it); the zygote only ever
 * loads WasmEdge and never a module, so what a host learns of it is nothing of another pod's. */
#define _GNU_SOURCE
#include "host.h"
#include "../cgroup-join/cgroup_join.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

enum {
	LINE_MAX_BYTES = 16384,
	MAX_CGROUPS = 32,
	/* How long a pod's host may take to listen before the daemon is told it did not. */
	REPORT_TIMEOUT_MS = 10000,
};

struct request {
	const char *id;
	pid_t holder;
	const char *dir;
	const char *cgroups[MAX_CGROUPS];
	int ncgroups;
};

static void fail(int report, int err, const char *what) __attribute__((noreturn));
static void fail(int report, int err, const char *what)
{
	dprintf(report, "E %d %s: %s\n", err, what, strerror(err));
	_exit(1);
}

static void write_all(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			_exit(0); /* the daemon is gone */
		s += w;
		n -= (size_t)w;
	}
}

static void answer(int fd, const char *id, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void answer(int fd, const char *id, const char *fmt, ...)
{
	char b[1024];
	size_t cap = sizeof b - 1; /* room for the newline */
	int n = snprintf(b, cap, "%s\t", id);
	va_list ap;
	va_start(ap, fmt);
	if (n >= 0 && (size_t)n < cap)
		vsnprintf(b + n, cap - (size_t)n, fmt, ap);
	va_end(ap);
	n = (int)strnlen(b, cap - 1);
	/* A reason never carries the line's separator. */
	for (int i = 0; i < n; i++)
		if (b[i] == '\n')
			b[i] = ' ';
	b[n++] = '\n';
	write_all(fd, b, (size_t)n);
}

static int write_file(const char *path, const char *text)
{
	int f = open(path, O_WRONLY | O_CLOEXEC);
	if (f < 0)
		return -1;
	ssize_t w = write(f, text, strlen(text));
	int err = errno;
	close(f);
	errno = err;
	return w == (ssize_t)strlen(text) ? 0 : -1;
}

/* The fork: joins the holder's pod and becomes its host. */
static void join_pod(const struct request *q, int report) __attribute__((noreturn));
static void join_pod(const struct request *q, int report)
{
	int pidfd = (int)syscall(SYS_pidfd_open, q->holder, 0);
	if (pidfd < 0)
		fail(report, errno, "the pod's holder");
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/ns/pid_for_children", (int)q->holder);
	int pidns = open(path, O_RDONLY | O_CLOEXEC);
	if (pidns < 0)
		fail(report, errno, "the pod's pid namespace");
	/* Through the pidfd: the namespaces are the holder's, or the call fails (ESRCH). The pid
	 * namespace's file was opened by pid, so the holder must still be that pid's process. */
	if (setns(pidfd, CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS) < 0)
		fail(report, errno, "joining the pod's namespaces");
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
		fail(report, errno, "the pod's holder");
	if (setns(pidns, CLONE_NEWPID) < 0)
		fail(report, errno, "joining the pod's pid namespace");
	close(pidns);
	/* Its cgroup v2 dir it was forked into (serve_request); the others it joins here. */
	const char *failed;
	if (cgroup_join_except_v2(q->cgroups, q->ncgroups, NULL, NULL, &failed) < 0)
		fail(report, errno, failed);
	/* The holder's score, as a host it forks would have (raising it needs no privilege). */
	snprintf(path, sizeof path, "/proc/%d/oom_score_adj", (int)q->holder);
	char score[16] = "";
	int f = open(path, O_RDONLY | O_CLOEXEC);
	if (f >= 0) {
		ssize_t r = read(f, score, sizeof score - 1);
		score[r > 0 ? r : 0] = '\0';
		close(f);
	}
	if (score[0] != '\0' && write_file("/proc/self/oom_score_adj", score) < 0)
		fail(report, errno, "the holder's oom_score_adj");
	if (chdir(q->dir) < 0)
		fail(report, errno, q->dir);
	setsid();
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0)
		fail(report, errno, "/dev/null");
	for (int i = 0; i < 3; i++)
		if (dup2(null, i) < 0)
			fail(report, errno, "stdio");
	signal(SIGCHLD, SIG_DFL); /* its instances are reaped and their statuses read */
	host_serve_pod(pidfd, report);
}

/* Splits `line` at tabs into `f` (at most `cap`); the count. */
static int fields(char *line, char **f, int cap)
{
	int n = 0;
	for (char *p = line; n < cap;) {
		f[n++] = p;
		char *t = strchr(p, '\t');
		if (t == NULL)
			break;
		*t = '\0';
		p = t + 1;
	}
	return n;
}

static void serve_request(int fd, char *line)
{
	char *f[MAX_CGROUPS + 5];
	int n = fields(line, f, MAX_CGROUPS + 5);
	const char *id = f[0][0] != '\0' && strlen(f[0]) <= 128 ? f[0] : "-";
	struct request q = { .id = id };
	if (n < 4 || strcmp(f[1], "H") != 0) {
		answer(fd, id, "E\t%d\tnot a request: want <id> H <holder pid> <dir> [<cgroup dir>...]", EINVAL);
		return;
	}
	char *end;
	long pid = strtol(f[2], &end, 10);
	if (*end != '\0' || pid <= 1 || pid > 0x3fffffff) {
		answer(fd, id, "E\t%d\tholder pid %.32s is not a pid", EINVAL, f[2]);
		return;
	}
	q.holder = (pid_t)pid;
	q.dir = f[3];
	if (q.dir[0] != '/') {
		answer(fd, id, "E\t%d\tthe wasm dir must be absolute", EINVAL);
		return;
	}
	for (int i = 4; i < n; i++) {
		if (f[i][0] != '/' || i - 4 >= MAX_CGROUPS) {
			answer(fd, id, "E\t%d\tcgroup dirs must be absolute, at most %d", EINVAL, MAX_CGROUPS);
			return;
		}
		q.cgroups[q.ncgroups++] = f[i];
	}
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		answer(fd, id, "E\t%d\tpipe: %s", errno, strerror(errno));
		return;
	}
	/* Forked into the pod's cgroup v2 dir, if it has one: no cgroup.procs write (cgroup_join.h). */
	const char *v2dir;
	int v2fd = cgroup_open_v2(q.cgroups, q.ncgroups, &v2dir);
	int join_err;
	pid_t c = cgroup_fork_into(v2fd, &join_err);
	if (c < 0) {
		int err = errno;
		close(p[0]);
		close(p[1]);
		if (v2fd >= 0)
			close(v2fd);
		answer(fd, id, "E\t%d\tfork: %s", err, strerror(err));
		return;
	}
	if (c == 0) {
		close(p[0]);
		close(fd);
		prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
		if (join_err != 0)
			fail(p[1], join_err, v2dir);
		if (v2fd >= 0)
			close(v2fd);
		join_pod(&q, p[1]);
	}
	if (v2fd >= 0)
		close(v2fd);
	close(p[1]);
	/* One line: listening, or why not; end of file: it died without a word. */
	char r[512];
	size_t got = 0;
	struct pollfd pf = { p[0], POLLIN, 0 };
	while (got < sizeof r - 1 && memchr(r, '\n', got) == NULL) {
		int k = poll(&pf, 1, REPORT_TIMEOUT_MS);
		if (k < 0 && errno == EINTR)
			continue;
		if (k == 0) {
			close(p[0]);
			answer(fd, id, "E\t%d\tthe pod's wasm host did not listen within %d ms", ETIMEDOUT, REPORT_TIMEOUT_MS);
			return;
		}
		ssize_t m = read(p[0], r + got, sizeof r - 1 - got);
		if (m < 0 && errno == EINTR)
			continue;
		if (m <= 0)
			break;
		got += (size_t)m;
	}
	close(p[0]);
	r[got] = '\0';
	char *nl = strchr(r, '\n');
	if (nl)
		*nl = '\0';
	int hp, err;
	int off = 0;
	if (sscanf(r, "R %d", &hp) == 1)
		answer(fd, id, "R\t%d", hp);
	else if (sscanf(r, "E %d %n", &err, &off) == 1 && off > 0)
		answer(fd, id, "E\t%d\t%s", err, r + off);
	else
		answer(fd, id, "E\t%d\tthe pod's wasm host died before it listened", EIO);
}

void zygote_serve(int fd, const char *parent)
{
	prctl(PR_SET_NAME, "wasm-zygote", 0, 0, 0);
	/* With the daemon: a new daemon starts a new zygote (its own layout, the current binary). */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (parent && getppid() != (pid_t)atoi(parent))
		_exit(0);
	signal(SIGPIPE, SIG_IGN);
	/* The hosts it forks are reaped by the kernel (each resets this for its own instances). */
	signal(SIGCHLD, SIG_IGN);
	/* Nothing of the daemon's beyond the connection and stderr (the daemon's log of it). */
	close_range(fd + 1, ~0U, 0);
	static char buf[LINE_MAX_BYTES];
	size_t have = 0;
	bool skipping = false; /* the rest of a line too long to serve */
	for (;;) {
		ssize_t n = read(fd, buf + have, sizeof buf - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		have += (size_t)n;
		char *nl;
		while ((nl = memchr(buf, '\n', have)) != NULL) {
			*nl = '\0';
			if (!skipping)
				serve_request(fd, buf);
			skipping = false;
			size_t used = (size_t)(nl - buf) + 1;
			memmove(buf, nl + 1, have - used);
			have -= used;
		}
		if (have == sizeof buf) {
			if (!skipping)
				answer(fd, "-", "E\t%d\ta request longer than %d bytes", E2BIG, LINE_MAX_BYTES);
			skipping = true;
			have = 0;
		}
	}
}
