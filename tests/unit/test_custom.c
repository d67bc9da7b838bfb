/* SPDX-License-Identifier: MIT */
/*
 * test_custom.c - custom loops (rf_session_attach_manual, rf_session_receive,
 * rf_session_process) over a socket pair: the test reads each request with
 * rf_session_receive and dispatches it, as libfuse's fuse_session_receive_buf/
 * process_buf do; replies, made in the handler, later on the same thread or from
 * another thread, reach the kernel's end without anyone running the loop.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "ringfuse.h"
#include "fuse_kernel.h"

static struct rf_req *held;
static struct rf_req *held6[8];         /* GETATTRs of node 6, answered by the test */
static int nheld6;

static void nested_in_handler(struct rf_req *req);

static void c_getattr(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	struct stat st = { .st_ino = ino, .st_mode = 0040755, .st_nlink = 2 };

	if (ino == 9) {          /* runs the application's loop inside the handler */
		nested_in_handler(req);
		return;
	}

	if (ino == 5) {          /* answered later by the test */
		held = req;
		return;
	}
	if (ino == 6 && nheld6 < 8) {
		held6[nheld6++] = req;
		return;
	}
	rf_reply_attr(req, &st, 1.0);
}

static struct rf_req *held_write;
static int reads, forgets;
static uint64_t forgot_ino, forgot_n;

static void c_open(struct rf_req *req, uint64_t ino, struct rf_file *fi)
{
	fi->fh = 7;
	fi->direct_io = 1;
	rf_reply_open(req, fi);
}

static void c_read(struct rf_req *req, uint64_t ino, size_t size, off_t off, struct rf_file *fi)
{
	reads++;
	rf_reply_buf(req, "abc", 3);
}

static void c_write(struct rf_req *req, uint64_t ino, const void *buf, size_t size, off_t off,
		    struct rf_file *fi)
{
	held_write = req;        /* answered later by the test */
}

static void c_forget(void *userdata, uint64_t ino, uint64_t nlookup)
{
	forgets++;
	forgot_ino = ino;
	forgot_n += nlookup;
}

static const struct rf_ops c_ops = {
	.getattr = c_getattr, .open = c_open, .read = c_read, .write = c_write,
	.forget = c_forget,
};

struct custom {
	struct rf_loop *loop;
	struct rf_session *se;
	int kfd;
	uint64_t unique;
	char *buf;
};

static void setup(struct custom *c)
{
	int sv[2];

	memset(c, 0, sizeof(*c));
	held = held_write = NULL;
	reads = forgets = 0;
	forgot_ino = forgot_n = 0;
	cr_assert_eq(rf_loop_new(&c->loop), 0);
	cr_assert_eq(rf_session_new(&c_ops, sizeof(c_ops), NULL, NULL, &c->se), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	c->kfd = sv[0];
	cr_assert_eq(rf_session_set_fd(c->se, sv[1]), 0);
	cr_assert_eq(rf_session_attach_manual(c->se, c->loop), 0);
	cr_assert_eq(rf_session_attach_manual(c->se, c->loop), -EBUSY);
	c->buf = malloc(rf_session_bufsize(c->se));
	cr_assert_not_null(c->buf);
}

static void teardown(struct custom *c)
{
	close(c->kfd);
	/* The peer is gone: receive says the connection ended. */
	cr_assert_eq(rf_session_receive(c->se, c->buf, rf_session_bufsize(c->se)), 0);
	rf_session_free(c->se);
	rf_loop_free(c->loop);
	free(c->buf);
}

static uint64_t ksend(struct custom *c, uint32_t opcode, uint64_t nodeid, const void *arg,
		      size_t len)
{
	char msg[512];
	struct fuse_in_header h = { .len = (uint32_t)(sizeof(h) + len), .opcode = opcode,
				    .unique = (c->unique += 2), .nodeid = nodeid };

	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), arg, len);
	cr_assert_eq(send(c->kfd, msg, h.len, 0), (ssize_t)h.len);
	return h.unique;
}

/* The application's side: one receive, one process. */
static void serve_one(struct custom *c)
{
	ssize_t n = rf_session_receive(c->se, c->buf, rf_session_bufsize(c->se));

	cr_assert_gt(n, 0, "rf_session_receive: %zd", n);
	cr_assert_eq(rf_session_process(c->se, c->buf, (size_t)n), 0);
	memset(c->buf, 0xee, (size_t)n);     /* process copied it */
}

/* The kernel's side: the reply to @unique, within 2 s, with no loop running. */
static int32_t kreply(struct custom *c, uint64_t unique, size_t *size)
{
	struct pollfd p = { .fd = c->kfd, .events = POLLIN };
	char msg[4096];
	struct fuse_out_header oh;
	ssize_t n;

	cr_assert_eq(poll(&p, 1, 2000), 1, "no reply to %llu", (unsigned long long)unique);
	n = recv(c->kfd, msg, sizeof(msg), 0);
	cr_assert_geq(n, (ssize_t)sizeof(oh));
	memcpy(&oh, msg, sizeof(oh));
	cr_assert_eq(oh.unique, unique);
	cr_assert_eq(oh.len, (uint32_t)n);
	*size = (size_t)n - sizeof(oh);
	return oh.error;
}

static void init(struct custom *c)
{
	struct fuse_init_in in = { .major = 7, .minor = 45, .max_readahead = 65536 };
	size_t size;
	uint64_t u = ksend(c, FUSE_INIT, 0, &in, sizeof(in));

	serve_one(c);
	cr_assert_eq(kreply(c, u, &size), 0);
	cr_assert_eq(size, sizeof(struct fuse_init_out));
}

Test(custom, requests_read_and_dispatched_by_the_caller_are_answered, .timeout = 10)
{
	struct fuse_getattr_in gi = { 0 };
	struct custom c;
	size_t size;
	uint64_t u;

	setup(&c);
	init(&c);
	u = ksend(&c, FUSE_GETATTR, 1, &gi, sizeof(gi));
	serve_one(&c);
	cr_assert_eq(kreply(&c, u, &size), 0);
	cr_assert_eq(size, sizeof(struct fuse_attr_out));
	/* A malformed one is answered EIO, as from a loop. */
	u = ksend(&c, FUSE_GETATTR, 1, &gi, 4);
	serve_one(&c);
	cr_assert_eq(kreply(&c, u, &size), -EIO);
	teardown(&c);
}

Test(custom, a_reply_after_process_returned_is_written_at_once, .timeout = 10)
{
	struct fuse_getattr_in gi = { 0 };
	struct stat st = { .st_ino = 5, .st_mode = 0100644, .st_nlink = 1 };
	struct custom c;
	size_t size;
	uint64_t u;

	setup(&c);
	init(&c);
	u = ksend(&c, FUSE_GETATTR, 5, &gi, sizeof(gi));
	serve_one(&c);
	cr_assert_not_null(held);
	/* Same thread, outside receive/process (pyfuse3's tasks). */
	cr_assert_eq(rf_reply_attr(held, &st, 1.0), 0);
	held = NULL;
	cr_assert_eq(kreply(&c, u, &size), 0);
	teardown(&c);
}

static void *reply_later(void *arg)
{
	struct stat st = { .st_ino = 5, .st_mode = 0100644, .st_nlink = 1 };

	usleep(20000);
	rf_reply_attr(arg, &st, 1.0);
	return NULL;
}

Test(custom, a_reply_from_another_thread_is_written_while_the_caller_waits, .timeout = 10)
{
	struct fuse_getattr_in gi = { 0 };
	struct custom c;
	pthread_t th;
	size_t size;
	uint64_t u;

	setup(&c);
	init(&c);
	u = ksend(&c, FUSE_GETATTR, 5, &gi, sizeof(gi));
	serve_one(&c);
	cr_assert_not_null(held);
	cr_assert_eq(pthread_create(&th, NULL, reply_later, held), 0);
	held = NULL;
	/* Nobody drives the session meanwhile: the reply must not need it. */
	cr_assert_eq(kreply(&c, u, &size), 0);
	pthread_join(th, NULL);
	teardown(&c);
}

Test(custom, bad_calls_refused, .timeout = 10)
{
	struct rf_loop *loop;
	struct rf_session *se;
	char buf[64];

	cr_assert_eq(rf_loop_new(&loop), 0);
	cr_assert_eq(rf_session_new(&c_ops, sizeof(c_ops), NULL, NULL, &se), 0);
	cr_assert_eq(rf_session_attach_manual(se, loop), -EBADF, "no channel yet");
	cr_assert_eq(rf_session_receive(se, buf, sizeof(buf)), -EINVAL, "not attached");
	cr_assert_eq(rf_session_process(se, buf, sizeof(buf)), -EINVAL, "not attached");
	rf_session_free(se);
	rf_loop_free(loop);
}

/* The kernel's side of a nudge: the NOTIFY_RETRIEVE of 0 bytes of @nodeid (the kernel
 * retrieves only from regular files: the parked request's), read and not answered, as
 * when the session is freed before it could read the answer (a socket closed with unread
 * data would make the kernel's end see ECONNRESET first). Returns its notify_unique. */
static uint64_t knudge_unanswered(struct custom *c, uint64_t nodeid)
{
	struct pollfd p = { .fd = c->kfd, .events = POLLIN };
	struct {
		struct fuse_out_header h;
		struct fuse_notify_retrieve_out r;
	} m;

	cr_assert_eq(poll(&p, 1, 2000), 1, "no nudge");
	cr_assert_eq(recv(c->kfd, &m, sizeof(m), 0), (ssize_t)sizeof(m));
	cr_assert_eq(m.h.error, FUSE_NOTIFY_RETRIEVE);
	cr_assert_eq(m.h.unique, 0);
	cr_assert_eq(m.r.nodeid, nodeid);
	cr_assert_eq(m.r.size, 0);
	return m.r.notify_unique;
}

/* The nudge, answered with the NOTIFY_REPLY the kernel would send. */
static void knudge(struct custom *c, uint64_t nodeid)
{
	struct fuse_notify_retrieve_in in = { 0 };
	char msg[sizeof(struct fuse_in_header) + sizeof(in)];
	struct fuse_in_header h = { .len = sizeof(msg), .opcode = FUSE_NOTIFY_REPLY,
				    .nodeid = nodeid };

	h.unique = knudge_unanswered(c, nodeid);
	memcpy(msg, &h, sizeof(h));
	memcpy(msg + sizeof(h), &in, sizeof(in));
	cr_assert_eq(send(c->kfd, msg, sizeof(msg), 0), (ssize_t)sizeof(msg));
}

static void knothing(struct custom *c)
{
	struct pollfd p = { .fd = c->kfd, .events = POLLIN };

	cr_assert_eq(poll(&p, 1, 50), 0, "the kernel got something it should not have");
}

static uint64_t kopen_and_write(struct custom *c)
{
	struct fuse_open_in oi = { .flags = 2 };
	struct {
		struct fuse_write_in w;
		char data[10];
	} wr = { .w = { .fh = 7, .offset = 0, .size = 10 }, .data = "0123456789" };
	size_t size;
	uint64_t u = ksend(c, FUSE_OPEN, 5, &oi, sizeof(oi));

	serve_one(c);
	cr_assert_eq(kreply(c, u, &size), 0);
	u = ksend(c, FUSE_WRITE, 5, &wr, sizeof(wr));
	serve_one(c);
	cr_assert_not_null(held_write);
	return u;
}

/* A session (setup, init) with node 5 open as fh 7, a WRITE over bytes 0-9 in service and
 * held by the filesystem, and a READ of that range parked behind it by the chains.
 * Returns the READ's unique, the WRITE's in @uw. */
static uint64_t start_with_a_read_parked_behind_a_write(struct custom *c, uint64_t *uw)
{
	struct fuse_read_in ri = { .fh = 7, .offset = 0, .size = 4096 };
	uint64_t ur;

	setup(c);
	init(c);
	*uw = kopen_and_write(c);
	ur = ksend(c, FUSE_READ, 5, &ri, sizeof(ri));
	serve_one(c);
	cr_assert_eq(reads, 0, "the READ ran beside the WRITE it overlaps");
	return ur;
}

/* The filesystem answers the held WRITE (which resumes the READ) and the kernel gets it. */
static void answer_the_write(struct custom *c, uint64_t uw)
{
	size_t size;

	cr_assert_eq(rf_reply_write(held_write, 10), 0);
	cr_assert_eq(kreply(c, uw, &size), 0);
}

/* pyfuse3 starts a coroutine in each handler and awaits it after process_buf returns: a
 * handler started anywhere else (inside a reply, inside receive) is lost. */
Test(custom, a_request_the_chains_parked_is_handed_out_by_receive_not_run_in_a_reply,
     .timeout = 10)
{
	struct fuse_read_in ri = { .fh = 7, .offset = 4, .size = 4096 };
	struct fuse_getattr_in gi = { 0 };
	struct fuse_in_header h;
	struct custom c;
	size_t size;
	uint64_t ur, uw, u;
	ssize_t n;

	setup(&c);
	init(&c);
	uw = kopen_and_write(&c);
	/* A READ over the range of the WRITE in service waits for it. */
	ur = ksend(&c, FUSE_READ, 5, &ri, sizeof(ri));
	serve_one(&c);
	cr_assert_eq(reads, 0, "the READ ran beside the WRITE it overlaps");
	/* The WRITE's answer, outside receive/process (a pyfuse3 task). */
	cr_assert_eq(rf_reply_write(held_write, 10), 0);
	cr_assert_eq(kreply(&c, uw, &size), 0);
	cr_assert_eq(reads, 0, "the READ ran inside the WRITE's reply");
	/* The application may be waiting in its own event loop: it is woken. */
	knudge(&c, 5);
	n = rf_session_receive(c.se, c.buf, rf_session_bufsize(c.se));
	cr_assert_eq(n, (ssize_t)(sizeof(h) + sizeof(ri)));
	memcpy(&h, c.buf, sizeof(h));
	cr_assert_eq(h.opcode, FUSE_READ);
	cr_assert_eq(h.unique, ur);
	cr_assert_eq(reads, 0, "the READ ran inside receive");
	cr_assert_eq(rf_session_process(c.se, c.buf, (size_t)n), 0);
	cr_assert_eq(reads, 1);
	cr_assert_eq(kreply(&c, ur, &size), 0);
	cr_assert_eq(size, 3);
	knothing(&c);
	/* The nudge's NOTIFY_REPLY is read and dropped: the next request is the kernel's. */
	u = ksend(&c, FUSE_GETATTR, 1, &gi, sizeof(gi));
	serve_one(&c);
	cr_assert_eq(kreply(&c, u, &size), 0);
	teardown(&c);
}

/* A FORGET of node 5 (nlookup 3) held back behind a GETATTR of it in service; the GETATTR
 * is then answered outside receive/process. The forget runs neither beside the GETATTR nor
 * inside its reply, wakes nobody (the kernel forgot the node: nothing to retrieve from),
 * and the next receive hands it out: returns that BATCH_FORGET's length, in c->buf. */
static ssize_t forget_held_back_then_handed_out(struct custom *c)
{
	struct fuse_getattr_in gi = { 0 };
	struct fuse_forget_in fi = { .nlookup = 3 };
	struct stat st = { .st_ino = 5, .st_mode = 0100644, .st_nlink = 1 };
	struct fuse_in_header h;
	size_t size;
	uint64_t u;
	ssize_t n;

	u = ksend(c, FUSE_GETATTR, 5, &gi, sizeof(gi));
	serve_one(c);
	cr_assert_not_null(held);
	ksend(c, FUSE_FORGET, 5, &fi, sizeof(fi));
	serve_one(c);
	cr_assert_eq(forgets, 0, "FORGET ran while a GETATTR of its node was in service");
	cr_assert_eq(rf_reply_attr(held, &st, 1.0), 0);
	cr_assert_eq(kreply(c, u, &size), 0);
	cr_assert_eq(forgets, 0, "the forget ran inside the reply");
	knothing(c);
	n = rf_session_receive(c->se, c->buf, rf_session_bufsize(c->se));
	cr_assert_gt(n, 0);
	memcpy(&h, c->buf, sizeof(h));
	cr_assert_eq(h.opcode, FUSE_BATCH_FORGET);
	cr_assert_eq(forgets, 0);
	return n;
}

Test(custom, forgets_held_back_for_a_request_come_back_as_one_batch_forget, .timeout = 10)
{
	struct custom c;
	ssize_t n;

	setup(&c);
	init(&c);
	n = forget_held_back_then_handed_out(&c);
	cr_assert_eq(rf_session_process(c.se, c.buf, (size_t)n), 0);
	cr_assert_eq(forgets, 1);
	cr_assert_eq(forgot_ino, 5);
	cr_assert_eq(forgot_n, 3);
	knothing(&c);
	teardown(&c);
}

/* Handed out and then the session ends: the request still runs, from the teardown. */
Test(custom, a_request_handed_out_but_never_processed_runs_at_the_end, .timeout = 10)
{
	struct custom c;
	uint64_t uw;

	start_with_a_read_parked_behind_a_write(&c, &uw);
	answer_the_write(&c, uw);
	knudge(&c, 5);
	cr_assert_gt(rf_session_receive(c.se, c.buf, rf_session_bufsize(c.se)), 0);
	cr_assert_eq(reads, 0);
	close(c.kfd);
	cr_assert_eq(rf_session_receive(c.se, c.buf, rf_session_bufsize(c.se)), 0);
	rf_session_free(c.se);
	cr_assert_eq(reads, 1, "the handed-out READ never ran");
	rf_loop_free(c.loop);
	free(c.buf);
}

static void *reply_write_later(void *arg)
{
	usleep(20000);
	rf_reply_write(arg, 10);
	return NULL;
}

/* A filesystem thread answers the WRITE while the application waits in its own event
 * loop for the fd: the READ it let go must wake that loop. */
Test(custom, a_reply_from_another_thread_that_resumes_a_request_wakes_the_application,
     .timeout = 10)
{
	struct pollfd p;
	struct fuse_in_header h;
	struct custom c;
	pthread_t th;
	size_t size;
	uint64_t uw, ur;
	ssize_t n;

	ur = start_with_a_read_parked_behind_a_write(&c, &uw);
	cr_assert_eq(pthread_create(&th, NULL, reply_write_later, held_write), 0);
	/* The application's own wait: the fd alone (its end here is the socket). */
	cr_assert_eq(kreply(&c, uw, &size), 0);
	knudge(&c, 5);
	p = (struct pollfd){ .fd = rf_session_fd(c.se), .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 2000), 1, "the application's fd did not become readable");
	pthread_join(th, NULL);
	n = rf_session_receive(c.se, c.buf, rf_session_bufsize(c.se));
	cr_assert_gt(n, 0);
	memcpy(&h, c.buf, sizeof(h));
	cr_assert_eq(h.unique, ur);
	cr_assert_eq(rf_session_process(c.se, c.buf, (size_t)n), 0);
	cr_assert_eq(reads, 1);
	cr_assert_eq(kreply(&c, ur, &size), 0);
	teardown(&c);
}

struct ksend_later {
	int kfd;
	uint64_t unique;
	int ms;
};

/* The kernel's side from another thread: a GETATTR of the root after @ms. */
static void *kgetattr_later(void *arg)
{
	struct ksend_later *k = arg;
	struct {
		struct fuse_in_header h;
		struct fuse_getattr_in gi;
	} m = { .h = { .len = sizeof(m), .opcode = FUSE_GETATTR, .unique = k->unique,
		       .nodeid = FUSE_ROOT_ID } };

	usleep((useconds_t)k->ms * 1000);
	if (send(k->kfd, &m, sizeof(m), 0) != (ssize_t)sizeof(m))
		abort();
	return NULL;
}

static long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* qemu-storage-daemon's handlers run its event loop (aio_poll), which calls
 * fuse_session_receive_buf again from inside process_buf when the fd is readable, and
 * again while it gets -EINTR. A nested receive that waited would stop the request in
 * service below it for ever (its own I/O completes only when the handler's loop runs):
 * with nothing ready it says -EAGAIN at once; with a request ready it hands it out. */
static struct custom *nest_c;
static ssize_t nest_got[2];
static long nest_ms = -1;

static void nested_in_handler(struct rf_req *req)
{
	struct stat st = { .st_ino = 9, .st_mode = 0100644, .st_nlink = 1 };
	size_t size = rf_session_bufsize(nest_c->se);
	char *buf = malloc(size);
	struct timespec t0;

	cr_assert_not_null(buf);
	nest_got[0] = rf_session_receive(nest_c->se, buf, size);
	if (nest_got[0] > 0)
		cr_assert_eq(rf_session_process(nest_c->se, buf, (size_t)nest_got[0]), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	nest_got[1] = rf_session_receive(nest_c->se, buf, size);
	nest_ms = elapsed_ms(&t0);
	free(buf);
	rf_reply_attr(req, &st, 1.0);
}

Test(custom, a_receive_nested_in_a_handler_never_waits, .timeout = 10)
{
	struct fuse_getattr_in gi = { 0 };
	struct custom c;
	size_t size;
	uint64_t u9, u1;

	setup(&c);
	init(&c);
	nest_c = &c;
	u9 = ksend(&c, FUSE_GETATTR, 9, &gi, sizeof(gi));
	u1 = ksend(&c, FUSE_GETATTR, 1, &gi, sizeof(gi));
	serve_one(&c);           /* node 9's handler serves node 1's GETATTR, nested */
	cr_expect_gt(nest_got[0], 0, "nested receive with a request ready: %zd", nest_got[0]);
	cr_expect_eq(nest_got[1], -EAGAIN, "nested receive with nothing ready: %zd", nest_got[1]);
	cr_expect(nest_ms >= 0 && nest_ms < 250, "the nested receive waited %ld ms", nest_ms);
	cr_assert_eq(kreply(&c, u1, &size), 0);
	cr_assert_eq(kreply(&c, u9, &size), 0);
	/* Back at the top, a receive waits again as before: a request sent later comes. */
	u1 = ksend(&c, FUSE_GETATTR, 1, &gi, sizeof(gi));
	serve_one(&c);
	cr_assert_eq(kreply(&c, u1, &size), 0);
	teardown(&c);
}

/* pyfuse3 calls fuse_session_receive_buf only once trio saw the fd readable, and its
 * handlers run in that same thread: a receive that blocks there stops every handler. A
 * held request handed out before the nudge's NOTIFY_REPLY was read leaves the fd readable
 * with nothing but that reply: the receive it brings must not wait for the kernel. */
Test(custom, a_nudge_read_after_its_work_was_handed_out_does_not_block_receive,
     .timeout = 10)
{
	struct ksend_later k;
	struct timespec t0;
	struct pollfd p;
	struct custom c;
	pthread_t th;
	size_t size;
	uint64_t uw, ur;
	ssize_t n;
	long took;

	ur = start_with_a_read_parked_behind_a_write(&c, &uw);
	answer_the_write(&c, uw);
	knudge(&c, 5);
	/* The application's loop: readable, so receive; the READ is handed out first. */
	p = (struct pollfd){ .fd = rf_session_fd(c.se), .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 2000), 1);
	serve_one(&c);
	cr_assert_eq(reads, 1);
	cr_assert_eq(kreply(&c, ur, &size), 0);
	/* Readable again: the NOTIFY_REPLY, and nothing else. */
	p = (struct pollfd){ .fd = rf_session_fd(c.se), .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 2000), 1);
	k = (struct ksend_later){ .kfd = c.kfd, .unique = (c.unique += 2), .ms = 500 };
	cr_assert_eq(pthread_create(&th, NULL, kgetattr_later, &k), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = rf_session_receive(c.se, c.buf, rf_session_bufsize(c.se));
	took = elapsed_ms(&t0);
	pthread_join(th, NULL);
	cr_expect_lt(took, 250, "receive blocked %ld ms on a readable fd", took);
	cr_expect_eq(n, -EINTR, "receive: %zd", n);
	if (n > 0)
		cr_assert_eq(rf_session_process(c.se, c.buf, (size_t)n), 0);
	else
		serve_one(&c);
	cr_assert_eq(kreply(&c, k.unique, &size), 0);
	teardown(&c);
}

/* Handed out, then the session stops before the application passes it back: the forgets
 * left the runtime's books when they were handed out, so unless they still run at the
 * end, as a handed-out request does, the filesystem never learns of them. */
Test(custom, forgets_handed_out_but_never_processed_run_at_the_end, .timeout = 10)
{
	struct custom c;
	char *other;
	ssize_t n, n2;

	setup(&c);
	init(&c);
	n = forget_held_back_then_handed_out(&c);
	/* Told to stop before it processes it (its next call sees the exit). */
	rf_session_exit(c.se);
	other = malloc(rf_session_bufsize(c.se));
	n2 = rf_session_receive(c.se, other, rf_session_bufsize(c.se));
	free(other);
	cr_assert(n2 == 0 || n2 == -EINTR, "receive after rf_session_exit: %zd", n2);
	cr_assert_eq(rf_session_process(c.se, c.buf, (size_t)n), -ENOTCONN);
	close(c.kfd);
	rf_session_free(c.se);
	cr_expect_eq(forgets, 1, "the forget handed out was lost");
	cr_expect_eq(forgot_n, 3);
	rf_loop_free(c.loop);
	free(c.buf);
}

/* rf_session_process trusts no bytes of a BATCH_FORGET of unique 0: what runs is what was
 * handed out, once; one passed again, or made up, forgets nothing. */
Test(custom, a_batch_forget_of_unique_0_runs_what_was_handed_out_once, .timeout = 10)
{
	struct fuse_batch_forget_in bi = { .count = 1 };
	struct fuse_forget_one one = { .nodeid = 9, .nlookup = 1 };
	struct fuse_in_header h;
	struct custom c;
	ssize_t n;

	setup(&c);
	init(&c);
	n = forget_held_back_then_handed_out(&c);
	/* The caller's bytes say node 9. */
	memcpy(c.buf + sizeof(h) + sizeof(bi), &one, sizeof(one));
	cr_assert_eq(rf_session_process(c.se, c.buf, (size_t)n), 0);
	cr_expect_eq(forgets, 1);
	cr_expect_eq(forgot_ino, 5, "forgot node %llu", (unsigned long long)forgot_ino);
	cr_expect_eq(forgot_n, 3);
	/* Again, and one made up: nothing. */
	cr_assert_eq(rf_session_process(c.se, c.buf, (size_t)n), 0);
	h = (struct fuse_in_header){ .len = sizeof(h) + sizeof(bi) + sizeof(one),
				     .opcode = FUSE_BATCH_FORGET };
	memcpy(c.buf, &h, sizeof(h));
	memcpy(c.buf + sizeof(h), &bi, sizeof(bi));
	memcpy(c.buf + sizeof(h) + sizeof(bi), &one, sizeof(one));
	cr_assert_eq(rf_session_process(c.se, c.buf, h.len), 0);
	cr_expect_eq(forgets, 1, "a BATCH_FORGET of unique 0 ran twice or was made up");
	knothing(&c);
	teardown(&c);
}

/* An INTERRUPT of a request handed out and not yet processed: it still runs, once, and
 * gets exactly one reply. */
Test(custom, an_interrupt_of_a_handed_out_request_leaves_it_one_reply, .timeout = 10)
{
	struct fuse_interrupt_in ii = { 0 };
	struct custom c;
	char *copy;
	size_t size;
	uint64_t uw, ur;
	ssize_t n;

	ur = start_with_a_read_parked_behind_a_write(&c, &uw);
	answer_the_write(&c, uw);
	knudge(&c, 5);
	copy = malloc(rf_session_bufsize(c.se));
	n = rf_session_receive(c.se, copy, rf_session_bufsize(c.se));
	cr_assert_gt(n, 0);
	ii.unique = ur;
	ksend(&c, FUSE_INTERRUPT, 0, &ii, sizeof(ii));
	serve_one(&c);          /* the nudge's NOTIFY_REPLY is dropped on the way */
	cr_assert_eq(rf_session_process(c.se, copy, (size_t)n), 0);
	free(copy);
	cr_assert_eq(reads, 1);
	cr_assert_eq(kreply(&c, ur, &size), 0);
	cr_assert_eq(size, 3);
	knothing(&c);
	teardown(&c);
}

/* Resumed and held, never received, then rf_session_exit and rf_session_free (pyfuse3's
 * terminate() and close()): "rf_session_free drains, releases and forgets" (ringfuse.h),
 * so the READ runs and its reply reaches the kernel. */
Test(custom, a_held_request_runs_at_rf_session_free_after_exit_and_is_answered,
     .timeout = 10)
{
	struct custom c;
	size_t size;
	uint64_t uw, ur;

	ur = start_with_a_read_parked_behind_a_write(&c, &uw);
	answer_the_write(&c, uw);
	knudge_unanswered(&c, 5);
	cr_assert_eq(reads, 0);
	rf_session_exit(c.se);
	rf_session_free(c.se);
	cr_assert_eq(reads, 1, "the held READ never ran");
	cr_assert_eq(kreply(&c, ur, &size), 0);
	cr_assert_eq(size, 3);
	close(c.kfd);
	rf_loop_free(c.loop);
	free(c.buf);
}

/* As above, the WRITE answered by another thread while the application is in neither call
 * (its resume is still posted to the loop when the session is freed). */
Test(custom, a_request_resumed_from_another_thread_runs_at_rf_session_free_after_exit,
     .timeout = 10)
{
	struct custom c;
	pthread_t th;
	size_t size;
	uint64_t uw, ur;

	ur = start_with_a_read_parked_behind_a_write(&c, &uw);
	cr_assert_eq(pthread_create(&th, NULL, reply_write_later, held_write), 0);
	pthread_join(th, NULL);
	cr_assert_eq(kreply(&c, uw, &size), 0);
	knudge_unanswered(&c, 5);
	cr_assert_eq(reads, 0);
	rf_session_exit(c.se);
	rf_session_free(c.se);
	rf_loop_free(c.loop);
	cr_assert_eq(reads, 1, "the resumed READ never ran");
	cr_assert_eq(kreply(&c, ur, &size), 0);
	cr_assert_eq(size, 3);
	close(c.kfd);
	free(c.buf);
}

/* More requests in service than slots (pyfuse3 runs up to 99 tasks): the one that finds
 * none is answered ENOMEM, not dropped (its caller would wait for ever). */
Test(custom, a_request_that_finds_every_slot_in_service_is_answered_enomem, .timeout = 10)
{
	struct stat st = { .st_ino = 6, .st_mode = 0100644, .st_nlink = 1 };
	struct fuse_getattr_in gi = { 0 };
	struct rf_opts opts;
	struct custom c;
	uint64_t u[3];
	size_t size;
	ssize_t n;
	int sv[2], i;

	memset(&c, 0, sizeof(c));
	nheld6 = 0;
	rf_opts_init(&opts);
	opts.queue_depth = 2;
	cr_assert_eq(rf_loop_new(&c.loop), 0);
	cr_assert_eq(rf_session_new(&c_ops, sizeof(c_ops), NULL, &opts, &c.se), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
	c.kfd = sv[0];
	cr_assert_eq(rf_session_set_fd(c.se, sv[1]), 0);
	cr_assert_eq(rf_session_attach_manual(c.se, c.loop), 0);
	c.buf = malloc(rf_session_bufsize(c.se));
	init(&c);
	for (i = 0; i < 2; i++) {
		u[i] = ksend(&c, FUSE_GETATTR, 6, &gi, sizeof(gi));
		serve_one(&c);
	}
	cr_assert_eq(nheld6, 2);
	u[2] = ksend(&c, FUSE_GETATTR, 6, &gi, sizeof(gi));
	n = rf_session_receive(c.se, c.buf, rf_session_bufsize(c.se));
	cr_assert_gt(n, 0);
	cr_assert_eq(rf_session_process(c.se, c.buf, (size_t)n), -EBUSY);
	cr_assert_eq(kreply(&c, u[2], &size), -ENOMEM);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(rf_reply_attr(held6[i], &st, 1.0), 0);
		cr_assert_eq(kreply(&c, u[i], &size), 0);
	}
	teardown(&c);
}
