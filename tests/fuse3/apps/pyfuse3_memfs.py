#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""A small in-memory filesystem on pyfuse3 (Python's libfuse3 binding, which drives the
session with its own loop: fuse_session_receive_buf / fuse_session_process_buf inside
trio tasks), for tests/fuse3/apps.sh. Files are opened direct_io; a WRITE sleeps
SLOW_WRITE_MS (environment) before it stores, so that a READ of the same range can
arrive while it is in service. Prints a summary at exit (forgets, errors).
Usage: pyfuse3_memfs.py [-f] [-d] MOUNTPOINT   (-f: accepted, it always stays in the
foreground; -d: the session's debug option)"""
import errno
import os
import stat
import sys
import time

import pyfuse3
import trio

SLOW = int(os.environ.get('SLOW_WRITE_MS', '0')) / 1000.0


class Node:
    def __init__(self, ino, mode):
        self.ino = ino
        self.mode = mode
        self.data = b''
        self.children = {}          # name -> ino (directories)
        self.lookups = 0
        self.nlink = 2 if stat.S_ISDIR(mode) else 1


class MemFS(pyfuse3.Operations):
    def __init__(self):
        super().__init__()
        self.nodes = {pyfuse3.ROOT_INODE: Node(pyfuse3.ROOT_INODE, stat.S_IFDIR | 0o755)}
        self.next_ino = pyfuse3.ROOT_INODE + 1
        self.next_fh = 1
        self.forgets = 0
        self.errors = []

    def attr(self, node):
        e = pyfuse3.EntryAttributes()
        e.st_ino = node.ino
        e.st_mode = node.mode
        e.st_nlink = node.nlink
        e.st_size = len(node.data)
        e.st_uid = os.getuid()
        e.st_gid = os.getgid()
        now = time.time_ns()
        e.st_atime_ns = e.st_mtime_ns = e.st_ctime_ns = now
        e.attr_timeout = 0
        e.entry_timeout = 0
        return e

    def node(self, ino):
        try:
            return self.nodes[ino]
        except KeyError:
            raise pyfuse3.FUSEError(errno.ENOENT)

    async def getattr(self, inode, ctx=None):
        return self.attr(self.node(inode))

    async def lookup(self, parent, name, ctx=None):
        ino = self.node(parent).children.get(name)
        if ino is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        n = self.nodes[ino]
        n.lookups += 1
        return self.attr(n)

    async def forget(self, inode_list):
        for ino, nlookup in inode_list:
            self.forgets += 1
            n = self.nodes.get(ino)
            if n is None or n.lookups < nlookup:
                self.errors.append('forget of %d by %d: more than looked up' % (ino, nlookup))
                continue
            n.lookups -= nlookup
            if n.lookups == 0 and n.nlink == 0:
                del self.nodes[ino]

    async def opendir(self, inode, ctx):
        return inode

    async def readdir(self, fh, start_id, token):
        items = sorted(self.node(fh).children.items())
        for i, (name, ino) in enumerate(items[start_id:], start_id + 1):
            n = self.nodes[ino]
            if not pyfuse3.readdir_reply(token, name, self.attr(n), i):
                break
            n.lookups += 1

    def new_node(self, parent, name, mode):
        """A new node of @mode named @name in @parent, looked up once (the entry reply)."""
        p = self.node(parent)
        if name in p.children:
            raise pyfuse3.FUSEError(errno.EEXIST)
        n = Node(self.next_ino, mode)
        self.next_ino += 1
        self.nodes[n.ino] = n
        p.children[name] = n.ino
        n.lookups += 1
        return n

    async def create(self, parent, name, mode, flags, ctx):
        n = self.new_node(parent, name, stat.S_IFREG | (mode & 0o7777))
        return (pyfuse3.FileInfo(fh=n.ino, direct_io=True), self.attr(n))

    async def mkdir(self, parent, name, mode, ctx):
        return self.attr(self.new_node(parent, name, stat.S_IFDIR | (mode & 0o7777)))

    async def unlink(self, parent, name, ctx):
        p = self.node(parent)
        ino = p.children.pop(name, None)
        if ino is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        n = self.nodes[ino]
        n.nlink = 0
        if n.lookups == 0:
            del self.nodes[ino]

    async def rmdir(self, parent, name, ctx):
        p = self.node(parent)
        ino = p.children.get(name)
        if ino is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        if self.nodes[ino].children:
            raise pyfuse3.FUSEError(errno.ENOTEMPTY)
        await self.unlink(parent, name, ctx)

    async def rename(self, parent_old, name_old, parent_new, name_new, flags, ctx):
        po, pn = self.node(parent_old), self.node(parent_new)
        ino = po.children.get(name_old)
        if ino is None:
            raise pyfuse3.FUSEError(errno.ENOENT)
        if flags:
            raise pyfuse3.FUSEError(errno.EINVAL)
        if name_new in pn.children:
            await self.unlink(parent_new, name_new, ctx)
        del po.children[name_old]
        pn.children[name_new] = ino

    async def open(self, inode, flags, ctx):
        self.node(inode)
        return pyfuse3.FileInfo(fh=inode, direct_io=True)

    async def read(self, fh, off, size):
        return self.node(fh).data[off:off + size]

    async def write(self, fh, off, buf):
        if SLOW:
            await trio.sleep(SLOW)
        n = self.node(fh)
        d = n.data
        if off > len(d):
            d += b'\0' * (off - len(d))
        n.data = d[:off] + buf + d[off + len(buf):]
        return len(buf)

    async def setattr(self, inode, attr, fields, fh, ctx):
        n = self.node(inode)
        if fields.update_size:
            n.data = n.data[:attr.st_size] + b'\0' * max(0, attr.st_size - len(n.data))
        if fields.update_mode:
            n.mode = stat.S_IFMT(n.mode) | stat.S_IMODE(attr.st_mode)
        return self.attr(n)

    async def flush(self, fh):
        pass

    async def release(self, fh):
        pass

    async def releasedir(self, fh):
        pass

    async def statfs(self, ctx):
        s = pyfuse3.StatvfsData()
        s.f_bsize = s.f_frsize = 4096
        s.f_namemax = 255
        return s


def main():
    fs = MemFS()
    opts = set(pyfuse3.default_options)
    opts.add('fsname=pyfuse3_memfs')
    args = [a for a in sys.argv[1:] if a != '-f']
    if '-d' in args:
        args.remove('-d')
        opts.add('debug')
    if len(args) != 1:
        sys.exit('usage: pyfuse3_memfs.py [-f] [-d] MOUNTPOINT')
    pyfuse3.init(fs, args[0], opts)
    try:
        trio.run(pyfuse3.main)
    finally:
        pyfuse3.close(unmount=True)
    for e in fs.errors:
        print('pyfuse3_memfs: ERROR: ' + e, file=sys.stderr)
    print('pyfuse3_memfs: %d forgets, %d errors' % (fs.forgets, len(fs.errors)), file=sys.stderr)
    sys.exit(1 if fs.errors else 0)


main()
