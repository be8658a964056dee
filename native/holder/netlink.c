#include "netlink.h"

#include <errno.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum { SEQ = 1, ACK_WAIT_S = 2 };

void nl_init(struct nl_msg *m, uint16_t type, uint16_t flags, const void *body, size_t len)
{
	memset(m, 0, sizeof *m);
	struct nlmsghdr *n = (struct nlmsghdr *)m->buf;
	n->nlmsg_len = NLMSG_LENGTH(len);
	n->nlmsg_type = type;
	n->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	n->nlmsg_seq = SEQ;
	memcpy(NLMSG_DATA(n), body, len);
}

bool nl_attr(struct nl_msg *m, uint16_t type, const void *data, size_t len)
{
	struct nlmsghdr *n = (struct nlmsghdr *)m->buf;
	size_t off = NLMSG_ALIGN(n->nlmsg_len), size = NLA_HDRLEN + len;
	if (off + NLA_ALIGN(size) > sizeof m->buf)
		return false;
	struct nlattr *a = (struct nlattr *)(m->buf + off);
	a->nla_type = type;
	a->nla_len = (uint16_t)size;
	memcpy((char *)a + NLA_HDRLEN, data, len);
	n->nlmsg_len = (uint32_t)(off + NLA_ALIGN(size));
	return true;
}

/* The kernel's message among the TLVs after an error (NETLINK_EXT_ACK), copied to why. */
static void ext_ack(const struct nlmsghdr *h, const struct nlmsgerr *e, char *why, size_t whylen)
{
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return;
	size_t off = NLMSG_HDRLEN + sizeof *e;
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		off += e->msg.nlmsg_len - NLMSG_HDRLEN; /* the request is echoed whole */
	while (off + NLA_HDRLEN <= h->nlmsg_len) {
		const struct nlattr *a = (const struct nlattr *)((const char *)h + off);
		if (a->nla_len < NLA_HDRLEN || off + a->nla_len > h->nlmsg_len)
			return;
		if (a->nla_type == NLMSGERR_ATTR_MSG && whylen > 0) {
			size_t n = a->nla_len - NLA_HDRLEN;
			if (n >= whylen)
				n = whylen - 1;
			memcpy(why, (const char *)a + NLA_HDRLEN, n);
			why[n] = '\0';
			why[strcspn(why, "\n")] = '\0';
			return;
		}
		off += NLA_ALIGN(a->nla_len);
	}
}

int nl_call(struct nl_msg *m, char *why, size_t whylen)
{
	if (whylen > 0)
		why[0] = '\0';
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return errno;
	int one = 1;
	struct timeval wait = { .tv_sec = ACK_WAIT_S };
	/* Both best effort: an older kernel without extended acks still answers with the errno. */
	(void)setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
	struct nlmsghdr *n = (struct nlmsghdr *)m->buf;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	int err = 0;
	if (sendto(fd, n, n->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
		err = errno;
		goto out;
	}
	for (;;) {
		static union {
			struct nlmsghdr h;
			char buf[8192];
		} r; /* off the stack: pid 1's stack pages stay few */
		ssize_t got = recv(fd, r.buf, sizeof r.buf, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			err = errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
			goto out;
		}
		for (size_t off = 0; off + NLMSG_HDRLEN <= (size_t)got;) {
			const struct nlmsghdr *h = (const struct nlmsghdr *)(r.buf + off);
			if (h->nlmsg_len < NLMSG_HDRLEN || off + h->nlmsg_len > (size_t)got) {
				err = EBADMSG;
				goto out;
			}
			if (h->nlmsg_seq == SEQ && h->nlmsg_type == NLMSG_ERROR) {
				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
					err = EBADMSG;
					goto out;
				}
				const struct nlmsgerr *e = NLMSG_DATA(h);
				err = -e->error; /* 0: the acknowledgement */
				if (err != 0)
					ext_ack(h, e, why, whylen);
				goto out;
			}
			off += NLMSG_ALIGN(h->nlmsg_len);
		}
	}
out:
	close(fd);
	return err;
}
