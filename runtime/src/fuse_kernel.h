/*
 * fuse_kernel.h - ringfuse's own copy of the Linux FUSE wire protocol.
 *
 * Message layouts, opcodes, flags and /dev/fuse ioctls of FUSE protocol
 * 7.45 (Linux 6.18), including FUSE-over-io_uring (7.42+).  Names follow
 * the kernel uapi header <linux/fuse.h> so kernel documentation applies
 * directly, but this file does not include it (distributions ship older
 * versions).  The sizes are checked with static asserts at the end.
 *
 * Private to ringfuse; not installed.
 *
 * Conventions: every struct is a multiple of 8 bytes (except the two
 * noted ones) so that 32- and 64-bit servers see the same layout; all
 * fields are host-endian.  INIT capability flags are 64-bit constants:
 * bits 0..31 travel in fuse_init_{in,out}.flags, bits 32..63 (shifted
 * down by 32) in .flags2, which is only valid with FUSE_INIT_EXT.
 */
#ifndef RINGFUSE_FUSE_KERNEL_H
#define RINGFUSE_FUSE_KERNEL_H

#include <assert.h>
#include <stdint.h>
#include <linux/ioctl.h>

/* ------------------------------------------------------------------------
 * Versions and well-known values
 * ------------------------------------------------------------------------ */

#define FUSE_KERNEL_VERSION         7
#define FUSE_KERNEL_MINOR_VERSION   45

#define FUSE_ROOT_ID                1  /* nodeid of the mount root */

/* Every /dev/fuse read buffer must hold at least this many bytes. */
#define FUSE_MIN_READ_BUFFER        8192

/* Kernel-internal (fs/fuse/fuse_dev_i.h), not uapi: requests get even
 * uniques in steps of 2; an INTERRUPT carries orig_unique | 1. */
#define FUSE_INT_REQ_BIT            (1ULL << 0)
#define FUSE_REQ_ID_STEP            (1ULL << 1)

/* Set in fuse_in_header.unique of a request the kernel resent after
 * FUSE_NOTIFY_RESEND (needs FUSE_HAS_RESEND). */
#define FUSE_UNIQUE_RESEND          (1ULL << 63)

/* fuse_in_header.uid/gid when FUSE_ALLOW_IDMAP is on and the caller's id
 * has no mapping. */
#define FUSE_INVALID_UIDGID         ((uint32_t)(-1))

/* Byte counts of older, shorter versions of some structs.  Use them when
 * the negotiated minor is below the version that grew the struct. */
#define FUSE_COMPAT_ENTRY_OUT_SIZE      120  /* < 7.9  */
#define FUSE_COMPAT_ATTR_OUT_SIZE       96   /* < 7.9  */
#define FUSE_COMPAT_MKNOD_IN_SIZE       8    /* < 7.12 */
#define FUSE_COMPAT_WRITE_IN_SIZE       24   /* < 7.9  */
#define FUSE_COMPAT_STATFS_SIZE         48   /* < 7.4  */
#define FUSE_COMPAT_SETXATTR_IN_SIZE    8    /* without FUSE_SETXATTR_EXT */
#define FUSE_COMPAT_INIT_OUT_SIZE       8    /* < 7.5  */
#define FUSE_COMPAT_22_INIT_OUT_SIZE    24   /* < 7.23 */

/* ------------------------------------------------------------------------
 * INIT capability flags (fuse_init_in/out .flags and .flags2)
 * ------------------------------------------------------------------------ */

#define FUSE_ASYNC_READ             (1ULL << 0)
#define FUSE_POSIX_LOCKS            (1ULL << 1)
#define FUSE_FILE_OPS               (1ULL << 2)   /* never implemented */
#define FUSE_ATOMIC_O_TRUNC         (1ULL << 3)
#define FUSE_EXPORT_SUPPORT         (1ULL << 4)   /* fs looks up "." and ".." */
#define FUSE_BIG_WRITES             (1ULL << 5)
#define FUSE_DONT_MASK              (1ULL << 6)   /* kernel does not apply umask */
#define FUSE_SPLICE_WRITE           (1ULL << 7)
#define FUSE_SPLICE_MOVE            (1ULL << 8)
#define FUSE_SPLICE_READ            (1ULL << 9)
#define FUSE_FLOCK_LOCKS            (1ULL << 10)
#define FUSE_HAS_IOCTL_DIR          (1ULL << 11)
#define FUSE_AUTO_INVAL_DATA        (1ULL << 12)
#define FUSE_DO_READDIRPLUS         (1ULL << 13)
#define FUSE_READDIRPLUS_AUTO       (1ULL << 14)
#define FUSE_ASYNC_DIO              (1ULL << 15)
#define FUSE_WRITEBACK_CACHE        (1ULL << 16)
#define FUSE_NO_OPEN_SUPPORT        (1ULL << 17)  /* ENOSYS to OPEN = success */
#define FUSE_PARALLEL_DIROPS        (1ULL << 18)
#define FUSE_HANDLE_KILLPRIV        (1ULL << 19)
#define FUSE_POSIX_ACL              (1ULL << 20)
#define FUSE_ABORT_ERROR            (1ULL << 21)  /* reads after abort: ECONNABORTED */
#define FUSE_MAX_PAGES              (1ULL << 22)  /* init_out.max_pages is valid */
#define FUSE_CACHE_SYMLINKS         (1ULL << 23)
#define FUSE_NO_OPENDIR_SUPPORT     (1ULL << 24)
#define FUSE_EXPLICIT_INVAL_DATA    (1ULL << 25)
#define FUSE_MAP_ALIGNMENT          (1ULL << 26)  /* init_out.map_alignment valid (DAX) */
#define FUSE_SUBMOUNTS              (1ULL << 27)
#define FUSE_HANDLE_KILLPRIV_V2     (1ULL << 28)
#define FUSE_SETXATTR_EXT           (1ULL << 29)  /* full-size fuse_setxattr_in */
#define FUSE_INIT_EXT               (1ULL << 30)  /* flags2 and the 64-byte init_in are used */
#define FUSE_INIT_RESERVED          (1ULL << 31)  /* do not use */
/* From here on the bit lives in flags2 (bit - 32). */
#define FUSE_SECURITY_CTX           (1ULL << 32)
#define FUSE_HAS_INODE_DAX          (1ULL << 33)
#define FUSE_CREATE_SUPP_GROUP      (1ULL << 34)
#define FUSE_HAS_EXPIRE_ONLY        (1ULL << 35)
#define FUSE_DIRECT_IO_ALLOW_MMAP   (1ULL << 36)
#define FUSE_PASSTHROUGH            (1ULL << 37)  /* with init_out.max_stack_depth */
#define FUSE_NO_EXPORT_SUPPORT      (1ULL << 38)
#define FUSE_HAS_RESEND             (1ULL << 39)
#define FUSE_ALLOW_IDMAP            (1ULL << 40)
#define FUSE_OVER_IO_URING          (1ULL << 41)
#define FUSE_REQUEST_TIMEOUT        (1ULL << 42)  /* init_out.request_timeout valid */

/* Old name of FUSE_DIRECT_IO_ALLOW_MMAP. */
#define FUSE_DIRECT_IO_RELAX        FUSE_DIRECT_IO_ALLOW_MMAP

/* CUSE_INIT flags */
#define CUSE_UNRESTRICTED_IOCTL     (1u << 0)

/* ------------------------------------------------------------------------
 * Per-request flag words
 * ------------------------------------------------------------------------ */

/* fuse_setattr_in.valid */
#define FATTR_MODE                  (1u << 0)
#define FATTR_UID                   (1u << 1)
#define FATTR_GID                   (1u << 2)
#define FATTR_SIZE                  (1u << 3)
#define FATTR_ATIME                 (1u << 4)
#define FATTR_MTIME                 (1u << 5)
#define FATTR_FH                    (1u << 6)
#define FATTR_ATIME_NOW             (1u << 7)
#define FATTR_MTIME_NOW             (1u << 8)
#define FATTR_LOCKOWNER             (1u << 9)
#define FATTR_CTIME                 (1u << 10)
#define FATTR_KILL_SUIDGID          (1u << 11)

/* fuse_open_out.open_flags (reply to OPEN, OPENDIR, CREATE) */
#define FOPEN_DIRECT_IO             (1u << 0)  /* bypass the page cache */
#define FOPEN_KEEP_CACHE            (1u << 1)  /* keep cached data from earlier opens */
#define FOPEN_NONSEEKABLE           (1u << 2)
#define FOPEN_CACHE_DIR             (1u << 3)  /* OPENDIR: cache readdir results */
#define FOPEN_STREAM                (1u << 4)  /* no file position at all */
#define FOPEN_NOFLUSH               (1u << 5)  /* no FLUSH on close */
#define FOPEN_PARALLEL_DIRECT_WRITES (1u << 6)
#define FOPEN_PASSTHROUGH           (1u << 7)  /* I/O goes to fuse_open_out.backing_id */

/* fuse_open_in.open_flags, fuse_create_in.open_flags */
#define FUSE_OPEN_KILL_SUIDGID      (1u << 0)

/* fuse_getattr_in.getattr_flags */
#define FUSE_GETATTR_FH             (1u << 0)  /* .fh is valid */

/* fuse_lk_in.lk_flags */
#define FUSE_LK_FLOCK               (1u << 0)  /* BSD flock(), not POSIX */

/* fuse_write_in.write_flags */
#define FUSE_WRITE_CACHE            (1u << 0)  /* writeback from page cache; fh is a guess */
#define FUSE_WRITE_LOCKOWNER        (1u << 1)  /* .lock_owner is valid */
#define FUSE_WRITE_KILL_SUIDGID     (1u << 2)
#define FUSE_WRITE_KILL_PRIV        FUSE_WRITE_KILL_SUIDGID  /* old name */

/* fuse_read_in.read_flags */
#define FUSE_READ_LOCKOWNER         (1u << 1)

/* fuse_release_in.release_flags */
#define FUSE_RELEASE_FLUSH          (1u << 0)
#define FUSE_RELEASE_FLOCK_UNLOCK   (1u << 1)

/* fuse_ioctl_in.flags / fuse_ioctl_out.flags */
#define FUSE_IOCTL_COMPAT           (1u << 0)  /* 32-bit caller on a 64-bit kernel */
#define FUSE_IOCTL_UNRESTRICTED     (1u << 1)
#define FUSE_IOCTL_RETRY            (1u << 2)  /* reply: retry with the returned iovecs */
#define FUSE_IOCTL_32BIT            (1u << 3)
#define FUSE_IOCTL_DIR              (1u << 4)
#define FUSE_IOCTL_COMPAT_X32       (1u << 5)
#define FUSE_IOCTL_MAX_IOV          256        /* in_iovs + out_iovs limit */

/* fuse_poll_in.flags */
#define FUSE_POLL_SCHEDULE_NOTIFY   (1u << 0)  /* send FUSE_NOTIFY_POLL with .kh later */

/* fuse_fsync_in.fsync_flags */
#define FUSE_FSYNC_FDATASYNC        (1u << 0)

/* fuse_attr.flags */
#define FUSE_ATTR_SUBMOUNT          (1u << 0)
#define FUSE_ATTR_DAX               (1u << 1)

/* fuse_setxattr_in.setxattr_flags */
#define FUSE_SETXATTR_ACL_KILL_SGID (1u << 0)

/* fuse_notify_inval_entry_out.flags */
#define FUSE_EXPIRE_ONLY            (1u << 0)  /* expire the dentry, do not drop it */

/* fuse_setupmapping_in.flags (virtiofs DAX) */
#define FUSE_SETUPMAPPING_FLAG_WRITE (1ULL << 0)
#define FUSE_SETUPMAPPING_FLAG_READ  (1ULL << 1)

/* ------------------------------------------------------------------------
 * Opcodes and notification codes
 * ------------------------------------------------------------------------ */

enum fuse_opcode {
	FUSE_LOOKUP             = 1,
	FUSE_FORGET             = 2,   /* no reply */
	FUSE_GETATTR            = 3,
	FUSE_SETATTR            = 4,
	FUSE_READLINK           = 5,
	FUSE_SYMLINK            = 6,
	/* 7 is unused */
	FUSE_MKNOD              = 8,
	FUSE_MKDIR              = 9,
	FUSE_UNLINK             = 10,
	FUSE_RMDIR              = 11,
	FUSE_RENAME             = 12,
	FUSE_LINK               = 13,
	FUSE_OPEN               = 14,
	FUSE_READ               = 15,
	FUSE_WRITE              = 16,
	FUSE_STATFS             = 17,
	FUSE_RELEASE            = 18,
	/* 19 is unused */
	FUSE_FSYNC              = 20,
	FUSE_SETXATTR           = 21,
	FUSE_GETXATTR           = 22,
	FUSE_LISTXATTR          = 23,
	FUSE_REMOVEXATTR        = 24,
	FUSE_FLUSH              = 25,
	FUSE_INIT               = 26,
	FUSE_OPENDIR            = 27,
	FUSE_READDIR            = 28,
	FUSE_RELEASEDIR         = 29,
	FUSE_FSYNCDIR           = 30,
	FUSE_GETLK              = 31,
	FUSE_SETLK              = 32,
	FUSE_SETLKW             = 33,
	FUSE_ACCESS             = 34,
	FUSE_CREATE             = 35,
	FUSE_INTERRUPT          = 36,
	FUSE_BMAP               = 37,
	FUSE_DESTROY            = 38,
	FUSE_IOCTL              = 39,
	FUSE_POLL               = 40,
	FUSE_NOTIFY_REPLY       = 41,  /* answer to FUSE_NOTIFY_RETRIEVE */
	FUSE_BATCH_FORGET       = 42,  /* no reply */
	FUSE_FALLOCATE          = 43,
	FUSE_READDIRPLUS        = 44,
	FUSE_RENAME2            = 45,
	FUSE_LSEEK              = 46,
	FUSE_COPY_FILE_RANGE    = 47,  /* reply: fuse_write_out (32-bit count) */
	FUSE_SETUPMAPPING       = 48,
	FUSE_REMOVEMAPPING      = 49,
	FUSE_SYNCFS             = 50,
	FUSE_TMPFILE            = 51,
	FUSE_STATX              = 52,
	FUSE_COPY_FILE_RANGE_64 = 53,  /* reply: fuse_copy_file_range_out */

	CUSE_INIT               = 4096,

	/* Never sent: the value a peer of the other endianness would see for
	 * CUSE_INIT / FUSE_INIT, reserved so it can be recognised. */
	CUSE_INIT_BSWAP_RESERVED = 1048576,    /* CUSE_INIT << 8 */
	FUSE_INIT_BSWAP_RESERVED = 436207616,  /* FUSE_INIT << 24 */
};

/* Server-to-kernel notifications: a write to /dev/fuse whose
 * fuse_out_header has unique == 0 and error == the code below. */
enum fuse_notify_code {
	FUSE_NOTIFY_POLL        = 1,   /* fuse_notify_poll_wakeup_out */
	FUSE_NOTIFY_INVAL_INODE = 2,   /* fuse_notify_inval_inode_out */
	FUSE_NOTIFY_INVAL_ENTRY = 3,   /* fuse_notify_inval_entry_out + name + NUL */
	FUSE_NOTIFY_STORE       = 4,   /* fuse_notify_store_out + data */
	FUSE_NOTIFY_RETRIEVE    = 5,   /* fuse_notify_retrieve_out */
	FUSE_NOTIFY_DELETE      = 6,   /* fuse_notify_delete_out + name + NUL */
	FUSE_NOTIFY_RESEND      = 7,   /* no payload */
	FUSE_NOTIFY_INC_EPOCH   = 8,   /* no payload */
	FUSE_NOTIFY_PRUNE       = 9,   /* fuse_notify_prune_out + count x u64 nodeid */
	/* 7.45 dropped FUSE_NOTIFY_CODE_MAX from the uapi. */
};

/* Types of request extensions (after the in-args, see fuse_ext_header). */
enum fuse_ext_type {
	FUSE_MAX_NR_SECCTX      = 31,  /* types 0..31: fuse_secctx_header */
	FUSE_EXT_GROUPS         = 32,  /* fuse_supp_groups */
};

/* ------------------------------------------------------------------------
 * Message headers
 * ------------------------------------------------------------------------ */

/* Starts every request read from /dev/fuse. */
struct fuse_in_header {
	uint32_t len;           /* whole request, header included */
	uint32_t opcode;        /* enum fuse_opcode */
	uint64_t unique;
	uint64_t nodeid;
	uint32_t uid;
	uint32_t gid;
	uint32_t pid;
	uint16_t total_extlen;  /* extension bytes at the end, in 8-byte units */
	uint16_t padding;
};

/* Starts every reply (and notification) written to /dev/fuse. */
struct fuse_out_header {
	uint32_t len;           /* whole reply, header included */
	int32_t  error;         /* 0 or -errno; notify code when unique == 0 */
	uint64_t unique;
};

/* ------------------------------------------------------------------------
 * Attributes
 * ------------------------------------------------------------------------ */

struct fuse_attr {
	uint64_t ino;
	uint64_t size;
	uint64_t blocks;
	uint64_t atime;
	uint64_t mtime;
	uint64_t ctime;
	uint32_t atimensec;
	uint32_t mtimensec;
	uint32_t ctimensec;
	uint32_t mode;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint32_t rdev;
	uint32_t blksize;
	uint32_t flags;         /* FUSE_ATTR_* */
};

/* fuse_sx_time and fuse_statx mirror statx(2)'s struct statx_timestamp and
 * struct statx bit for bit. */
struct fuse_sx_time {
	int64_t  tv_sec;
	uint32_t tv_nsec;
	int32_t  __reserved;
};

struct fuse_statx {
	uint32_t mask;
	uint32_t blksize;
	uint64_t attributes;
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint16_t mode;
	uint16_t __spare0[1];
	uint64_t ino;
	uint64_t size;
	uint64_t blocks;
	uint64_t attributes_mask;
	struct fuse_sx_time atime;
	struct fuse_sx_time btime;
	struct fuse_sx_time ctime;
	struct fuse_sx_time mtime;
	uint32_t rdev_major;
	uint32_t rdev_minor;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint64_t __spare2[14];
};

struct fuse_kstatfs {
	uint64_t blocks;
	uint64_t bfree;
	uint64_t bavail;
	uint64_t files;
	uint64_t ffree;
	uint32_t bsize;
	uint32_t namelen;
	uint32_t frsize;
	uint32_t padding;
	uint32_t spare[6];
};

struct fuse_file_lock {
	uint64_t start;
	uint64_t end;
	uint32_t type;
	uint32_t pid;           /* thread group id of the lock holder */
};

/* ------------------------------------------------------------------------
 * Lookup, forget, getattr/setattr/statx
 * ------------------------------------------------------------------------ */

/* Reply to LOOKUP, MKNOD, MKDIR, SYMLINK, LINK (and part of CREATE). */
struct fuse_entry_out {
	uint64_t nodeid;
	uint64_t generation;    /* (nodeid, generation) unique for the fs lifetime */
	uint64_t entry_valid;   /* name cache timeout, seconds */
	uint64_t attr_valid;    /* attribute cache timeout, seconds */
	uint32_t entry_valid_nsec;
	uint32_t attr_valid_nsec;
	struct fuse_attr attr;
};

struct fuse_forget_in {
	uint64_t nlookup;
};

/* BATCH_FORGET: fuse_batch_forget_in, then count x fuse_forget_one. */
struct fuse_forget_one {
	uint64_t nodeid;
	uint64_t nlookup;
};

struct fuse_batch_forget_in {
	uint32_t count;
	uint32_t dummy;
};

struct fuse_getattr_in {
	uint32_t getattr_flags; /* FUSE_GETATTR_* */
	uint32_t dummy;
	uint64_t fh;
};

/* Reply to GETATTR and SETATTR. */
struct fuse_attr_out {
	uint64_t attr_valid;
	uint32_t attr_valid_nsec;
	uint32_t dummy;
	struct fuse_attr attr;
};

struct fuse_statx_in {
	uint32_t getattr_flags;
	uint32_t reserved;
	uint64_t fh;
	uint32_t sx_flags;      /* AT_STATX_* sync flags */
	uint32_t sx_mask;       /* STATX_* fields wanted */
};

struct fuse_statx_out {
	uint64_t attr_valid;
	uint32_t attr_valid_nsec;
	uint32_t flags;
	uint64_t spare[2];
	struct fuse_statx stat;
};

struct fuse_setattr_in {
	uint32_t valid;         /* FATTR_* */
	uint32_t padding;
	uint64_t fh;
	uint64_t size;
	uint64_t lock_owner;
	uint64_t atime;
	uint64_t mtime;
	uint64_t ctime;
	uint32_t atimensec;
	uint32_t mtimensec;
	uint32_t ctimensec;
	uint32_t mode;
	uint32_t unused4;
	uint32_t uid;
	uint32_t gid;
	uint32_t unused5;
};

/* ------------------------------------------------------------------------
 * Namespace operations
 * ------------------------------------------------------------------------ */

/* MKNOD: this struct, then the name (NUL-terminated). */
struct fuse_mknod_in {
	uint32_t mode;
	uint32_t rdev;
	uint32_t umask;
	uint32_t padding;
};

/* MKDIR: this struct, then the name. */
struct fuse_mkdir_in {
	uint32_t mode;
	uint32_t umask;
};

/* RENAME: this struct, then old name, then new name. */
struct fuse_rename_in {
	uint64_t newdir;
};

/* RENAME2: as RENAME plus renameat2() flags. */
struct fuse_rename2_in {
	uint64_t newdir;
	uint32_t flags;
	uint32_t padding;
};

/* LINK: this struct, then the new name. */
struct fuse_link_in {
	uint64_t oldnodeid;
};

struct fuse_access_in {
	uint32_t mask;
	uint32_t padding;
};

/* ------------------------------------------------------------------------
 * Open, I/O, release
 * ------------------------------------------------------------------------ */

struct fuse_open_in {
	uint32_t flags;         /* open(2) flags */
	uint32_t open_flags;    /* FUSE_OPEN_* */
};

/* CREATE: this struct, then the name; reply is fuse_entry_out followed by
 * fuse_open_out. */
struct fuse_create_in {
	uint32_t flags;
	uint32_t mode;
	uint32_t umask;
	uint32_t open_flags;    /* FUSE_OPEN_* */
};

struct fuse_open_out {
	uint64_t fh;
	uint32_t open_flags;    /* FOPEN_* */
	int32_t  backing_id;    /* with FOPEN_PASSTHROUGH: id from BACKING_OPEN */
};

struct fuse_release_in {
	uint64_t fh;
	uint32_t flags;
	uint32_t release_flags; /* FUSE_RELEASE_* */
	uint64_t lock_owner;
};

struct fuse_flush_in {
	uint64_t fh;
	uint32_t unused;
	uint32_t padding;
	uint64_t lock_owner;
};

struct fuse_read_in {
	uint64_t fh;
	uint64_t offset;
	uint32_t size;
	uint32_t read_flags;    /* FUSE_READ_* */
	uint64_t lock_owner;
	uint32_t flags;         /* open(2) flags of the file */
	uint32_t padding;
};

/* WRITE: this struct, then size bytes of data. */
struct fuse_write_in {
	uint64_t fh;
	uint64_t offset;
	uint32_t size;
	uint32_t write_flags;   /* FUSE_WRITE_* */
	uint64_t lock_owner;
	uint32_t flags;
	uint32_t padding;
};

struct fuse_write_out {
	uint32_t size;
	uint32_t padding;
};

struct fuse_fsync_in {
	uint64_t fh;
	uint32_t fsync_flags;   /* FUSE_FSYNC_* */
	uint32_t padding;
};

struct fuse_fallocate_in {
	uint64_t fh;
	uint64_t offset;
	uint64_t length;
	uint32_t mode;          /* fallocate(2) mode */
	uint32_t padding;
};

struct fuse_lseek_in {
	uint64_t fh;
	uint64_t offset;
	uint32_t whence;
	uint32_t padding;
};

struct fuse_lseek_out {
	uint64_t offset;
};

/* nodeid of the source file is in the in-header. */
struct fuse_copy_file_range_in {
	uint64_t fh_in;
	uint64_t off_in;
	uint64_t nodeid_out;
	uint64_t fh_out;
	uint64_t off_out;
	uint64_t len;
	uint64_t flags;
};

/* Reply to FUSE_COPY_FILE_RANGE_64. */
struct fuse_copy_file_range_out {
	uint64_t bytes_copied;
};

/* ------------------------------------------------------------------------
 * statfs, xattr, locks, bmap, syncfs
 * ------------------------------------------------------------------------ */

struct fuse_statfs_out {
	struct fuse_kstatfs st;
};

/* SETXATTR: this struct (only the first 8 bytes without
 * FUSE_SETXATTR_EXT), then the name, then size bytes of value. */
struct fuse_setxattr_in {
	uint32_t size;
	uint32_t flags;         /* XATTR_CREATE / XATTR_REPLACE */
	uint32_t setxattr_flags;/* FUSE_SETXATTR_* (7.33) */
	uint32_t padding;
};

/* GETXATTR: this struct, then the name.  LISTXATTR: this struct only. */
struct fuse_getxattr_in {
	uint32_t size;          /* 0: just report the needed size */
	uint32_t padding;
};

/* Reply when getxattr_in.size was 0. */
struct fuse_getxattr_out {
	uint32_t size;
	uint32_t padding;
};

/* GETLK, SETLK, SETLKW. */
struct fuse_lk_in {
	uint64_t fh;
	uint64_t owner;
	struct fuse_file_lock lk;
	uint32_t lk_flags;      /* FUSE_LK_* */
	uint32_t padding;
};

struct fuse_lk_out {
	struct fuse_file_lock lk;
};

struct fuse_bmap_in {
	uint64_t block;
	uint32_t blocksize;
	uint32_t padding;
};

struct fuse_bmap_out {
	uint64_t block;
};

struct fuse_syncfs_in {
	uint64_t padding;
};

/* ------------------------------------------------------------------------
 * INIT, INTERRUPT, CUSE
 * ------------------------------------------------------------------------ */

/* The kernel sends all 64 bytes; fields after .flags are meaningful only
 * when FUSE_INIT_EXT is set in .flags. */
struct fuse_init_in {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;         /* INIT flags, bits 0..31 */
	uint32_t flags2;        /* INIT flags, bits 32..63 */
	uint32_t unused[11];
};

struct fuse_init_out {
	uint32_t major;
	uint32_t minor;
	uint32_t max_readahead;
	uint32_t flags;
	uint16_t max_background;
	uint16_t congestion_threshold;
	uint32_t max_write;
	uint32_t time_gran;     /* timestamp granularity, ns */
	uint16_t max_pages;     /* with FUSE_MAX_PAGES */
	uint16_t map_alignment; /* with FUSE_MAP_ALIGNMENT, log2 bytes */
	uint32_t flags2;
	uint32_t max_stack_depth;  /* with FUSE_PASSTHROUGH: 1..2 */
	uint16_t request_timeout;  /* with FUSE_REQUEST_TIMEOUT, seconds */
	uint16_t unused[11];
};

#define CUSE_INIT_INFO_MAX 4096

struct cuse_init_in {
	uint32_t major;
	uint32_t minor;
	uint32_t unused;
	uint32_t flags;
};

struct cuse_init_out {
	uint32_t major;
	uint32_t minor;
	uint32_t unused;
	uint32_t flags;
	uint32_t max_read;
	uint32_t max_write;
	uint32_t dev_major;
	uint32_t dev_minor;
	uint32_t spare[10];
};

/* INTERRUPT: its own unique is the target's | FUSE_INT_REQ_BIT. */
struct fuse_interrupt_in {
	uint64_t unique;        /* the request to interrupt */
};

/* ------------------------------------------------------------------------
 * ioctl and poll
 * ------------------------------------------------------------------------ */

/* IOCTL: this struct, then in_size bytes of input. */
struct fuse_ioctl_in {
	uint64_t fh;
	uint32_t flags;         /* FUSE_IOCTL_* */
	uint32_t cmd;
	uint64_t arg;
	uint32_t in_size;
	uint32_t out_size;
};

/* Returned for FUSE_IOCTL_RETRY (64-bit even for 32-bit callers). */
struct fuse_ioctl_iovec {
	uint64_t base;
	uint64_t len;
};

struct fuse_ioctl_out {
	int32_t  result;
	uint32_t flags;
	uint32_t in_iovs;
	uint32_t out_iovs;
};

struct fuse_poll_in {
	uint64_t fh;
	uint64_t kh;            /* handle for FUSE_NOTIFY_POLL */
	uint32_t flags;         /* FUSE_POLL_* */
	uint32_t events;
};

struct fuse_poll_out {
	uint32_t revents;
	uint32_t padding;
};

/* ------------------------------------------------------------------------
 * Directory entries (READDIR / READDIRPLUS replies)
 * ------------------------------------------------------------------------ */

struct fuse_dirent {
	uint64_t ino;
	uint64_t off;           /* cookie for the next READDIR offset */
	uint32_t namelen;
	uint32_t type;          /* DT_* */
	char     name[];        /* not NUL-terminated */
};

struct fuse_direntplus {
	struct fuse_entry_out entry_out;
	struct fuse_dirent    dirent;  /* nested flexible array: GNU C, warns under -Wpedantic */
};

/* Entries are padded to 8 bytes. */
#define FUSE_REC_ALIGN(x) \
	(((x) + sizeof(uint64_t) - 1) & ~(sizeof(uint64_t) - 1))
#define FUSE_DIRENT_ALIGN(x)  FUSE_REC_ALIGN(x)

/* __builtin_offsetof: avoids <stddef.h> here; GCC and clang both have it. */
#define FUSE_NAME_OFFSET  __builtin_offsetof(struct fuse_dirent, name)
#define FUSE_DIRENT_SIZE(d) \
	FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + (d)->namelen)

#define FUSE_NAME_OFFSET_DIRENTPLUS \
	__builtin_offsetof(struct fuse_direntplus, dirent.name)
#define FUSE_DIRENTPLUS_SIZE(d) \
	FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET_DIRENTPLUS + (d)->dirent.namelen)

/* ------------------------------------------------------------------------
 * Notifications (server -> kernel) and RETRIEVE
 * ------------------------------------------------------------------------ */

struct fuse_notify_poll_wakeup_out {
	uint64_t kh;
};

/* off/len select the cached data to drop; off < 0: attributes only,
 * len <= 0: to the end of file. */
struct fuse_notify_inval_inode_out {
	uint64_t ino;
	int64_t  off;
	int64_t  len;
};

struct fuse_notify_inval_entry_out {
	uint64_t parent;
	uint32_t namelen;
	uint32_t flags;         /* FUSE_EXPIRE_ONLY */
};

struct fuse_notify_delete_out {
	uint64_t parent;
	uint64_t child;
	uint32_t namelen;
	uint32_t padding;
};

struct fuse_notify_store_out {
	uint64_t nodeid;
	uint64_t offset;
	uint32_t size;
	uint32_t padding;
};

struct fuse_notify_retrieve_out {
	uint64_t notify_unique; /* echoed as the unique of the NOTIFY_REPLY */
	uint64_t nodeid;
	uint64_t offset;
	uint32_t size;
	uint32_t padding;
};

/* In-arg of the FUSE_NOTIFY_REPLY request; laid out like fuse_write_in. */
struct fuse_notify_retrieve_in {
	uint64_t dummy1;
	uint64_t offset;
	uint32_t size;
	uint32_t dummy2;
	uint64_t dummy3;
	uint64_t dummy4;
};

/* Followed by count x uint64_t nodeids; the kernel evicts those inodes
 * that are unused. */
struct fuse_notify_prune_out {
	uint32_t count;
	uint32_t padding;
	uint64_t spare;
};

/* ------------------------------------------------------------------------
 * Request extensions (after the last in-arg; fuse_in_header.total_extlen)
 * ------------------------------------------------------------------------ */

/* Security contexts (FUSE_SECURITY_CTX): a fuse_secctx_header, then per
 * context a fuse_secctx, the xattr name (NUL-terminated) and the value. */
struct fuse_secctx {
	uint32_t size;          /* of the value */
	uint32_t padding;
};

struct fuse_secctx_header {
	uint32_t size;          /* all contexts, this header included */
	uint32_t nr_secctx;
};

/* Generic extension header; type > FUSE_MAX_NR_SECCTX tells it apart from a
 * fuse_secctx_header. */
struct fuse_ext_header {
	uint32_t size;          /* this header included */
	uint32_t type;          /* enum fuse_ext_type */
};

/* FUSE_EXT_GROUPS payload (FUSE_CREATE_SUPP_GROUP); 4 bytes + groups. */
struct fuse_supp_groups {
	uint32_t nr_groups;
	uint32_t groups[];
};

/* ------------------------------------------------------------------------
 * virtiofs DAX window mapping (not used over /dev/fuse)
 * ------------------------------------------------------------------------ */

struct fuse_setupmapping_in {
	uint64_t fh;
	uint64_t foffset;       /* file offset */
	uint64_t len;
	uint64_t flags;         /* FUSE_SETUPMAPPING_FLAG_* */
	uint64_t moffset;       /* offset in the DAX window */
};

/* REMOVEMAPPING: this struct, then count x fuse_removemapping_one.
 * Only 4 bytes long.  (The uapi's FUSE_REMOVEMAPPING_MAX_ENTRY needs
 * PAGE_SIZE and is left out.) */
struct fuse_removemapping_in {
	uint32_t count;
};

struct fuse_removemapping_one {
	uint64_t moffset;
	uint64_t len;
};

/* ------------------------------------------------------------------------
 * /dev/fuse ioctls
 * ------------------------------------------------------------------------ */

/* Argument of FUSE_DEV_IOC_BACKING_OPEN (passthrough). */
struct fuse_backing_map {
	int32_t  fd;            /* regular file to pass I/O through to */
	uint32_t flags;         /* must be 0 */
	uint64_t padding;       /* must be 0 */
};

#define FUSE_DEV_IOC_MAGIC          229
/* On a fresh /dev/fuse fd: attach to the connection of the fd whose
 * number is passed as a uint32_t. */
#define FUSE_DEV_IOC_CLONE          _IOR(FUSE_DEV_IOC_MAGIC, 0, uint32_t)
/* Returns a backing_id > 0 for fuse_open_out. */
#define FUSE_DEV_IOC_BACKING_OPEN   _IOW(FUSE_DEV_IOC_MAGIC, 1, struct fuse_backing_map)
/* Argument: pointer to the uint32_t backing_id. */
#define FUSE_DEV_IOC_BACKING_CLOSE  _IOW(FUSE_DEV_IOC_MAGIC, 2, uint32_t)
/* Issue before mount(2): INIT then arrives, and must be answered, while
 * mount(2) is still running (serve it from another thread).  ENOTTY on
 * kernels without it.  6.18; untested here. */
#define FUSE_DEV_IOC_SYNC_INIT      _IO(FUSE_DEV_IOC_MAGIC, 3)

/* ------------------------------------------------------------------------
 * FUSE-over-io_uring (7.42+): IORING_OP_URING_CMD on /dev/fuse, SQE128
 * ------------------------------------------------------------------------ */

#define FUSE_URING_IN_OUT_HEADER_SZ 128
#define FUSE_URING_OP_IN_OUT_SZ     128

/* Last part of fuse_uring_req_header. */
struct fuse_uring_ent_in_out {
	uint64_t flags;
	uint64_t commit_id;     /* echo in fuse_uring_cmd_req.commit_id */
	uint32_t payload_sz;    /* bytes used in the payload buffer (both ways) */
	uint32_t padding;
	uint64_t reserved;
};

/* The header buffer of a ring entry (iov[0] of REGISTER); the payload
 * buffer (iov[1]) holds the remaining in-args / all out-args. */
struct fuse_uring_req_header {
	char in_out[FUSE_URING_IN_OUT_HEADER_SZ];  /* fuse_in_header / fuse_out_header */
	char op_in[FUSE_URING_OP_IN_OUT_SZ];       /* first in-arg of the request */
	struct fuse_uring_ent_in_out ring_ent_in_out;
};

/* sqe->cmd_op values. */
enum fuse_uring_cmd {
	FUSE_IO_URING_CMD_INVALID          = 0,
	FUSE_IO_URING_CMD_REGISTER         = 1,  /* add an entry, wait for a request */
	FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2,  /* send a reply, wait for the next */
};

/* Lives in the SQE's 80-byte command area (sqe->cmd). */
struct fuse_uring_cmd_req {
	uint64_t flags;
	uint64_t commit_id;
	uint16_t qid;           /* queue index, 0..nr_possible_cpus-1 */
	uint8_t  padding[6];
};

/* ------------------------------------------------------------------------
 * Layout checks: sizes as in the Linux 6.18 uapi / kernel BTF.
 * ------------------------------------------------------------------------ */

#define RF_FUSE_KSIZE(type, n) \
	static_assert(sizeof(struct type) == (n), "struct " #type " is not " #n " bytes")
#define RF_FUSE_KOFF(type, member, n) \
	static_assert(__builtin_offsetof(struct type, member) == (n), \
	              #type "." #member " is not at offset " #n)

RF_FUSE_KSIZE(fuse_in_header, 40);
RF_FUSE_KSIZE(fuse_out_header, 16);
RF_FUSE_KSIZE(fuse_attr, 88);
RF_FUSE_KSIZE(fuse_sx_time, 16);
RF_FUSE_KSIZE(fuse_statx, 256);
RF_FUSE_KSIZE(fuse_kstatfs, 80);
RF_FUSE_KSIZE(fuse_file_lock, 24);
RF_FUSE_KSIZE(fuse_entry_out, 128);
RF_FUSE_KSIZE(fuse_forget_in, 8);
RF_FUSE_KSIZE(fuse_forget_one, 16);
RF_FUSE_KSIZE(fuse_batch_forget_in, 8);
RF_FUSE_KSIZE(fuse_getattr_in, 16);
RF_FUSE_KSIZE(fuse_attr_out, 104);
RF_FUSE_KSIZE(fuse_statx_in, 24);
RF_FUSE_KSIZE(fuse_statx_out, 288);
RF_FUSE_KSIZE(fuse_setattr_in, 88);
RF_FUSE_KSIZE(fuse_mknod_in, 16);
RF_FUSE_KSIZE(fuse_mkdir_in, 8);
RF_FUSE_KSIZE(fuse_rename_in, 8);
RF_FUSE_KSIZE(fuse_rename2_in, 16);
RF_FUSE_KSIZE(fuse_link_in, 8);
RF_FUSE_KSIZE(fuse_access_in, 8);
RF_FUSE_KSIZE(fuse_open_in, 8);
RF_FUSE_KSIZE(fuse_create_in, 16);
RF_FUSE_KSIZE(fuse_open_out, 16);
RF_FUSE_KSIZE(fuse_release_in, 24);
RF_FUSE_KSIZE(fuse_flush_in, 24);
RF_FUSE_KSIZE(fuse_read_in, 40);
RF_FUSE_KSIZE(fuse_write_in, 40);
RF_FUSE_KSIZE(fuse_write_out, 8);
RF_FUSE_KSIZE(fuse_fsync_in, 16);
RF_FUSE_KSIZE(fuse_fallocate_in, 32);
RF_FUSE_KSIZE(fuse_lseek_in, 24);
RF_FUSE_KSIZE(fuse_lseek_out, 8);
RF_FUSE_KSIZE(fuse_copy_file_range_in, 56);
RF_FUSE_KSIZE(fuse_copy_file_range_out, 8);
RF_FUSE_KSIZE(fuse_statfs_out, 80);
RF_FUSE_KSIZE(fuse_setxattr_in, 16);
RF_FUSE_KSIZE(fuse_getxattr_in, 8);
RF_FUSE_KSIZE(fuse_getxattr_out, 8);
RF_FUSE_KSIZE(fuse_lk_in, 48);
RF_FUSE_KSIZE(fuse_lk_out, 24);
RF_FUSE_KSIZE(fuse_bmap_in, 16);
RF_FUSE_KSIZE(fuse_bmap_out, 8);
RF_FUSE_KSIZE(fuse_syncfs_in, 8);
RF_FUSE_KSIZE(fuse_init_in, 64);
RF_FUSE_KSIZE(fuse_init_out, 64);
RF_FUSE_KSIZE(cuse_init_in, 16);
RF_FUSE_KSIZE(cuse_init_out, 72);
RF_FUSE_KSIZE(fuse_interrupt_in, 8);
RF_FUSE_KSIZE(fuse_ioctl_in, 32);
RF_FUSE_KSIZE(fuse_ioctl_iovec, 16);
RF_FUSE_KSIZE(fuse_ioctl_out, 16);
RF_FUSE_KSIZE(fuse_poll_in, 24);
RF_FUSE_KSIZE(fuse_poll_out, 8);
RF_FUSE_KSIZE(fuse_dirent, 24);
RF_FUSE_KSIZE(fuse_direntplus, 152);
RF_FUSE_KSIZE(fuse_notify_poll_wakeup_out, 8);
RF_FUSE_KSIZE(fuse_notify_inval_inode_out, 24);
RF_FUSE_KSIZE(fuse_notify_inval_entry_out, 16);
RF_FUSE_KSIZE(fuse_notify_delete_out, 24);
RF_FUSE_KSIZE(fuse_notify_store_out, 24);
RF_FUSE_KSIZE(fuse_notify_retrieve_out, 32);
RF_FUSE_KSIZE(fuse_notify_retrieve_in, 40);
RF_FUSE_KSIZE(fuse_notify_prune_out, 16);
RF_FUSE_KSIZE(fuse_secctx, 8);
RF_FUSE_KSIZE(fuse_secctx_header, 8);
RF_FUSE_KSIZE(fuse_ext_header, 8);
RF_FUSE_KSIZE(fuse_supp_groups, 4);
RF_FUSE_KSIZE(fuse_setupmapping_in, 40);
RF_FUSE_KSIZE(fuse_removemapping_in, 4);
RF_FUSE_KSIZE(fuse_removemapping_one, 16);
RF_FUSE_KSIZE(fuse_backing_map, 16);
RF_FUSE_KSIZE(fuse_uring_ent_in_out, 32);
RF_FUSE_KSIZE(fuse_uring_req_header, 288);
RF_FUSE_KSIZE(fuse_uring_cmd_req, 24);

/* Fields whose position matters to ringfuse or to the compat sizes. */
RF_FUSE_KOFF(fuse_in_header, total_extlen, 36);
RF_FUSE_KOFF(fuse_init_out, max_readahead, FUSE_COMPAT_INIT_OUT_SIZE);
RF_FUSE_KOFF(fuse_init_out, time_gran, FUSE_COMPAT_22_INIT_OUT_SIZE);
RF_FUSE_KOFF(fuse_init_out, max_pages, 28);
RF_FUSE_KOFF(fuse_init_out, flags2, 32);
RF_FUSE_KOFF(fuse_init_out, max_stack_depth, 36);
RF_FUSE_KOFF(fuse_init_out, request_timeout, 40);
RF_FUSE_KOFF(fuse_init_in, flags2, 16);
RF_FUSE_KOFF(fuse_open_out, backing_id, 12);
RF_FUSE_KOFF(fuse_write_in, lock_owner, FUSE_COMPAT_WRITE_IN_SIZE);
RF_FUSE_KOFF(fuse_mknod_in, umask, FUSE_COMPAT_MKNOD_IN_SIZE);
RF_FUSE_KOFF(fuse_setxattr_in, setxattr_flags, FUSE_COMPAT_SETXATTR_IN_SIZE);
RF_FUSE_KOFF(fuse_kstatfs, frsize, FUSE_COMPAT_STATFS_SIZE);
RF_FUSE_KOFF(fuse_statx_out, stat, 32);
RF_FUSE_KOFF(fuse_uring_req_header, op_in, 128);
RF_FUSE_KOFF(fuse_uring_req_header, ring_ent_in_out, 256);
RF_FUSE_KOFF(fuse_uring_ent_in_out, payload_sz, 16);
RF_FUSE_KOFF(fuse_uring_cmd_req, qid, 16);
static_assert(FUSE_NAME_OFFSET == 24, "fuse_dirent.name offset");
static_assert(FUSE_NAME_OFFSET_DIRENTPLUS == 152, "fuse_direntplus name offset");
static_assert(sizeof(struct fuse_uring_cmd_req) <= 80, "must fit the SQE128 cmd area");

/* ioctl numbers as measured on x86-64 (asm-generic ioctl encoding). */
#if defined(__x86_64__) || defined(__i386__) || defined(__aarch64__) || defined(__riscv)
static_assert(FUSE_DEV_IOC_CLONE == 0x8004E500u, "FUSE_DEV_IOC_CLONE");
static_assert(FUSE_DEV_IOC_BACKING_OPEN == 0x4010E501u, "FUSE_DEV_IOC_BACKING_OPEN");
static_assert(FUSE_DEV_IOC_BACKING_CLOSE == 0x4004E502u, "FUSE_DEV_IOC_BACKING_CLOSE");
static_assert(FUSE_DEV_IOC_SYNC_INIT == 0xE503u, "FUSE_DEV_IOC_SYNC_INIT");
#endif

#undef RF_FUSE_KSIZE
#undef RF_FUSE_KOFF

#endif /* RINGFUSE_FUSE_KERNEL_H */
