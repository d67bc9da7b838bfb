/* SPDX-License-Identifier: MIT */
/*
 * notify.c - messages the filesystem sends the kernel unasked (unique 0): cache
 * invalidations, deletions, stores, retrieves, poll wake-ups, prunes and epochs. Always
 * written to the session's main device fd (the kernel refuses them over its io_uring
 * queues).
 *
 * From the loop thread the write goes on the ring with IOSQE_ASYNC, so it runs in an
 * io_uring worker: an inode invalidation can wait for writeback that this very loop has
 * to serve, and must never block it. From any other thread it is a plain write(2).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* A notification in flight on the ring; freed by its completion. */
struct notify_msg {
	struct rf_completion c;
	uint32_t code;
	uint32_t len;
	char buf[];
};

struct rf_retrieve {
	struct rf_retrieve *next;
	uint64_t unique;
	void *cookie;
};

static void on_notify_written(struct rf_loop *loop, struct rf_completion *c, int res,
			      uint32_t flags)
{
	struct notify_msg *m = rf_container_of(c, struct notify_msg, c);

	if (res < 0 && res != -ENOENT)
		rf__warn("notification %u refused by the kernel: %s", m->code, strerror(-res));
	free(m);
}

/* Send header + @iov (the payload pieces). */
static int notify_send(struct rf_session *se, uint32_t code, const struct iovec *iov, int n)
{
	struct fuse_out_header oh;
	size_t len = sizeof(oh);
	int i;

	for (i = 0; i < n; i++)
		len += iov[i].iov_len;
	if (se->fd < 0 || se->ended)
		return -ENOTCONN;
	/* Not the request buffer's size: the kernel takes a STORE of any size, page by
	 * page, as libfuse sends it. Only the header's 32-bit length bounds a message. */
	if (len > UINT32_MAX)
		return -E2BIG;
	oh.len = (uint32_t)len;
	oh.error = (int32_t)code;    /* notifications carry their code in the error field */
	oh.unique = 0;

	if (se->loop && rf__on_loop_thread(se->loop)) {
		struct notify_msg *m = malloc(sizeof(*m) + len);
		struct io_uring_sqe *sqe;
		char *p;

		if (!m)
			return -ENOMEM;
		m->c.fn = on_notify_written;
		m->code = code;
		m->len = (uint32_t)len;
		memcpy(m->buf, &oh, sizeof(oh));
		p = m->buf + sizeof(oh);
		for (i = 0; i < n; i++) {
			memcpy(p, iov[i].iov_base, iov[i].iov_len);
			p += iov[i].iov_len;
		}
		sqe = rf__loop_sqe(se->loop, &m->c);
		io_uring_prep_write(sqe, se->fd, m->buf, m->len, 0);
		sqe->flags |= IOSQE_ASYNC;
		/* A custom loop's thread runs its ring only inside rf_session_receive/process:
		 * called between them (from its own event loop), the write would wait there
		 * for the next request. */
		if (se->chan.ops == &rf__transport_manual && !se->chan.driving)
			io_uring_submit(&se->loop->ring);
		return 0;
	} else {
		struct iovec v[8];
		ssize_t w;

		if (n > 7)
			return -EINVAL;
		v[0].iov_base = &oh;
		v[0].iov_len = sizeof(oh);
		if (n)
			memcpy(&v[1], iov, sizeof(*iov) * (size_t)n);
		do
			w = writev(se->fd, v, n + 1);
		while (w < 0 && errno == EINTR);
		if (w < 0)
			return errno == ENODEV ? -ENOTCONN : -errno;
		return 0;
	}
}

static bool kernel_has(const struct rf_session *se, uint32_t minor)
{
	return se->initialized && se->conn.proto_minor >= minor;
}

int rf_notify_inval_inode(struct rf_session *se, uint64_t ino, off_t off, off_t len)
{
	struct fuse_notify_inval_inode_out o = { .ino = ino, .off = off, .len = len };
	struct iovec iov = { &o, sizeof(o) };

	if (!kernel_has(se, 12))
		return -ENOSYS;
	return notify_send(se, FUSE_NOTIFY_INVAL_INODE, &iov, 1);
}

static int inval_entry(struct rf_session *se, uint64_t parent, const char *name,
		       size_t namelen, uint32_t flags)
{
	struct fuse_notify_inval_entry_out o = { .parent = parent, .namelen = (uint32_t)namelen,
						 .flags = flags };
	struct iovec iov[3] = { { &o, sizeof(o) }, { (void *)name, namelen }, { "", 1 } };

	if (!name || namelen == 0 || namelen > 1024 || memchr(name, '\0', namelen))
		return -EINVAL;
	return notify_send(se, FUSE_NOTIFY_INVAL_ENTRY, iov, 3);
}

int rf_notify_inval_entry(struct rf_session *se, uint64_t parent, const char *name,
			  size_t namelen)
{
	if (!kernel_has(se, 12))
		return -ENOSYS;
	return inval_entry(se, parent, name, namelen, 0);
}

int rf_notify_expire_entry(struct rf_session *se, uint64_t parent, const char *name,
			   size_t namelen)
{
	if (!kernel_has(se, 38) || !(se->conn.want & RF_CAP_HAS_EXPIRE_ONLY))
		return -ENOSYS;
	return inval_entry(se, parent, name, namelen, FUSE_EXPIRE_ONLY);
}

int rf_notify_delete(struct rf_session *se, uint64_t parent, uint64_t child, const char *name,
		     size_t namelen)
{
	struct fuse_notify_delete_out o = { .parent = parent, .child = child,
					    .namelen = (uint32_t)namelen };
	struct iovec iov[3] = { { &o, sizeof(o) }, { (void *)name, namelen }, { "", 1 } };

	if (!kernel_has(se, 18))
		return -ENOSYS;
	if (!name || namelen == 0 || namelen > 1024 || memchr(name, '\0', namelen))
		return -EINVAL;
	return notify_send(se, FUSE_NOTIFY_DELETE, iov, 3);
}

int rf_notify_store(struct rf_session *se, uint64_t ino, off_t off, const void *buf,
		    size_t size)
{
	struct fuse_notify_store_out o = { .nodeid = ino, .offset = (uint64_t)off,
					   .size = (uint32_t)size };
	struct iovec iov[2] = { { &o, sizeof(o) }, { (void *)buf, size } };

	if (!kernel_has(se, 15))
		return -ENOSYS;
	if (off < 0 || size > UINT32_MAX || (!buf && size))
		return -EINVAL;
	return notify_send(se, FUSE_NOTIFY_STORE, iov, 2);
}

int rf_notify_retrieve(struct rf_session *se, uint64_t ino, off_t off, size_t size,
		       void *cookie)
{
	struct fuse_notify_retrieve_out o = { .nodeid = ino, .offset = (uint64_t)off,
					      .size = (uint32_t)size };
	struct iovec iov = { &o, sizeof(o) };
	struct rf_retrieve *r, **pp;
	int ret;

	if (!kernel_has(se, 15))
		return -ENOSYS;
	if (off < 0 || size > UINT32_MAX)
		return -EINVAL;
	r = malloc(sizeof(*r));
	if (!r)
		return -ENOMEM;
	pthread_mutex_lock(&se->notify_lock);
	/* Our own uniques for retrieves; the kernel echoes them in NOTIFY_REPLY. */
	r->unique = o.notify_unique = ++se->notify_unique;
	r->cookie = cookie;
	r->next = se->retrieves;
	se->retrieves = r;
	pthread_mutex_unlock(&se->notify_lock);
	ret = notify_send(se, FUSE_NOTIFY_RETRIEVE, &iov, 1);
	if (ret < 0) {
		pthread_mutex_lock(&se->notify_lock);
		for (pp = &se->retrieves; *pp; pp = &(*pp)->next) {
			if (*pp == r) {
				*pp = r->next;
				break;
			}
		}
		pthread_mutex_unlock(&se->notify_lock);
		free(r);
	}
	return ret;
}

void rf__notify_retrieve_reply(struct rf_req *req, uint64_t unique, uint64_t ino, off_t off,
			       const void *data, size_t size)
{
	struct rf_session *se = req->se;
	struct rf_retrieve *r = NULL, **pp;

	pthread_mutex_lock(&se->notify_lock);
	for (pp = &se->retrieves; *pp; pp = &(*pp)->next) {
		if ((*pp)->unique == unique) {
			r = *pp;
			*pp = r->next;
			break;
		}
	}
	pthread_mutex_unlock(&se->notify_lock);
	if (!r) {
		rf__warn("NOTIFY_REPLY for unknown retrieve %llu dropped",
			 (unsigned long long)unique);
		return;
	}
	if (se->ops.retrieve_reply)
		se->ops.retrieve_reply(se->userdata, r->cookie, ino, off, data, size);
	free(r);
}

void rf__notify_free(struct rf_session *se)
{
	struct rf_retrieve *r;

	while ((r = se->retrieves)) {
		se->retrieves = r->next;
		free(r);
	}
}

int rf_notify_poll(struct rf_session *se, uint64_t ph)
{
	struct fuse_notify_poll_wakeup_out o = { .kh = ph };
	struct iovec iov = { &o, sizeof(o) };

	if (!kernel_has(se, 11))
		return -ENOSYS;
	return notify_send(se, FUSE_NOTIFY_POLL, &iov, 1);
}

int rf_notify_prune(struct rf_session *se, const uint64_t *nodeids, size_t count)
{
	struct fuse_notify_prune_out o = { .count = (uint32_t)count };
	struct iovec iov[2] = { { &o, sizeof(o) }, { (void *)nodeids, count * sizeof(*nodeids) } };

	if (!kernel_has(se, 45))
		return -ENOSYS;
	if (count == 0 || count > RF_NOTIFY_PRUNE_MAX || !nodeids)
		return -EINVAL;
	return notify_send(se, FUSE_NOTIFY_PRUNE, iov, 2);
}

int rf_notify_inc_epoch(struct rf_session *se)
{
	if (!kernel_has(se, 44))
		return -ENOSYS;
	return notify_send(se, FUSE_NOTIFY_INC_EPOCH, NULL, 0);
}
