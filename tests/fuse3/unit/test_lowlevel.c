/*
 * Description: the low-level binding's requests and replies end to end, without a mount: a
 * session served on one end of a SOCK_SEQPACKET pair ("/dev/fd/N" as the mountpoint) and
 * driven by the custom loop (fuse_session_receive_buf/process_buf) on the test's thread,
 * with the test playing the kernel on the other end (llk_* below).
 */
#include "fuse3_int.h"
#include <linux/fuse.h>

#include "kernel_end.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void setup(void)
{
	ke_log_start();
}

static void teardown(void)
{
	ke_log_stop();
}

TestSuite(lowlevel, .init = setup, .fini = teardown, .timeout = 10);

/* ---- the kernel's end ------------------------------------------------------------------ */

struct llk {
	struct fuse_session *se;
	int kfd;                    /* the kernel's end */
	uint64_t unique;
	struct fuse_buf buf;        /* fuse_session_receive_buf's */
	char reply[4 << 20];        /* the last message read */
	size_t reply_len;
};

/* Send header + @arg (+ @name with its NUL if non-NULL); returns the unique. */
static uint64_t llk_send(struct llk *k, uint32_t opcode, uint64_t nodeid, const void *arg,
			 size_t len, const char *name)
{
	return ke_send(k->kfd, &k->unique, opcode, nodeid, arg, len, name);
}

/* Receive one request and process it on this thread (the custom loop's one round). */
static void llk_serve(struct llk *k)
{
	ke_serve(k->se, &k->buf);
}

/* The next message the server wrote, within @ms; false on timeout. */
static bool llk_recv(struct llk *k, int ms)
{
	struct pollfd p = { .fd = k->kfd, .events = POLLIN };
	ssize_t n;

	if (poll(&p, 1, ms) != 1)
		return false;
	n = read(k->kfd, k->reply, sizeof(k->reply));
	cr_assert_geq(n, (ssize_t)sizeof(struct fuse_out_header), "read: %zd", n);
	k->reply_len = (size_t)n;
	return true;
}

static const struct fuse_out_header *llk_hdr(struct llk *k)
{
	return (const struct fuse_out_header *)k->reply;
}

/* The reply to @unique: asserts its error, and its payload size if @size >= 0; returns the
 * payload. */
static const void *llk_expect(struct llk *k, uint64_t unique, int error, long size)
{
	const struct fuse_out_header *oh = llk_hdr(k);

	cr_assert(llk_recv(k, 2000), "no reply to %llu", (unsigned long long)unique);
	cr_assert_eq(oh->unique, unique, "reply to %llu, expected %llu",
		     (unsigned long long)oh->unique, (unsigned long long)unique);
	cr_assert_eq(oh->len, k->reply_len);
	cr_assert_eq(oh->error, error, "error %d, expected %d (log: %s)", oh->error, error,
		     ke_log);
	if (size >= 0)
		cr_assert_eq(k->reply_len - sizeof(*oh), (size_t)size, "payload %zu, expected %ld",
			     k->reply_len - sizeof(*oh), size);
	return k->reply + sizeof(*oh);
}

/* A session for @ops (with "-o @opt" when non-NULL) mounted on one end of a socket pair
 * whose other end, k->kfd, plays the kernel. */
static void llk_open(struct llk *k, const struct fuse_lowlevel_ops *ops, void *userdata,
		     const char *opt)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	char mp[32];

	memset(k, 0, sizeof(*k));
	cr_assert_eq(fuse_opt_add_arg(&args, "llk"), 0);
	if (opt) {
		cr_assert_eq(fuse_opt_add_arg(&args, "-o"), 0);
		cr_assert_eq(fuse_opt_add_arg(&args, opt), 0);
	}
	k->se = fuse_session_new(&args, ops, sizeof(*ops), userdata);
	fuse_opt_free_args(&args);
	cr_assert_not_null(k->se, "log: %s", ke_log);
	k->kfd = ke_socketpair(mp, 4 << 20);
	cr_assert_eq(fuse_session_mount(k->se, mp), 0, "log: %s", ke_log);
}

/* Send INIT offering @flags; returns its unique. */
static uint64_t llk_send_init(struct llk *k, uint32_t flags)
{
	struct fuse_init_in in;

	ke_init_in(&in, flags);
	return llk_send(k, FUSE_INIT, 0, &in, sizeof(in), NULL);
}

static void llk_setup(struct llk *k, const struct fuse_lowlevel_ops *ops, void *userdata)
{
	uint64_t u;

	llk_open(k, ops, userdata, NULL);
	u = llk_send_init(k, FUSE_ASYNC_READ | FUSE_DO_READDIRPLUS | FUSE_INIT_EXT |
			  FUSE_MAX_PAGES | FUSE_BIG_WRITES | FUSE_PARALLEL_DIROPS |
			  FUSE_HAS_IOCTL_DIR);
	llk_serve(k);
	llk_expect(k, u, 0, -1);
}

static void llk_teardown(struct llk *k)
{
	close(k->kfd);
	while (fuse_session_receive_buf(k->se, &k->buf) > 0)
		fuse_session_process_buf(k->se, &k->buf);
	fuse_session_destroy(k->se);
	free(k->buf.mem);
}

/* ---- a basic round trip ---------------------------------------------------------------- */

/* A LOOKUP of "a" in the root, served on this thread, answered ENOENT. */
static void llk_lookup_enoent(struct llk *k)
{
	uint64_t u = llk_send(k, FUSE_LOOKUP, 1, NULL, 0, "a");

	llk_serve(k);
	llk_expect(k, u, -ENOENT, 0);
}

static void ll_lookup_enoent(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_reply_err(req, ENOENT);
}

Test(lowlevel, lookup_round_trip)
{
	static const struct fuse_lowlevel_ops ops = { .lookup = ll_lookup_enoent };
	static struct llk k;

	llk_setup(&k, &ops, NULL);
	llk_lookup_enoent(&k);
	llk_teardown(&k);
}

/* ---- replies from another thread in a custom loop ------------------------------------------ */

/* Requests the handler hands to the replier thread (a pyfuse3-style task). */
struct handoff {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	fuse_req_t q[4096];
	unsigned int head, tail;
	bool stop;
};

static struct handoff ho = { .lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void ll_lookup_handoff(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	pthread_mutex_lock(&ho.lock);
	ho.q[ho.tail++ % 4096] = req;
	pthread_cond_signal(&ho.cv);
	pthread_mutex_unlock(&ho.lock);
}

static void *replier(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&ho.lock);
	for (;;) {
		while (ho.head == ho.tail && !ho.stop)
			pthread_cond_wait(&ho.cv, &ho.lock);
		if (ho.head == ho.tail)
			break;
		fuse_req_t req = ho.q[ho.head++ % 4096];

		pthread_mutex_unlock(&ho.lock);
		fuse_reply_err(req, ENOENT);
		pthread_mutex_lock(&ho.lock);
	}
	pthread_mutex_unlock(&ho.lock);
	return NULL;
}

#define STORM_N 50000
#define STORM_WINDOW 16

/* The kernel: STORM_WINDOW LOOKUPs in flight, a new one for each reply. (Within the
 * suite's 10 s: with a longer timeout criterion leaks its timeout entries at --jobs 2.) */
static void *storm_kernel(void *arg)
{
	struct llk *k = arg;
	unsigned int sent = 0, got = 0;

	for (; sent < STORM_WINDOW; sent++)
		llk_send(k, FUSE_LOOKUP, 1, NULL, 0, "x");
	while (got < STORM_N) {
		if (!llk_recv(k, 5000))
			break;
		got++;
		if (sent < STORM_N) {
			llk_send(k, FUSE_LOOKUP, 1, NULL, 0, "x");
			sent++;
		}
	}
	return (void *)(uintptr_t)got;
}

static size_t count_wrappers(struct fuse_session *se)
{
	struct fuse_req *req;
	size_t n = 0;

	pthread_mutex_lock(&se->rlock);
	for (req = se->all; req; req = req->all_next)
		n++;
	pthread_mutex_unlock(&se->rlock);
	return n;
}

/*
 * A custom loop's filesystem may answer from its own threads (README.md, "Custom loops"):
 * those replies give their wrappers back while the driving thread takes wrappers for new
 * requests. Both on the unlocked free list of the driving thread lost wrappers (a free list
 * whose head went NULL while its tail did not keeps none), and every later request
 * allocated a new one: the wrappers grew with the requests instead of staying at about
 * the number in flight.
 */
Test(lowlevel, custom_loop_replies_from_another_thread_recycle_wrappers)
{
	static const struct fuse_lowlevel_ops ops = { .lookup = ll_lookup_handoff };
	static struct llk k;
	pthread_t kt, rt[2];
	void *got;
	unsigned int served;

	llk_setup(&k, &ops, NULL);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&rt[i], NULL, replier, NULL), 0);
	cr_assert_eq(pthread_create(&kt, NULL, storm_kernel, &k), 0);
	for (served = 0; served < STORM_N; served++)
		llk_serve(&k);
	pthread_join(kt, &got);
	pthread_mutex_lock(&ho.lock);
	ho.stop = true;
	pthread_cond_broadcast(&ho.cv);
	pthread_mutex_unlock(&ho.lock);
	for (int i = 0; i < 2; i++)
		pthread_join(rt[i], NULL);
	cr_expect_eq((uintptr_t)got, STORM_N, "replies: %zu of %d", (size_t)(uintptr_t)got,
		     STORM_N);
	cr_expect_leq(count_wrappers(k.se), 2 * STORM_WINDOW, "%zu wrappers for %d in flight",
		      count_wrappers(k.se), STORM_WINDOW);
	cr_expect(!strstr(ke_log, "second reply"), "log: %s", ke_log);
	llk_teardown(&k);
}

static void *reply_enoent(void *req)
{
	fuse_reply_err(req, ENOENT);
	return NULL;
}

static void ll_lookup_thread(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	pthread_t th;

	cr_assert_eq(pthread_create(&th, NULL, reply_enoent, req), 0);
	pthread_join(th, NULL);
}

/* The same, one reply made deterministic: a wrapper answered from another thread goes to
 * the retired list (under rlock), which only the driving thread takes back. */
Test(lowlevel, custom_loop_reply_from_another_thread_is_retired_under_the_lock)
{
	static const struct fuse_lowlevel_ops ops = { .lookup = ll_lookup_thread };
	static struct llk k;

	llk_setup(&k, &ops, NULL);
	llk_lookup_enoent(&k);
	cr_expect(atomic_load(&k.se->has_retired), "put on the driving thread's free list");
	cr_expect_null(k.se->free_head, "put on the driving thread's free list");
	llk_teardown(&k);
}

/* ---- replies of the wrong kind ------------------------------------------------------------ */

/*
 * A reply of the wrong kind reaches the kernel malformed (it answers the caller EIO, or
 * reads the bytes as data) and hands it nothing; on ringfuse the runtime recorded the
 * entry's lookup and the CREATE's open all the same, so the session's end gave the
 * filesystem a FORGET and a RELEASE the kernel never owed. Such replies are refused.
 */

static unsigned int forgets, releases;

static void ll_forget_count(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	forgets += (unsigned int)nlookup;
	fuse_reply_none(req);
}

static void ll_release_count(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	releases++;
	fuse_reply_err(req, 0);
}

static void ll_getattr_entry(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_entry_param e = { .ino = 7, .attr_timeout = 1, .entry_timeout = 1 };

	e.attr.st_ino = 7;
	e.attr.st_mode = S_IFREG | 0644;
	fuse_reply_entry(req, &e);
}

static void ll_open_create(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fuse_entry_param e = { .ino = 7, .attr_timeout = 1, .entry_timeout = 1 };

	e.attr.st_ino = 7;
	e.attr.st_mode = S_IFREG | 0644;
	fi->fh = 42;
	fuse_reply_create(req, &e, fi);
}

Test(lowlevel, entry_reply_to_getattr_hands_out_no_lookup)
{
	static const struct fuse_lowlevel_ops ops = { .getattr = ll_getattr_entry,
						      .forget = ll_forget_count };
	static struct llk k;
	struct fuse_getattr_in in = { 0 };
	uint64_t u;

	llk_setup(&k, &ops, NULL);
	u = llk_send(&k, FUSE_GETATTR, 1, &in, sizeof(in), NULL);
	llk_serve(&k);
	llk_expect(&k, u, -EIO, 0);
	cr_expect(strstr(ke_log, "fuse_reply_entry: not a LOOKUP"), "log: %s", ke_log);
	llk_teardown(&k);
	cr_expect_eq(forgets, 0, "forgot %u lookups the kernel never had", forgets);
}

Test(lowlevel, create_reply_to_open_hands_out_nothing)
{
	static const struct fuse_lowlevel_ops ops = { .open = ll_open_create,
						      .release = ll_release_count,
						      .forget = ll_forget_count };
	static struct llk k;
	struct fuse_open_in in = { .flags = O_RDONLY };
	uint64_t u;

	llk_setup(&k, &ops, NULL);
	u = llk_send(&k, FUSE_OPEN, 1, &in, sizeof(in), NULL);
	llk_serve(&k);
	llk_expect(&k, u, -EIO, 0);
	cr_expect(strstr(ke_log, "fuse_reply_create: not a CREATE request"), "log: %s", ke_log);
	llk_teardown(&k);
	cr_expect_eq(forgets, 0, "forgot %u lookups the kernel never had", forgets);
	cr_expect_eq(releases, 0, "released %u handles the kernel never had", releases);
}

/* ---- READDIRPLUS: what the filesystem packed is what the kernel gets ------------------------ */

static char rdp_buf[4096];
static size_t rdp_len;

static void ll_readdirplus_pack(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
				struct fuse_file_info *fi)
{
	static const char *names[] = { ".", "..", "a", "neg", "bb" };
	size_t pos = 0;

	for (int i = 0; i < 5; i++) {
		struct fuse_entry_param e;

		memset(&e, 0, sizeof(e));
		e.ino = i == 3 ? 0 : 10 + (fuse_ino_t)i;
		e.generation = 3;
		e.attr.st_ino = i == 3 ? 0 : 100 + (ino_t)i;
		e.attr.st_mode = (i < 2 ? S_IFDIR : S_IFREG) | 0640;
		e.attr.st_nlink = 2;
		e.attr.st_uid = 1000;
		e.attr.st_gid = 1001;
		e.attr.st_size = 12345;
		e.attr.st_blocks = 24;
		e.attr.st_blksize = 4096;
		e.attr.st_rdev = 0;
		e.attr.st_atim.tv_sec = 1700000000;
		e.attr.st_atim.tv_nsec = 123456789;
		e.attr.st_mtim.tv_sec = 1700000001;
		e.attr.st_ctim.tv_sec = 1700000002;
		e.attr_timeout = 1.5;
		e.entry_timeout = 0.25;
		pos += fuse_add_direntry_plus(req, rdp_buf + pos, sizeof(rdp_buf) - pos, names[i], &e,
					      i + 1);
	}
	rdp_len = pos;
	fuse_reply_buf(req, rdp_buf, pos);
}

static void ll_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fi->fh = 5;
	fuse_reply_open(req, fi);
}

/* OPENDIR of the root: the fh 5 the kernel then names. */
static void llk_opendir(struct llk *k)
{
	struct fuse_open_in oin = { .flags = O_RDONLY };
	const struct fuse_open_out *oo;
	uint64_t u = llk_send(k, FUSE_OPENDIR, 1, &oin, sizeof(oin), NULL);

	llk_serve(k);
	oo = llk_expect(k, u, 0, sizeof(*oo));
	cr_assert_eq(oo->fh, 5);
}

Test(lowlevel, readdirplus_repacked_entries_are_the_filesystems_bytes)
{
	static const struct fuse_lowlevel_ops ops = { .opendir = ll_opendir,
						      .readdirplus = ll_readdirplus_pack };
	static struct llk k;
	struct fuse_read_in in = { .fh = 5, .size = 4096 };
	const char *p;
	uint64_t u;

	llk_setup(&k, &ops, NULL);
	llk_opendir(&k);
	u = llk_send(&k, FUSE_READDIRPLUS, 1, &in, sizeof(in), NULL);
	llk_serve(&k);
	p = llk_expect(&k, u, 0, (long)rdp_len);
	for (size_t i = 0; i < rdp_len; i++)
		cr_assert_eq(p[i], rdp_buf[i], "byte %zu: 0x%02x, packed 0x%02x", i,
			     (unsigned char)p[i], (unsigned char)rdp_buf[i]);
	llk_teardown(&k);
}

/* ---- fuse_reply_data: several buffers, offsets, a file ---------------------------------------- */

static void ll_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fi->fh = 6;
	fuse_reply_open(req, fi);
}

static int data_fd = -1;

static void ll_read_data(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			 struct fuse_file_info *fi)
{
	struct fuse_bufvec *v = calloc(1, sizeof(*v) + 2 * sizeof(v->buf[0]));

	v->count = 3;
	v->off = 2;
	v->buf[0] = (struct fuse_buf){ .size = 5, .mem = "hello", .fd = -1 };
	v->buf[1] = (struct fuse_buf){ .size = 4, .flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK,
				       .fd = data_fd, .pos = 1 };
	v->buf[2] = (struct fuse_buf){ .size = 1, .mem = "!", .fd = -1 };
	fuse_reply_data(req, v, FUSE_BUF_SPLICE_MOVE);
	free(v);
}

Test(lowlevel, reply_data_gathers_memory_and_file_buffers_from_the_vectors_position)
{
	static const struct fuse_lowlevel_ops ops = { .open = ll_open, .read = ll_read_data };
	static struct llk k;
	struct fuse_open_in oin = { .flags = O_RDONLY };
	struct fuse_read_in in = { .fh = 6, .size = 4096 };
	char path[] = "/tmp/rf3-ll-XXXXXX";
	const char *p;
	uint64_t u;

	data_fd = mkstemp(path);
	cr_assert_geq(data_fd, 0);
	unlink(path);
	cr_assert_eq(write(data_fd, "WORLD", 5), 5);
	llk_setup(&k, &ops, NULL);
	u = llk_send(&k, FUSE_OPEN, 1, &oin, sizeof(oin), NULL);
	llk_serve(&k);
	llk_expect(&k, u, 0, sizeof(struct fuse_open_out));
	u = llk_send(&k, FUSE_READ, 1, &in, sizeof(in), NULL);
	llk_serve(&k);
	p = llk_expect(&k, u, 0, 8);
	cr_expect_arr_eq(p, "lloORLD!", 8);
	llk_teardown(&k);
	close(data_fd);
}

/* ---- interrupts ----------------------------------------------------------------------------- */

static fuse_req_t held_req;
static int intr_calls;

static void ll_lookup_hold(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	held_req = req;
}

static void on_intr_reply(fuse_req_t req, void *data)
{
	intr_calls++;
	fuse_reply_err(req, EINTR);
}

Test(lowlevel, interrupt_func_registered_after_the_interrupt_runs_at_once)
{
	static const struct fuse_lowlevel_ops ops = { .lookup = ll_lookup_hold };
	static struct llk k;
	struct fuse_interrupt_in iin;
	uint64_t u;

	llk_setup(&k, &ops, NULL);
	u = llk_send(&k, FUSE_LOOKUP, 1, NULL, 0, "a");
	llk_serve(&k);
	cr_assert_not_null(held_req);
	iin.unique = u;
	llk_send(&k, FUSE_INTERRUPT, 0, &iin, sizeof(iin), NULL);
	llk_serve(&k);
	cr_expect(fuse_req_interrupted(held_req));
	fuse_req_interrupt_func(held_req, on_intr_reply, NULL);
	cr_expect_eq(intr_calls, 1);
	llk_expect(&k, u, -EINTR, 0);
	cr_expect_eq(fuse_reply_err(held_req, ENOENT), -EINVAL);
	cr_expect(strstr(ke_log, "second reply"), "log: %s", ke_log);
	cr_expect(!llk_recv(&k, 100), "a second reply was sent");
	llk_teardown(&k);
}

/* ---- notifications ----------------------------------------------------------------------------- */

static struct fuse_session *notify_se;

static void ll_lookup_notify(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	cr_expect_eq(fuse_lowlevel_notify_inval_inode(notify_se, 1, 0, 0), 0);
	fuse_reply_err(req, ENOENT);
}

/*
 * A custom loop's program may notify from its own event loop, between two rounds, as
 * libfuse lets any thread at any time. On the driving thread the runtime queues the write
 * on the ring, which that thread runs only inside receive_buf/process_buf: the
 * notification waited for the next request (here: for ever).
 */
Test(lowlevel, notify_from_the_driving_thread_goes_out)
{
	static const struct fuse_lowlevel_ops ops = { .lookup = ll_lookup_notify };
	static struct llk k;
	const struct fuse_out_header *oh = llk_hdr(&k);
	uint64_t u;
	int got_notify = 0, got_reply = 0;

	llk_setup(&k, &ops, NULL);
	notify_se = k.se;
	/* Outside any request, on the driving thread, between two rounds. */
	cr_expect_eq(fuse_lowlevel_notify_inval_inode(k.se, 1, 0, 0), 0);
	cr_assert(llk_recv(&k, 1000), "the notification did not go out");
	cr_expect_eq(oh->unique, 0);
	cr_expect_eq(oh->error, FUSE_NOTIFY_INVAL_INODE);
	/* From inside a handler. */
	u = llk_send(&k, FUSE_LOOKUP, 1, NULL, 0, "a");
	llk_serve(&k);
	for (int i = 0; i < 2 && llk_recv(&k, 1000); i++) {
		if (oh->unique == 0)
			got_notify++;
		else if (oh->unique == u)
			got_reply++;
	}
	cr_expect_eq(got_notify, 1);
	cr_expect_eq(got_reply, 1);
	llk_teardown(&k);
}

static char retrieved[64];
static size_t retrieved_size;
static off_t retrieved_off;
static void *retrieved_cookie;

static void ll_retrieve_reply(fuse_req_t req, void *cookie, fuse_ino_t ino, off_t offset,
			      struct fuse_bufvec *bufv)
{
	struct fuse_bufvec dst = FUSE_BUFVEC_INIT(sizeof(retrieved));

	dst.buf[0].mem = retrieved;
	retrieved_size = (size_t)fuse_buf_copy(&dst, bufv, 0);
	retrieved_off = offset;
	retrieved_cookie = cookie;
	fuse_reply_none(req);
}

Test(lowlevel, retrieve_round_trip)
{
	static const struct fuse_lowlevel_ops ops = { .lookup = ll_lookup_enoent,
						      .retrieve_reply = ll_retrieve_reply };
	static struct llk k;
	const struct fuse_out_header *oh = llk_hdr(&k);
	const struct fuse_notify_retrieve_out *ro;
	struct {
		struct fuse_notify_retrieve_in in;
		char data[5];
	} rin;
	static int cookie;

	llk_setup(&k, &ops, NULL);
	cr_assert_eq(fuse_lowlevel_notify_retrieve(k.se, 9, 5, 4096, &cookie), 0);
	cr_assert(llk_recv(&k, 1000));
	cr_assert_eq(oh->error, FUSE_NOTIFY_RETRIEVE);
	ro = (const void *)(k.reply + sizeof(*oh));
	cr_expect_eq(ro->nodeid, 9);
	cr_expect_eq(ro->offset, 4096);
	cr_expect_eq(ro->size, 5);
	memset(&rin, 0, sizeof(rin));
	rin.in.offset = 4096;
	rin.in.size = 5;
	memcpy(rin.data, "abcde", 5);
	k.unique = ro->notify_unique - 2;   /* llk_send steps by 2 */
	llk_send(&k, FUSE_NOTIFY_REPLY, 9, &rin, sizeof(rin), NULL);
	k.unique = 100;
	llk_serve(&k);
	cr_expect_eq(retrieved_cookie, &cookie);
	cr_expect_eq(retrieved_off, 4096);
	cr_expect_eq(retrieved_size, 5);
	cr_expect_arr_eq(retrieved, "abcde", 5);
	cr_expect(!llk_recv(&k, 100), "NOTIFY_REPLY got an answer");
	llk_teardown(&k);
}

/*
 * fuse_lowlevel_notify_store takes any size (the kernel stores page by page and extends the
 * file; libfuse writes the message as it is). The runtime refused what did not fit its
 * request buffer (a WRITE of max_write) with E2BIG, which nothing documents.
 */
#define BIG_STORE (3u << 19)   /* 1.5 MiB, above max_write */

static void *store_from_thread(void *arg)
{
	struct fuse_session *se = arg;
	struct fuse_bufvec v = FUSE_BUFVEC_INIT(BIG_STORE);

	v.buf[0].mem = calloc(1, BIG_STORE);
	memset(v.buf[0].mem, 's', BIG_STORE);
	intptr_t ret = fuse_lowlevel_notify_store(se, 1, 0, &v, 0);
	free(v.buf[0].mem);
	return (void *)ret;
}

Test(lowlevel, notify_store_larger_than_max_write)
{
	static const struct fuse_lowlevel_ops ops = { .lookup = ll_lookup_enoent };
	static struct llk k;
	const struct fuse_out_header *oh = llk_hdr(&k);
	const struct fuse_notify_store_out *so = (const void *)(k.reply + sizeof(*oh));
	pthread_t th;
	void *ret;

	llk_setup(&k, &ops, NULL);
	/* From another thread (a plain write) and from the driving thread (the ring). */
	for (int i = 0; i < 2; i++) {
		if (i == 0) {
			cr_assert_eq(pthread_create(&th, NULL, store_from_thread, k.se), 0);
			pthread_join(th, &ret);
		} else {
			ret = store_from_thread(k.se);
		}
		cr_assert_eq((intptr_t)ret, 0, "notify_store: %s", strerror(-(int)(intptr_t)ret));
		cr_assert(llk_recv(&k, 2000), "no notification");
		cr_expect_eq(oh->error, FUSE_NOTIFY_STORE);
		cr_expect_eq(oh->len, sizeof(*oh) + sizeof(*so) + BIG_STORE);
		cr_expect_eq(so->size, BIG_STORE);
		cr_expect_eq(k.reply[k.reply_len - 1], 's');
	}
	llk_teardown(&k);
}

/* ---- fuse_session_loop_mt on the worker pool ------------------------------------------------- */

static void *run_loop_mt(void *se)
{
	return (void *)(intptr_t)fuse_session_loop_mt(se, NULL);
}

/* llk_setup for a session that fuse_session_loop_mt serves on another thread (@argv: the
 * options after the program name); INIT is answered by that loop. */
static void llk_setup_loop(struct llk *k, const struct fuse_lowlevel_ops *ops,
			   const char *opt, pthread_t *th)
{
	uint64_t u;

	llk_open(k, ops, NULL, opt);
	cr_assert_eq(pthread_create(th, NULL, run_loop_mt, k->se), 0);
	u = llk_send_init(k, FUSE_ASYNC_READ | FUSE_INIT_EXT | FUSE_MAX_PAGES | FUSE_BIG_WRITES);
	llk_expect(k, u, 0, -1);
}

static void llk_teardown_loop(struct llk *k, pthread_t th)
{
	close(k->kfd);
	pthread_join(th, NULL);
	fuse_session_destroy(k->se);
}

static atomic_int slow_state;   /* 1: the read handler runs, 2: it returned */
static atomic_int release_saw;

static void ll_read_slow(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			 struct fuse_file_info *fi)
{
	atomic_store(&slow_state, 1);
	fuse_reply_buf(req, "x", 1);
	usleep(200 * 1000);     /* still working on the handle after the reply */
	atomic_store(&slow_state, 2);
}

static void ll_release_check(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	atomic_store(&release_saw, atomic_load(&slow_state));
	fuse_reply_err(req, 0);
}

Test(lowlevel, pool_release_waits_for_the_read_handler_to_return)
{
	static const struct fuse_lowlevel_ops ops = { .open = ll_open, .read = ll_read_slow,
						      .release = ll_release_check };
	static struct llk k;
	struct fuse_open_in oin = { .flags = O_RDONLY };
	struct fuse_read_in rin = { .fh = 6, .size = 4096 };
	struct fuse_release_in relin = { .fh = 6 };
	pthread_t th;
	uint64_t u;

	llk_setup_loop(&k, &ops, "mt_pool", &th);
	u = llk_send(&k, FUSE_OPEN, 1, &oin, sizeof(oin), NULL);
	llk_expect(&k, u, 0, sizeof(struct fuse_open_out));
	u = llk_send(&k, FUSE_READ, 1, &rin, sizeof(rin), NULL);
	llk_expect(&k, u, 0, 1);
	u = llk_send(&k, FUSE_RELEASE, 1, &relin, sizeof(relin), NULL);
	llk_expect(&k, u, 0, 0);
	cr_expect_eq(atomic_load(&release_saw), 2, "release ran while read's handler was at %d",
		     atomic_load(&release_saw));
	llk_teardown_loop(&k, th);
}

static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cv = PTHREAD_COND_INITIALIZER;
static bool woken;
static int late_reply = 1;

static void on_intr_wake(fuse_req_t req, void *data)
{
	fuse_reply_err(req, EINTR);
	pthread_mutex_lock(&wait_lock);
	woken = true;
	pthread_cond_broadcast(&wait_cv);
	pthread_mutex_unlock(&wait_lock);
}

static void ll_lookup_wait_intr(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct timespec ts;

	fuse_req_interrupt_func(req, on_intr_wake, NULL);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3;
	pthread_mutex_lock(&wait_lock);
	while (!woken && pthread_cond_timedwait(&wait_cv, &wait_lock, &ts) == 0)
		;
	pthread_mutex_unlock(&wait_lock);
	if (woken)
		late_reply = fuse_reply_err(req, ENOENT);
}

Test(lowlevel, pool_interrupt_callback_answers_a_blocked_handler)
{
	static const struct fuse_lowlevel_ops ops = { .lookup = ll_lookup_wait_intr };
	static struct llk k;
	struct fuse_interrupt_in iin;
	pthread_t th;
	uint64_t u;

	llk_setup_loop(&k, &ops, "mt_pool", &th);
	u = llk_send(&k, FUSE_LOOKUP, 1, NULL, 0, "a");
	usleep(50 * 1000);
	iin.unique = u;
	llk_send(&k, FUSE_INTERRUPT, 0, &iin, sizeof(iin), NULL);
	llk_expect(&k, u, -EINTR, 0);
	cr_expect(!llk_recv(&k, 100), "a second reply was sent");
	/* After the loop's end, which waits for the pool's workers: the handler has
	 * returned, and its late_reply is seen without a race (and without a sleep). */
	llk_teardown_loop(&k, th);
	cr_expect_eq(late_reply, -EINVAL, "the handler's own reply after the callback's: %d",
		     late_reply);
}

/* ---- forgets in a custom loop ---------------------------------------------------------- */

static int multi_calls, multi_entries, single_calls;

static void ll_lookup_node(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e = { .ino = 10 + (fuse_ino_t)name[0], .generation = 1 };

	e.attr.st_ino = e.ino;
	e.attr.st_mode = S_IFREG | 0644;
	e.attr.st_nlink = 1;
	fuse_reply_entry(req, &e);
}

static void ll_forget_one(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	single_calls++;
	fuse_reply_none(req);
}

static void ll_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *fd)
{
	multi_calls++;
	multi_entries += (int)count;
	fuse_reply_none(req);
}

/*
 * pyfuse3 turns each handler into one coroutine, awaited after process_buf: the forgets
 * of a BATCH_FORGET must come as one call (as libfuse makes them), and nothing may be
 * called from fuse_session_destroy, where no loop awaits it (README.md, "Custom loops").
 */
Test(lowlevel, custom_loop_batch_forget_is_one_call_and_the_end_calls_nothing)
{
	static const struct fuse_lowlevel_ops ops = {
		.lookup = ll_lookup_node, .forget = ll_forget_one, .forget_multi = ll_forget_multi,
	};
	static struct llk k;
	struct {
		struct fuse_batch_forget_in in;
		struct fuse_forget_one one[3];
	} bf = { .in = { .count = 3 } };
	struct fuse_forget_in fi = { .nlookup = 1 };
	const char *names[] = { "a", "b", "c" };
	uint64_t u;
	int i;

	llk_setup(&k, &ops, NULL);
	for (i = 0; i < 3; i++) {
		u = llk_send(&k, FUSE_LOOKUP, 1, NULL, 0, names[i]);
		llk_serve(&k);
		llk_expect(&k, u, 0, -1);
		bf.one[i].nodeid = 10 + (uint64_t)names[i][0];
		bf.one[i].nlookup = 1;
	}
	llk_send(&k, FUSE_BATCH_FORGET, 0, &bf, sizeof(bf), NULL);
	llk_serve(&k);
	cr_assert_eq(multi_calls, 1, "forget_multi called %d times for one BATCH_FORGET", multi_calls);
	cr_assert_eq(multi_entries, 3);
	cr_assert_eq(single_calls, 0);
	/* A lone FORGET: forget, as libfuse. */
	u = llk_send(&k, FUSE_LOOKUP, 1, NULL, 0, "a");
	llk_serve(&k);
	llk_expect(&k, u, 0, -1);
	llk_send(&k, FUSE_FORGET, 10 + 'a', &fi, sizeof(fi), NULL);
	llk_serve(&k);
	cr_assert_eq(single_calls, 1);
	/* Two lookups the kernel still holds at the end: ringfuse's own forgets for them
	 * are not passed to the filesystem of a custom loop. */
	for (i = 0; i < 2; i++) {
		u = llk_send(&k, FUSE_LOOKUP, 1, NULL, 0, names[i]);
		llk_serve(&k);
		llk_expect(&k, u, 0, -1);
	}
	llk_teardown(&k);
	cr_expect_eq(multi_calls, 1, "forget_multi called at the end");
	cr_expect_eq(single_calls, 1, "forget called at the end");
}

static struct fuse_session *exit_se;

static void ll_getattr_exits(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st = { .st_ino = ino, .st_mode = S_IFDIR | 0755, .st_nlink = 2 };

	fuse_session_exit(exit_se);
	fuse_reply_attr(req, &st, 1.0);
}

/*
 * A handler that exits the session inside fuse_session_process_buf (a C filesystem's
 * "shutdown" request): the session then ends inside that very call, and the forgets
 * ringfuse makes up for the lookups the kernel still holds must not reach the filesystem
 * there either (they are not the kernel's; pyfuse3 would await none of them).
 */
Test(lowlevel, custom_loop_exit_inside_process_buf_passes_on_no_made_up_forgets)
{
	static const struct fuse_lowlevel_ops ops = {
		.lookup = ll_lookup_node, .forget = ll_forget_one, .forget_multi = ll_forget_multi,
		.getattr = ll_getattr_exits,
	};
	static struct llk k;
	const char *names[] = { "a", "b" };
	uint64_t u;
	int i;

	llk_setup(&k, &ops, NULL);
	exit_se = k.se;
	for (i = 0; i < 2; i++) {
		u = llk_send(&k, FUSE_LOOKUP, 1, NULL, 0, names[i]);
		llk_serve(&k);
		llk_expect(&k, u, 0, -1);
	}
	u = llk_send(&k, FUSE_GETATTR, 1, &(struct fuse_getattr_in){ 0 },
		     sizeof(struct fuse_getattr_in), NULL);
	llk_serve(&k);
	llk_expect(&k, u, 0, -1);
	cr_expect_eq(multi_calls, 0, "forget_multi called with ringfuse's own forgets");
	cr_expect_eq(single_calls, 0, "forget called with ringfuse's own forgets");
	llk_teardown(&k);
	cr_expect_eq(multi_calls + single_calls, 0, "forgets at the end");
}

/* ---- handles left open at the end of a custom loop ------------------------------------- */

static bool in_process_buf;
static int releases_inside, releases_outside, releasedirs_outside;

static void ll_release_at_end(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (in_process_buf)
		releases_inside++;
	else
		releases_outside++;
	fuse_reply_err(req, 0);
}

static void ll_releasedir_at_end(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (!in_process_buf)
		releasedirs_outside++;
	fuse_reply_err(req, 0);
}

/* One round of the custom loop, noting that the handlers run inside process_buf. */
static int llk_round(struct llk *k)
{
	int n = fuse_session_receive_buf(k->se, &k->buf);

	if (n > 0) {
		in_process_buf = true;
		fuse_session_process_buf(k->se, &k->buf);
		in_process_buf = false;
	}
	return n;
}

/*
 * The kernel ends the connection with a file and a directory still open (a lazy unmount
 * whose last reader was killed in a READ: its RELEASE never leaves the kernel). libfuse
 * calls nothing for them. Here a handler called outside fuse_session_process_buf (in the
 * receive_buf that sees the end, or in fuse_session_destroy) is one pyfuse3 never awaits:
 * it logged "py_retval was not awaited - please report a bug", and the teardown waited a
 * second for the reply that never came (README.md, "Custom loops"). A RELEASE the kernel
 * sent still reaches the filesystem.
 */
Test(lowlevel, custom_loop_end_calls_no_release_for_handles_left_open)
{
	static const struct fuse_lowlevel_ops ops = {
		.open = ll_open, .release = ll_release_at_end,
		.opendir = ll_opendir, .releasedir = ll_releasedir_at_end,
	};
	static struct llk k;
	struct fuse_open_in oin = { .flags = O_RDONLY };
	struct fuse_release_in rin = { .fh = 6 };
	uint64_t u;
	int i;

	llk_setup(&k, &ops, NULL);
	for (i = 0; i < 2; i++) {
		u = llk_send(&k, FUSE_OPEN, 1, &oin, sizeof(oin), NULL);
		cr_assert_gt(llk_round(&k), 0);
		llk_expect(&k, u, 0, sizeof(struct fuse_open_out));
	}
	llk_opendir(&k);
	/* One of the two opens is closed as usual. */
	u = llk_send(&k, FUSE_RELEASE, 1, &rin, sizeof(rin), NULL);
	cr_assert_gt(llk_round(&k), 0);
	llk_expect(&k, u, 0, 0);
	cr_assert_eq(releases_inside, 1, "the RELEASE the kernel sent: %d calls", releases_inside);
	close(k.kfd);
	while (llk_round(&k) > 0)
		;
	fuse_session_destroy(k.se);
	free(k.buf.mem);
	cr_expect_eq(releases_outside, 0, "release called %d times outside process_buf",
		     releases_outside);
	cr_expect_eq(releasedirs_outside, 0, "releasedir called %d times outside process_buf",
		     releasedirs_outside);
	cr_expect_eq(releases_inside, 1, "release called %d times in all", releases_inside);
}
