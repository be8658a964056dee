#include "pod.h"

#include "holder.h"
#include "log.h"
#include "util.h"
#include "../cgroup-join/cgroup_join.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/mount.h>
#include <unistd.h>

/*
 * The holder's start in the pod's cgroup v2 dir: clone3(CLONE_INTO_CGROUP) of the holder, the
 * child going on as the holder (its pid is the one it reports) and the process the daemon
 * started waiting, then leaving. It waits until the holder reported ready (or died), so that a
 * starter that gives up and kills it still takes the holder along (PR_SET_PDEATHSIG until then),
 * and passes on the exit status of a holder that died. The holder is then the child of the
 * nearest subreaper, as after any restart of the daemon.
 */
static void move_into(struct holder *h, int v2fd, const char *dir)
{
	int handoff[2];
	if (pipe2(handoff, O_CLOEXEC) < 0)
		die(h, errno, "pipe");
	pid_t starter = getpid();
	int join_err = 0;
	pid_t c = cgroup_fork_into(v2fd, &join_err);
	if (c < 0)
		die(h, errno, "--cgroup: fork into %s", dir);
	if (c == 0) {
		close(handoff[0]);
		close(v2fd);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != starter)
			_exit(1); /* the starter died before the death signal was set */
		h->pid = getpid();
		log_init(h->pid);
		setsid(); /* a session of its own again: its starter's leaves with it */
		h->handoff = handoff[1];
		if (join_err != 0)
			die(h, join_err, "--cgroup: join %s", dir);
		return;
	}
	close(handoff[1]);
	char b;
	ssize_t n;
	while ((n = read(handoff[0], &b, 1)) < 0 && errno == EINTR) {
	}
	if (n == 1)
		_exit(0); /* ready: the holder goes on without us */
	/* End of file without the byte: it died before ready. */
	int status = 1 << 8; /* exit status 1, should it not be reaped */
	while (waitpid(c, &status, 0) < 0 && errno == EINTR) {
	}
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/*
 * Joins the pod's cgroup DIRs (one per mounted hierarchy) before the holder forks anything, so
 * its pod init and every process it launches start there (cgroup_join.h says how).
 */
static void join_cgroups(struct holder *h, const struct pod_options *o)
{
	int v2fd;
	const char *v2dir, *failed;
	if (cgroup_join_except_v2(o->cgroups, o->ncgroups, &v2fd, &v2dir, &failed) < 0)
		die(h, errno, "--cgroup: join %s", failed);
	if (v2fd >= 0)
		move_into(h, v2fd, v2dir);
}

/*
 * Lets go of the process that started the holder (move_into), once the holder reported ready:
 * from here the holder no longer dies with it.
 */
void pod_release_starter(struct holder *h)
{
	if (h->handoff < 0)
		return;
	prctl(PR_SET_PDEATHSIG, 0);
	if (write(h->handoff, "r", 1) != 1) {
		/* the starter is gone: nobody waits for the byte */
	}
	close_fd(&h->handoff);
}

/*
 * Sets one of the pod's sysctls (KEY=VALUE, KEY with '.' or '/' separators) by
 * writing /proc/sys: the kernel resolves net and IPC entries against the
 * writer's namespaces, so this runs after the holder entered the pod's. The
 * daemon validated the key; a name with an empty, '.' or '..' component is
 * still refused here, so nothing outside /proc/sys is ever written.
 */
static void apply_sysctl(struct holder *h, const char *arg, bool own_net, bool own_ipc)
{
	const char *eq = strchr(arg, '=');
	if (eq == NULL || eq == arg)
		die(h, EINVAL, "--sysctl %s: want KEY=VALUE", arg);
	size_t keylen = (size_t)(eq - arg);
	bool slashes = memchr(arg, '/', keylen) != NULL;
	char path[PATH_MAX];
	int n = snprintf(path, sizeof path, "/proc/sys/%.*s", (int)keylen, arg);
	if (n < 0 || (size_t)n >= sizeof path)
		die(h, ENAMETOOLONG, "--sysctl %.*s", (int)keylen, arg);
	char *p = path + strlen("/proc/sys/");
	if (!slashes)
		for (char *c = p; *c != '\0'; c++)
			if (*c == '.')
				*c = '/';
	for (char *c = p; *c != '\0';) {
		size_t len = strcspn(c, "/");
		if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			die(h, EINVAL, "sysctl %.*s: not a sysctl name", (int)keylen, arg);
		c += len;
		if (*c == '/')
			c++;
	}
	/* Never the host's: net.* needs the pod's netns, anything else its own IPC namespace. */
	if (strncmp(p, "net/", 4) == 0 ? !own_net : !own_ipc)
		die(h, EINVAL, "sysctl %.*s: the pod does not have its own namespace for it", (int)keylen, arg);
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		die(h, EINVAL, "sysctl %.*s: no such sysctl in this kernel", (int)keylen, arg);
	if (fd < 0)
		die(h, errno, "sysctl %.*s: open %s", (int)keylen, arg, path);
	const char *value = eq + 1;
	if (!write_all(fd, value, strlen(value)))
		die(h, errno, "sysctl %.*s=%s", (int)keylen, arg, value);
	close(fd);
}

/*
 * kuasar-pod-init beside this holder's executable (/proc/self/exe: a renamed or replaced file
 * still resolves to where the holder was started from). Read in the fork: its PATH_MAX buffers
 * go with the fork's exec instead of staying written stack pages of every holder.
 */
static void pod_init_path(char *out, size_t size)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	out[0] = '\0';
	if (n <= 0)
		return;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (slash == NULL)
		return;
	*slash = '\0';
	int m = snprintf(out, size, "%s/kuasar-pod-init", self);
	if (m < 0 || (size_t)m >= size)
		out[0] = '\0';
}

/*
 * pid 1 of the pod's pid namespace: reaps whatever is orphaned inside, dies with the holder.
 * It becomes kuasar-pod-init (a page or two, where this fork keeps every page of the holder it
 * wrote to); where that binary is missing (an older VM guest), this fork reaps itself.
 */
static void podinit_main(int death_rd) __attribute__((noreturn));
static void podinit_main(int death_rd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	struct pollfd p = { .fd = death_rd, .events = POLLIN };
	if (poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR)))
		_exit(0); /* the holder died before PR_SET_PDEATHSIG took effect */
	prctl(PR_SET_NAME, "pod-init");
	int null = open("/dev/null", O_RDWR);
	for (int i = 0; i < 3 && null >= 0; i++)
		dup2(null, i);
	for (int fd = 3; fd < 1024; fd++)
		if (fd != death_rd)
			close(fd);
	if (chdir("/") < 0) {
		/* stay where we are */
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		if (s != SIGCHLD)
			sigaction(s, &sa, NULL);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
	char exe[PATH_MAX];
	pod_init_path(exe, sizeof exe);
	if (exe[0] != '\0') {
		/* SIGCHLD stays blocked, and one already pending stays pending, for the new image. */
		char *const argv[] = { "kuasar-pod-init", NULL };
		char *const envp[] = { NULL };
		sigaction(SIGCHLD, &sa, NULL);
		execve(exe, argv, envp); /* the death signal is kept across it */
	}
	for (;;) {
		siginfo_t si;
		sigwaitinfo(&chld, &si);
		while (waitpid(-1, NULL, WNOHANG) > 0) {
		}
	}
}

/* unshare(CLONE_NEWPID) affects only our future children; the first one is pid 1 there. */
pid_t pod_start_init(struct holder *h)
{
	int self_ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (self_ns < 0)
		die(h, errno, "open /proc/self/ns/pid");
	int death[2];
	if (pipe2(death, O_CLOEXEC) < 0)
		die(h, errno, "pipe");
	if (unshare(CLONE_NEWPID) < 0)
		die(h, errno, "unshare(CLONE_NEWPID)");
	pid_t pid = fork();
	if (pid < 0)
		die(h, errno, "fork pod init");
	if (pid == 0) {
		close(death[1]);
		podinit_main(death[0]);
	}
	/* Back to our own pid namespace for every later child (runc must see host pids). */
	if (setns(self_ns, CLONE_NEWPID) < 0)
		die(h, errno, "setns back to the holder's pid namespace");
	close(self_ns);
	close(death[0]);
	h->podinit_pipe = death[1];
	return pid;
}


/*
 * The pod's /dev/shm: mounted here, in the host's mount namespace where the containers' bind
 * mounts find it, so the daemon spawns no mount(8) per pod (it blocked concurrent starts).
 */
static void mount_shm(struct holder *h, const char *dir, long long size)
{
	char data[64];
	snprintf(data, sizeof data, "mode=1777,size=%lld", size);
	char *real = realpath(dir, NULL);
	if (real == NULL)
		die(h, errno, "--shm %s", dir);
	if (mount("shm", real, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, data) < 0)
		die(h, errno, "mount tmpfs on %s", real);
	h->shm = real; /* set once mounted: holder_exit unmounts it */
}

void pod_setup(struct holder *h, const struct pod_options *o)
{
	if (o->shm != NULL)
		mount_shm(h, o->shm, o->shm_size);
	join_cgroups(h, o);
	if (o->netns != NULL) {
		int fd = open(o->netns, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die(h, errno, "open --netns %s", o->netns);
		if (setns(fd, CLONE_NEWNET) < 0)
			die(h, errno, "setns %s", o->netns);
		close(fd);
	}
	if ((o->new_ipc || o->new_uts) && unshare((o->new_ipc ? CLONE_NEWIPC : 0) | (o->new_uts ? CLONE_NEWUTS : 0)) < 0)
		die(h, errno, "unshare(%s%s)", o->new_ipc ? "CLONE_NEWIPC " : "", o->new_uts ? "CLONE_NEWUTS" : "");
	if (o->hostname != NULL && sethostname(o->hostname, strlen(o->hostname)) < 0)
		die(h, errno, "sethostname %s", o->hostname);
	for (int i = 0; i < o->nsysctls; i++)
		apply_sysctl(h, o->sysctls[i], o->netns != NULL, o->new_ipc);
}
