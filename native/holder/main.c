/* kuasar-holder's entry: arguments, then the startup sequence, then the loop (holder.h). */
#include "holder.h"
#include "journal.h"
#include "log.h"
#include "loop.h"
#include "pod.h"
#include "serve.h"
#include "server.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(struct holder *h) __attribute__((noreturn));
static void usage(struct holder *h)
{
	die(h, 0, "usage: kuasar-holder --dir DIR [--netns PATH] [--new-ipc] [--new-uts] [--hostname NAME] [--sysctl KEY=VALUE]... [--cgroup DIR]... [--shm DIR --shm-size BYTES] [--new-pid] [--log FILE]\n"
	       "       kuasar-holder --dir DIR --serve-port PATH|fd:N [--log FILE]");
}

/* Relative to DIR's descriptor, as every file of DIR: no path buffer on every holder's stack.
 * Written aside and renamed (a reader sees the old file or the whole new one), never synced:
 * it names processes that do not outlive the kernel, and the page cache outlives any crash
 * short of the power loss that ends them too (the daemon's records follow the same rule). Two
 * fsyncs here were a journal commit or two on every pod's start, behind containerd's own. */
static void write_pid_file(struct holder *h)
{
	static const char tmp[] = "holder.pid.tmp";
	char body[64];
	int n = snprintf(body, sizeof body, "%d %d\n", (int)h->pid, (int)h->podinit);
	int fd = openat(h->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die(h, errno, "open %s/%s", h->dir, tmp);
	if (!write_all(fd, body, (size_t)n))
		die(h, errno, "write %s/%s", h->dir, tmp);
	close(fd);
	if (renameat(h->dirfd, tmp, h->dirfd, "holder.pid") < 0)
		die(h, errno, "rename %s/%s", h->dir, tmp);
}

/* Closes every fd from 3 up except keep[0] and keep[1] (-1: none). */
static void close_inherited(int a, int b)
{
	int keep[2] = { a < b ? a : b, a < b ? b : a };
	unsigned from = 3;
	for (int i = 0; i <= 2; i++) {
		unsigned to = i < 2 ? (unsigned)keep[i] : ~0U; /* close [from, to) */
		if (i < 2 && (keep[i] < 0 || (unsigned)keep[i] < from))
			continue;
		if (to > from && close_range(from, to - 1, 0) < 0)
			for (unsigned fd = from; fd < to && fd < 1024; fd++)
				close((int)fd);
		if (i < 2)
			from = to + 1;
	}
}

int main(int argc, char **argv)
{
	static struct holder holder = HOLDER_INIT;
	struct holder *h = &holder;
	h->pid = getpid();
	log_init(h->pid);
	const char *dir = NULL, *logfile = NULL, *serve_port = NULL;
	bool new_pid = false;
	struct pod_options pod = { .sysctls = calloc((size_t)argc, sizeof(char *)), .cgroups = calloc((size_t)argc, sizeof(char *)) };
	if (pod.sysctls == NULL || pod.cgroups == NULL)
		die(h, ENOMEM, "calloc");
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },     { "netns", required_argument, NULL, 'n' },
		{ "new-ipc", no_argument, NULL, 'i' },       { "new-uts", no_argument, NULL, 'u' },
		{ "hostname", required_argument, NULL, 'h' }, { "new-pid", no_argument, NULL, 'p' },
		{ "log", required_argument, NULL, 'l' },     { "serve-port", required_argument, NULL, 's' },
		{ "sysctl", required_argument, NULL, 'y' },  { "cgroup", required_argument, NULL, 'c' },
		{ "shm", required_argument, NULL, 'm' },     { "shm-size", required_argument, NULL, 'z' },
		{ NULL, 0, NULL, 0 },
	};
	for (int o; (o = getopt_long(argc, argv, "", opts, NULL)) != -1;) {
		switch (o) {
		case 'd': dir = optarg; break;
		case 'n': pod.netns = optarg; break;
		case 'i': pod.new_ipc = true; break;
		case 'u': pod.new_uts = true; break;
		case 'h': pod.hostname = optarg; break;
		case 'p': new_pid = true; break;
		case 'l': logfile = optarg; break;
		case 's': serve_port = optarg; break;
		case 'y': pod.sysctls[pod.nsysctls++] = optarg; break;
		case 'c': pod.cgroups[pod.ncgroups++] = optarg; break;
		case 'm': pod.shm = optarg; break;
		case 'z':
			if (!parse_num(optarg, 4096, LLONG_MAX, &pod.shm_size))
				usage(h);
			break;
		default: usage(h);
		}
	}
	h->serve = serve_port != NULL;
	h->init = h->serve && h->pid == 1;
	long long port_fd = -1;
	if (h->serve && strncmp(serve_port, "fd:", 3) == 0 && !parse_num(serve_port + 3, 3, INT_MAX, &port_fd))
		usage(h);

	struct stat st;
	if (port_fd != 3 && fstat(3, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
		h->readyfd = 3;
		fcntl(3, F_SETFD, FD_CLOEXEC);
	}
	/* Whatever else the starter leaked must not be held open for the pod's lifetime. */
	close_inherited(h->readyfd, (int)port_fd);
	if (port_fd >= 0 && fcntl((int)port_fd, F_GETFD) < 0)
		die(h, errno, "--serve-port %s", serve_port);

	if (dir == NULL || optind != argc)
		usage(h);
	if (pod.hostname != NULL && !pod.new_uts)
		die(h, EINVAL, "--hostname needs --new-uts (it would rename the host)");
	if ((pod.shm != NULL) != (pod.shm_size > 0))
		die(h, EINVAL, "--shm and --shm-size go together");
	if (h->serve && (pod.netns != NULL || pod.new_ipc || pod.new_uts || new_pid || pod.nsysctls > 0 || pod.ncgroups > 0 || pod.shm != NULL))
		die(h, EINVAL, "--serve-port runs in the namespaces it is started in (no --netns, --new-*)");
	if ((h->dir = realpath(dir, NULL)) == NULL)
		die(h, errno, "--dir %s", dir);
	if (!h->serve && (asprintf(&h->sock_path, "%s/" SOCK_NAME, h->dir) < 0 || asprintf(&h->pid_path, "%s/holder.pid", h->dir) < 0))
		die(h, ENOMEM, "--dir %s", h->dir);
	h->dirfd = open(h->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (h->dirfd < 0)
		die(h, errno, "open %s", h->dir);

	/* Our own session: no controlling terminal, no job-control signals from the daemon's. */
	setsid();
	pod_setup(h, &pod);
	free(pod.cgroups);
	free(pod.sysctls);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		die(h, errno, "PR_SET_CHILD_SUBREAPER");

	signals_init(h);

	if (new_pid)
		h->podinit = pod_start_init(h);

	journal_open(h);
	if (h->serve)
		port_open(h, serve_port, (int)port_fd);
	else
		server_listen(h);

	/* stdio: /dev/null or the log; startup errors keep going to the original stderr. */
	int saved = fcntl(2, F_DUPFD_CLOEXEC, 3);
	log_set_fd(saved < 0 ? 2 : saved);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int logfd = logfile ? open(logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600) : null;
	if (null < 0 || logfd < 0)
		die(h, errno, "open %s", logfile ? logfile : "/dev/null");
	if (dup2(null, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0)
		die(h, errno, "dup2");
	close(null);
	if (logfd != null)
		close(logfd);

	if (!h->serve)
		write_pid_file(h);
	if (chdir("/") < 0)
		die(h, errno, "chdir /");

	log_set_fd(2);
	if (saved >= 0)
		close(saved);
	if (h->serve)
		logmsg("ready: dir %s, serving %s%s", h->dir, serve_port, h->init ? " as pid 1" : "");
	else
		logmsg("ready: dir %s, pod init %d", h->dir, (int)h->podinit);
	if (h->readyfd >= 0) {
		char line[64];
		int n = snprintf(line, sizeof line, "ready %d %d\n", (int)h->pid, (int)h->podinit);
		if (!write_all(h->readyfd, line, (size_t)n))
			logmsg("ready fd: %s", strerror(errno));
		close_fd(&h->readyfd);
	}
	pod_release_starter(h);
	port_recheck(h);
	loop(h);
}
