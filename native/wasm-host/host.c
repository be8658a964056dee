/* kuasar-wasm-host: the wasm pod's one resident process (WasmEdge as a library). Each
 * container is a kuasar-wasm-run that connects here; its module is parsed and validated
 * once per content (cached here, compared byte for byte) and each container runs in a
 * fork of this process: its own VM, WASI (args, env, preopens), stdio and memory cap, so a
 * trap, an exit or a memory blow-up ends only that fork. Forks share the loaded engine and
 * modules copy-on-write, so a container costs a few hundred kilobytes and starts in about
 * a millisecond. The host leaves when it has had no container for IDLE_MS. */
#define _GNU_SOURCE
#include "host.h"
#include "host_socket.h"
#include "protocol.h"

#include <wasmedge/wasmedge.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/close_range.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MAX_CLIENTS = 1024, IDLE_MS = 30000, MAX_ITEMS = 4096 };
static int idle_ms = IDLE_MS; /* --idle-ms=N */

struct module {
	uint8_t *bytes;
	size_t len;
	WasmEdge_ASTModuleContext *ast;
	uint32_t initial_pages; /* 0: no memory */
	struct module *next;
};

struct client {
	int fd;
	int stdio[3];
	pid_t child;
	char *launch; /* the 'L' message: KW_* entries */
	size_t launch_len;
	struct module *mod;
};

static WasmEdge_ConfigureContext *conf;
static WasmEdge_LoaderContext *loader;
static WasmEdge_ValidatorContext *validator;
static struct module *modules;
/* WASI with its host functions, made once; each fork sets its own arguments. */
static WasmEdge_ModuleInstanceContext *wasi;
static pid_t host_pid;
static struct client clients[MAX_CLIENTS];
static int nclients;

static void close_stdio(struct client *c)
{
	for (int i = 0; i < 3; i++)
		if (c->stdio[i] >= 0) {
			close(c->stdio[i]);
			c->stdio[i] = -1;
		}
}

/* The value of the first `key=` entry of a launch, or NULL. */
static const char *item(const struct client *c, const char *key)
{
	size_t kl = strlen(key);
	for (size_t off = 1; off < c->launch_len;) {
		const char *e = c->launch + off;
		if (strncmp(e, key, kl) == 0 && e[kl] == '=')
			return e + kl + 1;
		off += strlen(e) + 1;
	}
	return NULL;
}

/* The values of `key_0`, `key_1`, ... of a launch, in order (entries are numbered because a
 * launcher may keep only one of several same-named environment variables). */
static uint32_t items(const struct client *c, const char *key, const char **out, uint32_t cap)
{
	uint32_t n = 0;
	char k[64];
	for (; n < cap; n++) {
		snprintf(k, sizeof k, "%s_%u", key, n);
		if ((out[n] = item(c, k)) == NULL)
			break;
	}
	return n;
}

static void reply(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply(int fd, const char *fmt, ...)
{
	char b[4096];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof b - 1)
		n = sizeof b - 1;
	send(fd, b, (size_t)n, MSG_NOSIGNAL);
}

static uint32_t initial_memory(WasmEdge_ASTModuleContext *ast)
{
	const WasmEdge_ExportTypeContext *ex[256];
	uint32_t n = WasmEdge_ASTModuleListExports(ast, ex, 256);
	for (uint32_t i = 0; i < n && i < 256; i++) {
		if (WasmEdge_ExportTypeGetExternalType(ex[i]) != WasmEdge_ExternalType_Memory)
			continue;
		const WasmEdge_MemoryTypeContext *mt = WasmEdge_ExportTypeGetMemoryType(ast, ex[i]);
		if (mt)
			return WasmEdge_MemoryTypeGetLimit(mt).Min;
	}
	return 0;
}

/* The module of `path`, parsed and validated once per content. On failure: the status to
 * exit with and a message in `err`. */
static struct module *load(const char *path, const char *name, int *status, char *err, size_t errlen)
{
	int f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0) {
		*status = errno == ENOENT ? KW_NOT_FOUND : KW_CANNOT_LOAD;
		snprintf(err, errlen, errno == ENOENT ? "wasm module %s not found" : "cannot load wasm module %s: %s", name, strerror(errno));
		return NULL;
	}
	struct stat st;
	uint8_t *bytes = NULL;
	size_t len = 0;
	if (fstat(f, &st) == 0 && st.st_size > 0 && (bytes = malloc((size_t)st.st_size)) != NULL) {
		while (len < (size_t)st.st_size) {
			ssize_t r = read(f, bytes + len, (size_t)st.st_size - len);
			if (r <= 0)
				break;
			len += (size_t)r;
		}
	}
	close(f);
	if (bytes == NULL || len != (size_t)st.st_size) {
		free(bytes);
		*status = KW_CANNOT_LOAD;
		snprintf(err, errlen, "cannot load wasm module %s: unreadable or empty", name);
		return NULL;
	}
	for (struct module *m = modules; m; m = m->next)
		if (m->len == len && memcmp(m->bytes, bytes, len) == 0) {
			free(bytes);
			return m;
		}
	WasmEdge_ASTModuleContext *ast = NULL;
	WasmEdge_Result r = WasmEdge_LoaderParseFromBuffer(loader, &ast, bytes, (uint32_t)len);
	if (WasmEdge_ResultOK(r))
		r = WasmEdge_ValidatorValidate(validator, ast);
	if (!WasmEdge_ResultOK(r)) {
		if (ast)
			WasmEdge_ASTModuleDelete(ast);
		free(bytes);
		*status = KW_CANNOT_LOAD;
		snprintf(err, errlen, "cannot load wasm module %s: %s", name, WasmEdge_ResultGetMessage(r));
		return NULL;
	}
	struct module *m = calloc(1, sizeof *m);
	if (m == NULL) {
		WasmEdge_ASTModuleDelete(ast);
		free(bytes);
		*status = KW_RUNTIME_FAILURE;
		snprintf(err, errlen, "wasm host: out of memory");
		return NULL;
	}
	*m = (struct module){ bytes, len, ast, initial_memory(ast), modules };
	modules = m;
	return m;
}

static void write_oom_marker(const char *path, const char *limit_bytes)
{
	if (path == NULL)
		return;
	int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f >= 0) {
		dprintf(f, "{\"memoryLimitBytes\":%s}\n", limit_bytes ? limit_bytes : "0");
		close(f);
	}
}

static bool at_limit(const WasmEdge_ModuleInstanceContext *mod, uint32_t pages)
{
	if (pages == 0 || mod == NULL)
		return false;
	WasmEdge_String n = WasmEdge_StringCreateByCString("memory");
	WasmEdge_MemoryInstanceContext *mem = WasmEdge_ModuleInstanceFindMemory(mod, n);
	WasmEdge_StringDelete(n);
	return mem && WasmEdge_MemoryInstanceGetPageSize(mem) >= pages;
}

/* In the fork: the container's own VM and WASI; exits as kuasar-wasm-run's contract says. */
static void run_instance(struct client *c) __attribute__((noreturn));
static void run_instance(struct client *c)
{
	prctl(PR_SET_NAME, "wasm-instance", 0, 0, 0); /* apart from the host in ps (same argv) */
	/* The host's death (even kill -9) ends its instances: their runners then report 125. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != host_pid)
		_exit(KW_RUNTIME_FAILURE);
	for (int i = 0; i < 3; i++)
		if (dup2(c->stdio[i], i) < 0)
			_exit(KW_RUNTIME_FAILURE);
	/* Nothing else of the host: not the socket, nor other containers' stdio (their logs would
	 * not end while this instance lives). */
	close_range(3, ~0U, 0);
	signal(SIGCHLD, SIG_DFL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	const char *root = item(c, "KW_ROOT");
	if (root && chdir(root) < 0)
		_exit(KW_RUNTIME_FAILURE);
	const char *limit = item(c, "KW_MEMORY_LIMIT");
	uint32_t pages = (uint32_t)strtoul(item(c, "KW_PAGES") ? item(c, "KW_PAGES") : "0", NULL, 10);
	if (pages > 0 && c->mod->initial_pages > pages) {
		write_oom_marker(item(c, "KW_OOM"), limit);
		dprintf(2, "wasm module exceeded its memory limit of %s bytes\n", limit ? limit : "?");
		_exit(KW_MEMORY_LIMIT);
	}
	static const char *args[MAX_ITEMS], *envs[MAX_ITEMS], *dirs[MAX_ITEMS];
	uint32_t na = items(c, "KW_ARG", args, MAX_ITEMS), ne = items(c, "KW_ENV", envs, MAX_ITEMS), nd = items(c, "KW_DIR", dirs, MAX_ITEMS);
	/* Only what is per instance: an executor (no VM: that would also build a loader, a
	 * validator and a 512 KB statistics table the interpreter never reads), a store, WASI
	 * (made in the host, its arguments set here) and the module instantiated from the
	 * host's validated AST. */
	WasmEdge_ConfigureContext *own = WasmEdge_ConfigureCreate();
	if (pages > 0)
		WasmEdge_ConfigureSetMaxMemoryPage(own, pages);
	WasmEdge_ExecutorContext *ex = WasmEdge_ExecutorCreate(own, NULL);
	WasmEdge_StoreContext *store = WasmEdge_StoreCreate();
	if (own == NULL || ex == NULL || store == NULL || wasi == NULL)
		_exit(KW_RUNTIME_FAILURE);
	WasmEdge_ModuleInstanceInitWASI(wasi, args, na, envs, ne, dirs, nd);
	WasmEdge_ModuleInstanceContext *inst = NULL;
	WasmEdge_Result r = WasmEdge_ExecutorRegisterImport(ex, store, wasi);
	if (WasmEdge_ResultOK(r))
		r = WasmEdge_ExecutorInstantiate(ex, &inst, store, c->mod->ast);
	if (WasmEdge_ResultOK(r)) {
		WasmEdge_String start = WasmEdge_StringCreateByCString("_start");
		const WasmEdge_FunctionInstanceContext *fn = WasmEdge_ModuleInstanceFindFunction(inst, start);
		if (fn == NULL) {
			dprintf(2, "wasm trap: function not found: _start\n");
			_exit(KW_TRAP);
		}
		r = WasmEdge_ExecutorInvoke(ex, fn, NULL, 0, NULL, 0);
	}
	if (WasmEdge_ResultOK(r)) {
		uint32_t code = WasmEdge_ModuleInstanceWASIGetExitCode(wasi);
		if (code != 0 && at_limit(inst, pages))
			goto oom;
		_exit((int)(code & 0xff));
	}
	if (at_limit(inst, pages))
		goto oom;
	if ((WasmEdge_ResultGetCode(r) & 0xf00) == 0x300) { /* instantiation: an import this host lacks */
		dprintf(2, "cannot instantiate wasm module %s: %s\n", args[0] ? args[0] : "", WasmEdge_ResultGetMessage(r));
		_exit(KW_CANNOT_LOAD);
	}
	dprintf(2, "wasm trap: %s\n", WasmEdge_ResultGetMessage(r));
	_exit(KW_TRAP);
oom:
	write_oom_marker(item(c, "KW_OOM"), limit);
	dprintf(2, "wasm module exceeded its memory limit of %s bytes\n", limit ? limit : "?");
	_exit(KW_MEMORY_LIMIT);
}

static void drop(int i)
{
	struct client *c = &clients[i];
	if (c->child > 0)
		kill(c->child, SIGKILL); /* the runner is gone: so is its instance (reaped later) */
	close_stdio(c);
	close(c->fd);
	free(c->launch);
	clients[i] = clients[--nclients];
}

/* Names the instance's pid for the daemon (pause and resume reach it, a descendant of the
 * holder): written aside and renamed, so a reader never sees half a number. */
static void write_pidfile(const char *path, pid_t pid)
{
	if (path == NULL || *path == '\0')
		return;
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int f = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (f < 0)
		return;
	dprintf(f, "%d\n", (int)pid);
	close(f);
	if (rename(tmp, path) < 0)
		unlink(tmp);
}

/* One message from client i; false when the client is done with. */
static bool on_message(int i)
{
	struct client *c = &clients[i];
	static char buf[KW_MSG_MAX + 1];
	int fds[3] = { -1, -1, -1 };
	char ctl[CMSG_SPACE(sizeof fds)];
	struct iovec iov = { buf, KW_MSG_MAX };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
	ssize_t n = recvmsg(c->fd, &m, MSG_CMSG_CLOEXEC);
	if (n < 0 && errno == EINTR)
		return true;
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h))
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS && h->cmsg_len == CMSG_LEN(sizeof fds))
			memcpy(fds, CMSG_DATA(h), sizeof fds);
	switch (buf[0]) {
	case 'L': {
		if (c->launch || fds[0] < 0) {
			for (int k = 0; k < 3; k++)
				if (fds[k] >= 0)
					close(fds[k]);
			return false;
		}
		memcpy(c->stdio, fds, sizeof fds);
		c->launch = malloc((size_t)n);
		if (c->launch == NULL)
			return false;
		memcpy(c->launch, buf, (size_t)n);
		c->launch_len = (size_t)n;
		const char *path = item(c, "KW_MODULE");
		const char *name = item(c, "KW_ARG_0");
		int status = KW_RUNTIME_FAILURE;
		char err[2048];
		c->mod = path ? load(path, name ? name : path, &status, err, sizeof err) : NULL;
		if (c->mod == NULL) {
			if (path == NULL)
				snprintf(err, sizeof err, "wasm host: launch without KW_MODULE");
			reply(c->fd, "E%d %s", status, err);
			return true;
		}
		reply(c->fd, "R");
		return true;
	}
	case 'G': {
		if (c->mod == NULL || c->child != 0)
			return false;
		pid_t p = fork();
		if (p < 0) {
			reply(c->fd, "X%d", KW_RUNTIME_FAILURE << 8);
			return true;
		}
		if (p == 0)
			run_instance(c);
		c->child = p;
		write_pidfile(item(c, "KW_PIDFILE"), p);
		close_stdio(c); /* the instance holds them now */
		return true;
	}
	case 'K':
		if (c->child > 0)
			kill(c->child, atoi(buf + 1));
		return true;
	default:
		return false;
	}
}

static void reap(void)
{
	for (;;) {
		int ws;
		pid_t p = waitpid(-1, &ws, WNOHANG);
		if (p <= 0)
			return;
		for (int i = 0; i < nclients; i++)
			if (clients[i].child == p) {
				clients[i].child = -1; /* ended: nothing left to kill */
				reply(clients[i].fd, "X%d", ws);
			}
	}
}

/* The flag's value (`NAME=value`), or NULL. */
static const char *flag(int argc, char **argv, const char *name)
{
	size_t n = strlen(name);
	for (int i = 1; i < argc; i++)
		if (strncmp(argv[i], name, n) == 0 && argv[i][n] == '=')
			return argv[i] + n + 1;
	return NULL;
}

/* Binds and listens on the pod's socket (in the current directory): non-blocking, so the
 * idle check accepts without waiting. -1 on failure. */
static int host_listen(void)
{
	int lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	strcpy(a.sun_path, KW_SOCKET_NAME);
	unlink(KW_SOCKET_NAME);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 128) < 0) {
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	return lfd;
}

/* Serves runners on `lfd` until idle or until the holder (`hfd`, its pidfd; -1: none) exits. */
static void host_loop(int lfd, int hfd) __attribute__((noreturn));
static void host_loop(int lfd, int hfd)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	signal(SIGPIPE, SIG_IGN);
	if (sfd < 0)
		_exit(KW_RUNTIME_FAILURE);

	static struct pollfd pf[MAX_CLIENTS + 3];
	for (;;) {
		pf[0] = (struct pollfd){ lfd, POLLIN, 0 };
		pf[1] = (struct pollfd){ sfd, POLLIN, 0 };
		for (int i = 0; i < nclients; i++)
			pf[i + 2] = (struct pollfd){ clients[i].fd, POLLIN, 0 };
		pf[nclients + 2] = (struct pollfd){ hfd, POLLIN, 0 }; /* a negative fd is skipped */
		int n = poll(pf, (nfds_t)nclients + 3, nclients == 0 ? idle_ms : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0) {
			/* Idle: new runners start another host from now on; one that connected just
			 * before is served by this one, which leaves once it is idle again. */
			unlink(KW_SOCKET_NAME);
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (cfd < 0)
				_exit(0);
			fcntl(cfd, F_SETFL, 0);
			clients[nclients++] = (struct client){ cfd, { -1, -1, -1 }, 0, NULL, 0, NULL };
			continue;
		}
		if (pf[nclients + 2].revents & POLLIN) {
			for (int i = 0; i < nclients; i++)
				if (clients[i].child > 0)
					kill(clients[i].child, SIGKILL);
			unlink(KW_SOCKET_NAME);
			_exit(0);
		}
		if (pf[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
				;
			reap();
		}
		for (int i = nclients - 1; i >= 0; i--)
			if (pf[i + 2].revents & (POLLIN | POLLHUP | POLLERR))
				if (!on_message(i))
					drop(i);
		if (pf[0].revents & POLLIN) {
			int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (cfd >= 0 && nclients < MAX_CLIENTS)
				clients[nclients++] = (struct client){ cfd, { -1, -1, -1 }, 0, NULL, 0, NULL };
			else if (cfd >= 0)
				close(cfd);
		}
	}
}

void host_serve_pod(int hfd, int report)
{
	prctl(PR_SET_NAME, "kuasar-wasm-host", 0, 0, 0);
	host_pid = getpid(); /* its instances check that they are its own */
	/* Under the runners' start lock: a runner that found no host and is starting one is
	 * waited for, and its host kept (this one leaves, saying so with pid 0). */
	int lock = kw_start_lock();
	if (lock < 0) {
		dprintf(report, "E %d the wasm host's start lock: %s\n", errno, strerror(errno));
		_exit(KW_RUNTIME_FAILURE);
	}
	int other = kw_try_connect();
	if (other >= 0) {
		dprintf(report, "R 0\n");
		_exit(0);
	}
	int lfd = host_listen();
	if (lfd < 0) {
		dprintf(report, "E %d the wasm host's socket: %s\n", errno, strerror(errno));
		_exit(KW_RUNTIME_FAILURE);
	}
	close(lock);
	dprintf(report, "R %d\n", (int)host_pid);
	close(report);
	host_loop(lfd, hfd);
}

int main(int argc, char **argv)
{
	/* Run through WasmEdge's private loader, the process would be named after the loader. */
	prctl(PR_SET_NAME, "kuasar-wasm-host", 0, 0, 0);
	host_pid = getpid();
	/* It leaves with _exit, never exit(): under the LLVM stand-in (native/wasm-host/
	 * llvm-stand-in.sh) libwasmedge's static destructors would call into it. */
	WasmEdge_LogOff(); /* WasmEdge would log to stdout; each instance reports on its own stderr */
	conf = WasmEdge_ConfigureCreate();
	WasmEdge_ConfigureAddHostRegistration(conf, WasmEdge_HostRegistration_Wasi);
	loader = WasmEdge_LoaderCreate(conf);
	validator = WasmEdge_ValidatorCreate(conf);
	wasi = WasmEdge_ModuleInstanceCreateWASI(NULL, 0, NULL, 0, NULL, 0);
	const char *idle = flag(argc, argv, "--idle-ms");
	if (idle && atoi(idle) > 0)
		idle_ms = atoi(idle);
	/* --zygote: the node's template; each pod's host is a fork of it (zygote.c). */
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--zygote") == 0)
			zygote_serve(3, flag(argc, argv, "--parent"));

	/* When the holder dies (kill -9), its runners are killed by the daemon; the host does not
	 * wait for its idle time to end, and takes whatever instance is left with it. */
	const char *holder = flag(argc, argv, "--holder");
	long hpid = holder ? strtol(holder, NULL, 10) : 0;
	int hfd = hpid > 1 ? (int)syscall(SYS_pidfd_open, (pid_t)hpid, 0) : -1;
	int lfd = host_listen();
	if (lfd < 0)
		_exit(KW_RUNTIME_FAILURE);
	/* --ready-fd=N: the runner that started this host waits on it (one byte: listening). */
	const char *ready = flag(argc, argv, "--ready-fd");
	int rfd = ready ? atoi(ready) : -1;
	if (rfd > 2) {
		ssize_t w = write(rfd, "r", 1);
		(void)w;
		close(rfd);
	}
	host_loop(lfd, hfd);
}
