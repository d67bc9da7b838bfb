/* SPDX-License-Identifier: MIT */
/*
 * session.c - one FUSE connection: its options, its channel on a loop, and the order in
 * which it ends (stop reading, let in-flight requests reply, destroy, unmount, close the
 * device). Mounting is mount.c's; requests are dispatch.c's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"

#define RF_DEFAULT_MAX_WRITE (1u << 20)
#define RF_GRACE_MS 5000

static uint32_t kernel_max_pages(void)
{
	FILE *f = fopen("/proc/sys/fs/fuse/max_pages_limit", "re");
	unsigned int v = 256;

	if (f) {
		if (fscanf(f, "%u", &v) != 1)
			v = 256;
		fclose(f);
	}
	return v ? v : 256;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Copy the option strings into one allocation owned by the session. */
static int copy_opts(struct rf_session *se, const struct rf_opts *in)
{
	const char **strs[] = { &se->opts.mountpoint, &se->opts.fsname, &se->opts.subtype,
				&se->opts.fs_opts };
	size_t total = 0, i;
	char *p;

	se->opts = *in;
	se->opts._owned = NULL;
	for (i = 0; i < RF_ARRAY_SIZE(strs); i++)
		if (*strs[i])
			total += strlen(*strs[i]) + 1;
	se->opts_store = p = malloc(total + 1);
	if (!p)
		return -ENOMEM;
	for (i = 0; i < RF_ARRAY_SIZE(strs); i++) {
		if (*strs[i]) {
			size_t n = strlen(*strs[i]) + 1;
			memcpy(p, *strs[i], n);
			*strs[i] = p;
			p += n;
		}
	}
	return 0;
}

int rf_session_new(const struct rf_ops *ops, size_t ops_size, void *userdata,
		   const struct rf_opts *opts, struct rf_session **out)
{
	struct rf_opts defaults;
	struct rf_session *se;
	uint32_t max_write, limit;
	int ret;

	if (!ops || !out)
		return -EINVAL;
	if (!opts) {
		rf_opts_init(&defaults);
		opts = &defaults;
	}
	se = calloc(1, sizeof(*se));
	if (!se)
		return -ENOMEM;
	memcpy(&se->ops, ops, RF_MIN(ops_size, sizeof(se->ops)));
	se->userdata = userdata;
	ret = copy_opts(se, opts);
	if (ret < 0) {
		free(se);
		return ret;
	}
	se->fd = -1;
	se->fusermount_sock = -1;
	pthread_mutex_init(&se->notify_lock, NULL);
	ret = rf__order_init(se);
	if (ret < 0) {
		free(se->opts_store);
		free(se);
		return ret;
	}
	se->debug = se->opts.debug;
	if (se->opts.queue_depth < 2)
		se->opts.queue_depth = 64;
	if (se->opts.threads < 1)
		se->opts.threads = 1;

	/* Sizes are fixed before INIT, since the first read already needs its buffer. */
	max_write = se->opts.max_write ? se->opts.max_write : RF_DEFAULT_MAX_WRITE;
	limit = kernel_max_pages() * 4096u;
	if (max_write > limit)
		max_write = limit;
	if (max_write < 4096)
		max_write = 4096;
	se->opts.max_write = max_write;
	/* Room for a WRITE of max_write, and behind a READ request its whole reply. */
	se->bufsize = (uint32_t)RF_ALIGN(RF_MAX((size_t)FUSE_MIN_READ_BUFFER,
						sizeof(struct fuse_in_header) +
						sizeof(struct fuse_write_in) + max_write) + 4096,
					 4096);
	*out = se;
	return 0;
}

int rf_session_set_fd(struct rf_session *se, int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (fd < 0 || se->fd >= 0)
		return -EINVAL;
	se->fd = fd;
	se->fd_is_sock = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0;
	return 0;
}

int rf_session_fd(const struct rf_session *se)
{
	return se->fd;
}

void *rf_session_userdata(const struct rf_session *se)
{
	return se->userdata;
}

int rf_session_attach(struct rf_session *se, struct rf_loop *loop)
{
	int ret;

	if (se->fd < 0)
		return -EBADF;
	if (se->loop)
		return -EBUSY;
	ret = rf__chan_init(&se->chan, se, loop, se->fd, false);
	if (ret < 0)
		return ret;
	se->loop = loop;
	se->chan.next = loop->chans;
	loop->chans = &se->chan;
	loop->nr_chans_live++;
	rf__chan_start(&se->chan);
	return 0;
}

void rf_session_exit(struct rf_session *se)
{
	atomic_store(&se->exit_requested, 1);
	if (se->loop)
		rf__loop_wake(se->loop);
}

int rf_session_ended(const struct rf_session *se)
{
	return se->ended;
}

/* The last step of every ending: destroy, unmount, close. Loop thread. */
static void session_finish(struct rf_session *se)
{
	if (se->initialized && !se->destroyed && se->ops.destroy) {
		se->destroyed = true;
		se->ops.destroy(se->userdata);
	}
	se->destroyed = true;
	se->ended = true;
	if (se->mounted)
		rf__unmount(se);
	/* Closing the last device fd aborts the connection: callers still waiting get
	 * ENOTCONN instead of hanging on a server that is gone. */
	if (se->fd >= 0) {
		close(se->fd);
		se->fd = -1;
	}
}

void rf__loop_sessions_poll(struct rf_loop *loop)
{
	struct rf_chan *ch;

	for (ch = loop->chans; ch; ch = ch->next) {
		struct rf_session *se = ch->se;

		if (ch->finished)
			continue;
		if (atomic_load(&se->exit_requested) && !ch->stopping) {
			rf__chan_stop(ch);
			ch->stop_ms = mono_ms();
		}
		if (ch->ended && !ch->stop_ms)
			ch->stop_ms = mono_ms();
		if (!ch->stopping && !ch->ended)
			continue;
		if (!rf__chan_idle(ch)) {
			if (mono_ms() - ch->stop_ms < RF_GRACE_MS)
				continue;
			rf__warn("session: %u request(s) still unanswered after %d ms; ending anyway",
				 ch->busy, RF_GRACE_MS);
		}
		ch->finished = true;
		loop->nr_chans_live--;
		session_finish(se);
	}
}

static void loop_detach(struct rf_session *se)
{
	struct rf_chan **pp;

	if (!se->loop)
		return;
	for (pp = &se->loop->chans; *pp; pp = &(*pp)->next) {
		if (*pp == &se->chan) {
			*pp = se->chan.next;
			break;
		}
	}
	if (!se->chan.finished)
		se->loop->nr_chans_live--;
	rf__chan_destroy(&se->chan);
	se->loop = NULL;
}

int rf_session_unmount(struct rf_session *se)
{
	return se->mounted ? rf__unmount(se) : 0;
}

void rf_session_free(struct rf_session *se)
{
	if (!se)
		return;
	if (se->loop) {
		/* Anything still in flight on the ring points into our slots: drain first. */
		rf__chan_stop(&se->chan);
		rf__loop_drain(se->loop, 1000);
		se->loop->closing = false;
		loop_detach(se);
	}
	if (se->mounted)
		rf__unmount(se);
	if (se->fd >= 0)
		close(se->fd);
	if (se->fusermount_sock >= 0)
		close(se->fusermount_sock);
	rf__notify_free(se);
	rf__order_free(se);
	pthread_mutex_destroy(&se->notify_lock);
	free(se->mountpoint);
	free(se->opts_store);
	free(se);
}

int rf_session_run(struct rf_session *se)
{
	struct rf_loop *loop;
	int ret;

	ret = rf_loop_new(&loop);
	if (ret < 0)
		return ret;
	ret = rf_loop_handle_signals(loop);
	if (ret < 0)
		rf__warn("signals will not end the session: %s", strerror(-ret));
	ret = rf_session_attach(se, loop);
	if (ret == 0)
		ret = rf_loop_run(loop);
	/* Reap every completion before the ring goes, so nothing is left to the kernel. */
	rf__chan_stop(&se->chan);
	rf__loop_drain(loop, 2000);
	loop_detach(se);
	rf_loop_free(loop);
	return ret;
}

int rf_main(int argc, char **argv, const struct rf_ops *ops, size_t ops_size, void *userdata)
{
	struct rf_session *se;
	struct rf_opts opts;
	int ret;

	rf_opts_init(&opts);
	ret = rf_opts_parse(&opts, argc, argv);
	if (ret != 0) {
		rf_opts_free(&opts);
		return ret > 0 ? 0 : 2;
	}
	ret = rf_session_new(ops, ops_size, userdata, &opts, &se);
	rf_opts_free(&opts);
	if (ret < 0) {
		fprintf(stderr, "ringfuse: cannot create session: %s\n", strerror(-ret));
		return 1;
	}
	ret = rf_session_mount(se);
	if (ret == 0)
		ret = rf_session_run(se);
	rf_session_free(se);
	return ret < 0 ? 1 : 0;
}
