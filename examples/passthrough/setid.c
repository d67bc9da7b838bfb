/* SPDX-License-Identifier: MIT */
/*
 * setid.c - HANDLE_KILLPRIV_V2: set-id bits dropped for writers without CAP_FSETID (we
 * write as root, so the source filesystem keeps them), and the kernel's cached mode
 * invalidated before the request goes on.
 */
#include "passthrough.h"

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
 * without CAP_FSETID; we write as root, so the source filesystem keeps the bits and they
 * are ours to drop, by the kernel's rule (should_remove_suid, setattr_should_drop_sgid):
 * set-user-ID always, set-group-ID when group-executable or when the caller is not in
 * the file's group. Returns 1 if bits were dropped, 0 if there were none, or -errno.
 */
int kill_suidgid(struct rf_req *req, int fd, bool opath)
{
	char path[PT_PROC_PATH];
	struct stat st;
	mode_t mode;
	int r = fstat_fd(fd, &st);

	if (r < 0)
		return r;
	mode = st.st_mode & 07777;
	if (!S_ISREG(st.st_mode))
		return 0;
	mode &= ~S_ISUID;
	if ((st.st_mode & S_ISGID) && ((st.st_mode & S_IXGRP) || !caller_in_group(req, st.st_gid)))
		mode &= ~S_ISGID;
	if (mode == (st.st_mode & 07777))
		return 0;
	if (!opath)
		return fchmod(fd, mode) < 0 ? -errno : 1;
	proc_path(path, fd);
	return chmod(path, mode) < 0 ? -errno : 1;
}

static int killed_notify(void *arg)
{
	struct pt_killed *k = arg;

	rf_notify_inval_inode(k->se, k->ino, -1, 0);    /* offset -1: attributes only */
	return 0;
}

static void killed_done(struct rf_req *req, int res, void *data)
{
	struct pt_killed *k = data;

	k->then(req, res, k);
	free(k);
}

/* Invalidate, then call @then(req, res, k) on the loop with @k a copy of @args (freed
 * after it). Returns 0, or -errno and never calls @then. */
int after_killed(struct rf_req *req, uint64_t ino, rf_backing_cb then,
		 const struct pt_killed *args)
{
	struct pt_killed *k = malloc(sizeof(*k));
	int r;

	if (!k)
		return -ENOMEM;
	*k = *args;
	k->se = rf_req_session(req);
	k->ino = ino;
	k->then = then;
	r = rf_backing_call(req, killed_notify, k, killed_done, k);
	if (r < 0)
		free(k);
	return r;
}

/*
 * FALLOCATE and COPY_FILE_RANGE carry no kill flag: with HANDLE_KILLPRIV_V2 the kernel
 * leaves the set-id bits to us without saying whether the caller has CAP_FSETID. Take
 * uid 0 for having it. Same returns as kill_suidgid.
 */
int kill_unflagged(struct rf_req *req, int fd)
{
	return rf_req_ctx(req)->uid != 0 ? kill_suidgid(req, fd, false) : 0;
}
