/*
 * The guest's side of a VM pod's start: its hostname, its NIC (the pod's MTU, addresses and
 * routes) and the pod's sysctls, each one system call or one rtnetlink message of pid 1. A
 * shell running hostname(1), ip(8) and sysctl(8) did this before: under TCG a guest restored
 * from a template translates each program it runs for the first time afresh, tens of ms an
 * exec, while a request over the port is a millisecond.
 *
 * One verb per operation rather than one `netconf` carrying everything: the verb table wants
 * a fixed count of strings per verb, a failure names the one step that failed, and the round
 * trips are cheap. The host sends them in the order the script ran them.
 *
 * Only a guest's own pid 1 (`--serve-port` as pid 1) serves them: a holder on the host sits in
 * the host's or a pod's network and UTS namespaces, and these would change those.
 *
 * Nothing here blocks the loop: `linkup` answers ENODEV at once while a hot-plugged NIC is
 * still coming (the host polls), and a netlink acknowledgement is the kernel's synchronous
 * answer.
 */
#include "guest_setup.h"

#include "holder.h"
#include "netlink.h"
#include "server.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool guest_only_refused(struct holder *h, struct client *c, char **f)
{
	if (h->serve && h->init)
		return false;
	reply_err(h, c, f[1], EPERM, "%s: only a VM guest's agent (pid 1) sets up its machine; this holder shares the host's or a pod's namespaces", f[0]);
	return true;
}

/* The link's index; 0 with errno set (ENODEV) when there is none of that name. */
static unsigned link_index(const char *name)
{
	if (name[0] == '\0' || strlen(name) >= IFNAMSIZ) {
		errno = ENODEV;
		return 0;
	}
	return if_nametoindex(name);
}

/* An address of `family` (AF_INET/AF_INET6) in out (16 bytes); its length, 0 when s is not one. */
static size_t parse_addr(int family, const char *s, unsigned char *out)
{
	if (inet_pton(family, s, out) != 1)
		return 0;
	return family == AF_INET ? 4 : 16;
}

/* ADDR[/PREFIX] of either family (or of `family` if not AF_UNSPEC); a missing prefix is the full length. */
static bool parse_prefix(const char *s, int family, bool prefix_required, int *fam, unsigned char *addr, unsigned *prefix)
{
	char tmp[INET6_ADDRSTRLEN + 8];
	if (strlen(s) >= sizeof tmp)
		return false;
	strcpy(tmp, s);
	char *slash = strchr(tmp, '/');
	if (slash != NULL)
		*slash = '\0';
	else if (prefix_required)
		return false;
	*fam = family != AF_UNSPEC ? family : strchr(tmp, ':') != NULL ? AF_INET6 : AF_INET;
	size_t len = parse_addr(*fam, tmp, addr);
	if (len == 0)
		return false;
	long long p = (long long)len * 8;
	if (slash != NULL && !parse_num(slash + 1, 0, (long long)len * 8, &p))
		return false;
	*prefix = (unsigned)p;
	return true;
}

/* Replies to a netlink request: ok, or its errno with the kernel's explanation if it gave one. */
static void nl_reply(struct holder *h, struct client *c, char **f, struct nl_msg *m, const char *what)
{
	char why[160];
	int err = nl_call(m, why, sizeof why);
	if (err != 0)
		FAIL(h, c, f[1], err, "%s %.256s: %s%s%s", f[0], what, strerror(err), why[0] ? ": " : "", why);
	reply_ok(h, c, f[1]);
}

void request_access(struct holder *h, struct client *c, char **f, int n)
{
	(void)n;
	if (guest_only_refused(h, c, f))
		return;
	if (f[2][0] != '/')
		FAIL(h, c, f[1], EINVAL, "access: %.64s is not an absolute path", f[2]);
	if (access(f[2], X_OK) < 0)
		FAIL(h, c, f[1], errno, "access %.256s: %s", f[2], strerror(errno));
	reply_ok(h, c, f[1]);
}

void request_hostname(struct holder *h, struct client *c, char **f, int n)
{
	(void)n;
	if (guest_only_refused(h, c, f))
		return;
	size_t len = strlen(f[2]);
	if (len == 0 || len > HOST_NAME_MAX)
		FAIL(h, c, f[1], EINVAL, "hostname: want 1 to %d bytes, got %zu", HOST_NAME_MAX, len);
	if (sethostname(f[2], len) < 0)
		FAIL(h, c, f[1], errno, "hostname %.64s: %s", f[2], strerror(errno));
	reply_ok(h, c, f[1]);
}

void request_linkup(struct holder *h, struct client *c, char **f, int n)
{
	(void)n;
	if (guest_only_refused(h, c, f))
		return;
	long long mtu;
	if (!parse_num(f[3], 68, 65535, &mtu))
		FAIL(h, c, f[1], EINVAL, "linkup: MTU %.32s is not a number from 68 to 65535", f[3]);
	unsigned index = link_index(f[2]);
	if (index == 0)
		FAIL(h, c, f[1], errno, "linkup: no link %.32s (yet): %s", f[2], strerror(errno));
	struct ifinfomsg body = { .ifi_family = AF_UNSPEC, .ifi_index = (int)index, .ifi_flags = IFF_UP, .ifi_change = IFF_UP };
	struct nl_msg m;
	nl_init(&m, RTM_NEWLINK, 0, &body, sizeof body);
	uint32_t v = (uint32_t)mtu;
	nl_attr(&m, IFLA_MTU, &v, sizeof v);
	nl_reply(h, c, f, &m, f[2]);
}

void request_addradd(struct holder *h, struct client *c, char **f, int n)
{
	(void)n;
	if (guest_only_refused(h, c, f))
		return;
	int family;
	unsigned char addr[16];
	unsigned prefix;
	if (!parse_prefix(f[3], AF_UNSPEC, true, &family, addr, &prefix))
		FAIL(h, c, f[1], EINVAL, "addradd: %.64s is not ADDRESS/PREFIX (IPv4 or IPv6)", f[3]);
	unsigned index = link_index(f[2]);
	if (index == 0)
		FAIL(h, c, f[1], errno, "addradd: no link %.32s: %s", f[2], strerror(errno));
	struct ifaddrmsg body = { .ifa_family = (unsigned char)family, .ifa_prefixlen = (unsigned char)prefix, .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = index };
	struct nl_msg m;
	/* EXCL: the script's `ip addr add` failed on an address already there (a setup runs once per VM). */
	nl_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &body, sizeof body);
	size_t len = family == AF_INET ? 4 : 16;
	nl_attr(&m, IFA_LOCAL, addr, len);
	nl_attr(&m, IFA_ADDRESS, addr, len);
	char what[96];
	snprintf(what, sizeof what, "%.64s dev %.16s", f[3], f[2]);
	nl_reply(h, c, f, &m, what);
}

/* ip(8)'s scope names, or a number. */
static bool parse_scope(const char *s, unsigned char *out)
{
	static const struct {
		const char *name;
		unsigned char scope;
	} names[] = { { "universe", RT_SCOPE_UNIVERSE }, { "global", RT_SCOPE_UNIVERSE }, { "site", RT_SCOPE_SITE }, { "link", RT_SCOPE_LINK }, { "host", RT_SCOPE_HOST } };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(s, names[i].name) == 0) {
			*out = names[i].scope;
			return true;
		}
	long long v;
	if (!parse_num(s, 0, 255, &v))
		return false;
	*out = (unsigned char)v;
	return true;
}

void request_routeadd(struct holder *h, struct client *c, char **f, int n)
{
	(void)n;
	if (guest_only_refused(h, c, f))
		return;
	const char *dev = f[2], *dst = f[4], *via = f[5], *scope = f[6];
	int family = strcmp(f[3], "4") == 0 ? AF_INET : strcmp(f[3], "6") == 0 ? AF_INET6 : AF_UNSPEC;
	if (family == AF_UNSPEC)
		FAIL(h, c, f[1], EINVAL, "routeadd: FAMILY %.8s is not 4 or 6", f[3]);
	unsigned char to[16] = { 0 }, gw[16];
	unsigned dst_len = 0;
	int fam;
	if (strcmp(dst, "default") != 0 && !parse_prefix(dst, family, false, &fam, to, &dst_len))
		FAIL(h, c, f[1], EINVAL, "routeadd: DST %.64s is not `default` or an IPv%s ADDRESS[/PREFIX]", dst, f[3]);
	size_t len = family == AF_INET ? 4 : 16;
	if (via[0] != '\0' && parse_addr(family, via, gw) == 0)
		FAIL(h, c, f[1], EINVAL, "routeadd: GATEWAY %.64s is not an IPv%s address", via, f[3]);
	/* ip(8)'s default when none is given: an IPv4 route without a gateway is the link's, any other global. */
	unsigned char sc = family == AF_INET && via[0] == '\0' ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE;
	if (scope[0] != '\0' && !parse_scope(scope, &sc))
		FAIL(h, c, f[1], EINVAL, "routeadd: SCOPE %.32s is not universe, global, site, link, host or a number", scope);
	unsigned index = link_index(dev);
	if (index == 0)
		FAIL(h, c, f[1], errno, "routeadd: no link %.32s: %s", dev, strerror(errno));
	struct rtmsg body = {
		.rtm_family = (unsigned char)family,
		.rtm_dst_len = (unsigned char)dst_len,
		.rtm_table = RT_TABLE_MAIN,
		.rtm_protocol = RTPROT_BOOT,
		.rtm_scope = sc,
		.rtm_type = RTN_UNICAST,
	};
	struct nl_msg m;
	/* EXCL as the script's `ip route add`: a route already there fails (a setup runs once per VM). */
	nl_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &body, sizeof body);
	if (dst_len > 0)
		nl_attr(&m, RTA_DST, to, len);
	if (via[0] != '\0')
		nl_attr(&m, RTA_GATEWAY, gw, len);
	uint32_t oif = index;
	nl_attr(&m, RTA_OIF, &oif, sizeof oif);
	char what[192];
	snprintf(what, sizeof what, "%.64s%s%.64s dev %.16s", dst, via[0] ? " via " : "", via, dev);
	nl_reply(h, c, f, &m, what);
}

/*
 * /proc/sys/KEY, KEY's separators made slashes as sysctl(8) reads them: dots, unless the key
 * has a slash (then dots are part of a name, e.g. an interface eth0.100). Only letters,
 * digits and `_ . - /`, no leading '/', no empty, '.' or '..' component: nothing outside
 * /proc/sys is ever named.
 */
static bool sysctl_path(const char *key, char *path, size_t size)
{
	size_t len = strlen(key);
	if (len == 0 || key[0] == '/' || strstr(key, "..") != NULL || strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-/") != len)
		return false;
	int w = snprintf(path, size, "/proc/sys/%s", key);
	if (w < 0 || (size_t)w >= size)
		return false;
	char *p = path + strlen("/proc/sys/");
	if (strchr(key, '/') == NULL)
		for (char *s = p; *s != '\0'; s++)
			if (*s == '.')
				*s = '/';
	for (char *s = p; *s != '\0';) {
		size_t part = strcspn(s, "/");
		if (part == 0 || (part == 1 && s[0] == '.'))
			return false;
		s += part;
		if (*s == '/')
			s++;
	}
	return p[strlen(p) - 1] != '/';
}

void request_sysctl(struct holder *h, struct client *c, char **f, int n)
{
	(void)n;
	if (guest_only_refused(h, c, f))
		return;
	char path[PATH_MAX];
	if (!sysctl_path(f[2], path, sizeof path))
		FAIL(h, c, f[1], EINVAL, "sysctl: %.128s is not a sysctl name (letters, digits, `_ . - /`; no leading `/`, no `..`)", f[2]);
	int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		FAIL(h, c, f[1], ENOENT, "sysctl %.128s: no such sysctl in this kernel", f[2]);
	if (fd < 0)
		FAIL(h, c, f[1], errno, "sysctl %.128s: open %s: %s", f[2], path, strerror(errno));
	bool ok = write_all(fd, f[3], strlen(f[3]));
	int err = errno;
	close(fd);
	if (!ok)
		FAIL(h, c, f[1], err, "sysctl %.128s=%.128s: %s", f[2], f[3], strerror(err));
	reply_ok(h, c, f[1]);
}
