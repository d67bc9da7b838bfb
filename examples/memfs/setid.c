/* SPDX-License-Identifier: MIT */
/*
 * setid.c - set-user-ID and set-group-ID bits dropped when someone without CAP_FSETID
 * writes, truncates, fallocates or copies into a file (HANDLE_KILLPRIV_V2 leaves it to
 * us), and the reply that first makes the kernel forget the mode it cached.
 */
#include "memfs.h"

#include <errno.h>
#include <stdlib.h>

/* Linux semantics: S_ISGID without group exec marks mandatory locking, keep it. */
void kill_suid(struct inode *n)
{
	n->mode &= ~(mode_t)S_ISUID;
	if (n->mode & S_IXGRP)
		n->mode &= ~(mode_t)S_ISGID;
}

/* Whether the caller of @req is in group @gid (primary or supplementary). */
static bool caller_in_group(struct rf_req *req, gid_t gid)
{
	gid_t small[32], *list = small;
	int n, i, size = 32;
	bool in = false;

	if (rf_req_ctx(req)->gid == gid)
		return true;
	n = rf_req_groups(req, list, size);
	if (n > size) {
		list = malloc((size_t)n * sizeof(*list));
		size = n;
		n = list ? rf_req_groups(req, list, size) : -ENOMEM;
	}
	for (i = 0; i < n && i < size && !in; i++)
		in = list[i] == gid;
	if (list != small)
		free(list);
	return in;
}

/*
 * HANDLE_KILLPRIV_V2: the kernel flags a write, truncate or open(O_TRUNC) by a caller
 * without CAP_FSETID, and the set-id bits are ours to drop. The kernel's rule for local
 * filesystems (should_remove_suid, setattr_should_drop_sgid): set-user-ID always;
 * set-group-ID when group-executable or when the caller is not in the file's group.
 */
bool kill_privs(struct rf_req *req, struct inode *n)
{
	mode_t old = n->mode;

	if (!S_ISREG(n->mode))
		return false;
	n->mode &= ~(mode_t)S_ISUID;
	if ((n->mode & S_ISGID) && ((n->mode & S_IXGRP) || !caller_in_group(req, n->gid)))
		n->mode &= ~(mode_t)S_ISGID;
	return n->mode != old;
}

/*
 * A WRITE or OPEN reply carries no attributes, and the kernel keeps the mode it cached
 * (with the set-id bits) until attr_timeout runs out: exec would still honour them. When
 * kill_privs took bits away, invalidate the kernel's attributes before replying. From a
 * worker thread the notification is written synchronously, so it lands before the reply.
 */
struct mf_killed {
	struct memfs *fs;
	struct rf_session *se;
	uint64_t ino;
	enum mf_reply kind;          /* what the reply is */
	size_t written;              /* MF_REPLY_WRITE: the count */
	struct rf_file *fi;          /* MF_REPLY_OPEN: the file */
};

static int killed_notify(void *arg)
{
	struct mf_killed *k = arg;

	rf_notify_inval_inode(k->se, k->ino, -1, 0);    /* offset -1: attributes only */
	return 0;
}

static void killed_send(struct mf_killed *k, struct rf_req *req)
{
	if (k->kind == MF_REPLY_OPEN)
		reply_open(k->fs, req, k->ino, k->fi);
	else if (k->kind == MF_REPLY_WRITE)
		rf_reply_write(req, k->written);
	else
		rf_reply_err(req, 0);
}

static void killed_reply(struct rf_req *req, int res, void *data)
{
	struct mf_killed *k = data;

	killed_send(k, req);
	free(k);
}

/* Reply (@kind, with @written or @fi) after the invalidation; best effort: without a
 * worker the notification is queued and the reply goes out at once. */
void reply_killed(struct memfs *fs, struct rf_req *req, uint64_t ino,
			 enum mf_reply kind, size_t written, struct rf_file *fi)
{
	struct mf_killed *k = malloc(sizeof(*k));
	struct mf_killed now = { fs, rf_req_session(req), ino, kind, written, fi };

	if (k) {
		*k = now;
		if (rf_backing_call(req, killed_notify, k, killed_reply, k) == 0)
			return;
		free(k);
	}
	rf_notify_inval_inode(now.se, ino, -1, 0);
	killed_send(&now, req);
}

/*
 * FALLOCATE and COPY_FILE_RANGE carry no kill flag: with HANDLE_KILLPRIV_V2 the kernel
 * leaves the set-id bits to us without saying whether the caller has CAP_FSETID. Take
 * uid 0 for having it. Called with the lock held; true if bits were dropped.
 */
bool kill_privs_unflagged(struct memfs *fs, struct rf_req *req, uint64_t ino)
{
	struct inode *n = inode_get(fs, ino);

	return n && rf_req_ctx(req)->uid != 0 && kill_privs(req, n);
}
