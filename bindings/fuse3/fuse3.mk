# bindings/fuse3: libfuse3's API on ringfuse (bindings/fuse3/README.md). Included by the
# top Makefile, whose variables (B, CC, CPPFLAGS, CFLAGS, LDFLAGS, rf_objs, rf_a, rf_libs,
# SANFLAGS, PREFIX, LIBDIR, ...) it uses.
#
#   $(B)/libringfuse-fuse3.a, .so   the binding; the .so carries the runtime inside
#   $(B)/ringfuse-fuse3.pc          for `make install` (cc fs.c $(pkg-config ... ringfuse-fuse3))
#   $(B)/pkgconfig/ringfuse-fuse3.pc the same for programs built against this build tree
#   $(B)/fuse3/libfuse3.so.3        the binary drop-in (soname libfuse3.so.3, libfuse's
#                                   symbol versions; only fuse_*/cuse_* exported)
#   $(B)/tests/fuse3/unit           criterion tests of tests/fuse3/unit/*.c
#   $(B)/fuse3/examples/*           libfuse's examples (Debian's libfuse3-dev), copied
#                                   unchanged and built against ringfuse-fuse3
#   $(B)/fuse3/peer/passthrough_ll  the same passthrough_ll linked with Debian's libfuse3
F3_SOVERSION := 0
f3_cflags  := $(shell pkg-config --cflags fuse3 2>/dev/null || echo -I/usr/include/fuse3)
f3_srcs    := $(sort $(wildcard bindings/fuse3/*.c))
f3_objs    := $(f3_srcs:%.c=$(B)/%.o)
f3_a       := $(B)/libringfuse-fuse3.a
f3_so      := $(B)/libringfuse-fuse3.so.$(VERSION)
f3_pc      := $(B)/ringfuse-fuse3.pc
f3_pc_tree := $(B)/pkgconfig/ringfuse-fuse3.pc
f3_dropin  := $(B)/fuse3/libfuse3.so.3
f3_map     := bindings/fuse3/libfuse3.map
f3_unit_srcs := $(sort $(wildcard tests/fuse3/unit/*.c))
f3_unit    := $(B)/tests/fuse3/unit
f3_testprogs := $(patsubst tests/fuse3/%.c,$(B)/tests/fuse3/%,$(sort $(wildcard tests/fuse3/fs_*.c)))

# libfuse's example filesystems and clients, from Debian's libfuse3-dev (never edited).
F3_EXAMPLES_DIR ?= /usr/share/doc/libfuse3-dev/examples
# (hello_ll_uds.c needs libfuse's private fuse_kernel.h, which Debian does not ship.)
# cuse.c is a CUSE device (run on the kernel's /dev/cuse, or on tests/fuse3/cuse_emu).
f3_ex_names := hello_ll passthrough_ll notify_inval_inode notify_inval_entry \
               notify_store_retrieve cuse
# The high-level (fuse.h, fuse_main) examples, tests/fuse3/hl/hl.sh runs them: linked with
# ringfuse-fuse3 once the binding implements fuse_main_real (issue 15), and always linked
# with Debian's libfuse3 as peers (run on either library). The clients need no library.
f3_hl_names := hello null passthrough passthrough_fh invalidate_path poll ioctl
f3_ex_clients := poll_client ioctl_client cuse_client
f3_lparen   := (
f3_has_hl   := $(shell grep -ls 'fuse_main_real *$(f3_lparen)' $(f3_srcs))
f3_have_ex  := $(wildcard $(F3_EXAMPLES_DIR)/hello_ll.c)
f3_ex_bins  := $(if $(f3_have_ex),$(f3_ex_names:%=$(B)/fuse3/examples/%) \
                 $(f3_ex_clients:%=$(B)/fuse3/examples/%) $(B)/tests/fuse3/cuse_emu \
                 $(if $(f3_has_hl),$(f3_hl_names:%=$(B)/fuse3/examples/%)))
f3_peer     := $(if $(f3_have_ex),$(B)/fuse3/peer/passthrough_ll $(f3_hl_names:%=$(B)/fuse3/peer/%)) \
               $(B)/fuse3/peer/fs_slowrelease

fuse3: $(f3_a) $(f3_so) $(f3_pc) $(f3_pc_tree) $(f3_dropin) $(f3_unit) $(f3_testprogs) \
       $(f3_ex_bins) $(f3_peer)
.PHONY: fuse3

$(f3_objs): CPPFLAGS += $(f3_cflags)

$(f3_a): $(f3_objs)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $(f3_objs)

# Both shared libraries carry the runtime's objects, hidden by the version script: a
# program needs nothing else, and ringfuse's own symbols cannot clash with anything.
$(f3_so): $(f3_objs) $(rf_objs) $(f3_map)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -o $@ $(f3_objs) $(rf_objs) $(LDFLAGS) \
	    -Wl,-soname,libringfuse-fuse3.so.$(F3_SOVERSION) -Wl,--version-script=$(f3_map) \
	    -Wl,-z,defs $(rf_libs)
	$(Q)ln -sf libringfuse-fuse3.so.$(VERSION) $(B)/libringfuse-fuse3.so.$(F3_SOVERSION)
	$(Q)ln -sf libringfuse-fuse3.so.$(F3_SOVERSION) $(B)/libringfuse-fuse3.so

$(f3_dropin): $(f3_objs) $(rf_objs) $(f3_map)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -o $@ $(f3_objs) $(rf_objs) $(LDFLAGS) -Wl,-soname,libfuse3.so.3 \
	    -Wl,--version-script=$(f3_map) -Wl,-z,defs $(rf_libs)

# Installed: link the shared library; -static links the archives. Written again by
# fuse3-install, so it names the PREFIX of the install, not of the build.
f3_pc_lines = 'prefix=$(PREFIX)' 'libdir=$(LIBDIR)' '' 'Name: ringfuse-fuse3' \
	'Description: libfuse3 API (fuse.h and fuse_lowlevel.h) on the ringfuse io_uring runtime' \
	'Version: $(VERSION)' 'Libs: -L$${libdir} -lringfuse-fuse3' \
	'Libs.private: -lringfuse -luring -lpthread' 'Cflags: $(f3_cflags)'
$(f3_pc): Makefile bindings/fuse3/fuse3.mk
	@mkdir -p $(dir $@)
	$(Q)printf '%s\n' $(f3_pc_lines) > $@

# The build tree's: static, so the programs run from here with no library path.
$(f3_pc_tree): Makefile bindings/fuse3/fuse3.mk
	@mkdir -p $(dir $@)
	$(Q)printf '%s\n' 'Name: ringfuse-fuse3' \
	    'Description: libfuse3 API (fuse.h and fuse_lowlevel.h) on the ringfuse io_uring runtime (build tree)' \
	    'Version: $(VERSION)' \
	    'Libs: $(abspath $(f3_a)) $(abspath $(rf_a)) -luring -lpthread' \
	    'Cflags: $(f3_cflags)' > $@

$(f3_unit): $(f3_unit_srcs) $(f3_a) $(rf_a) $(wildcard tests/fuse3/unit/*.h)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) $(f3_cflags) -Ibindings/fuse3 $(CFLAGS) -o $@ $(f3_unit_srcs) \
	    $(f3_a) $(rf_a) $(LDFLAGS) -lcriterion $(rf_libs)

# Our own test filesystems written against fuse_lowlevel.h (tests/fuse3/fs_*.c).
$(B)/tests/fuse3/%: tests/fuse3/%.c $(f3_a) $(rf_a) $(f3_pc_tree)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS) $$(PKG_CONFIG_PATH=$(B)/pkgconfig pkg-config --cflags ringfuse-fuse3) \
	    -o $@ $< $(LDFLAGS) $$(PKG_CONFIG_PATH=$(B)/pkgconfig pkg-config --libs ringfuse-fuse3)

# libfuse's examples, copied as they are and built the way libfuse's own Makefile builds
# them, with ringfuse-fuse3 for fuse3. Their warnings are theirs: no -Werror here.
f3_ex_cflags := -O2 -g -Wall $(SANFLAGS)
$(B)/fuse3/examples/src/%: $(F3_EXAMPLES_DIR)/%
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

$(B)/fuse3/examples/%: $(B)/fuse3/examples/src/%.c $(B)/fuse3/examples/src/passthrough_helpers.h \
		      $(B)/fuse3/examples/src/ioctl.h $(f3_a) $(rf_a) $(f3_pc_tree)
	@$(if $(Q),echo "  CCLD    $@ (libfuse example)")
	$(Q)$(CC) $(f3_ex_cflags) $$(PKG_CONFIG_PATH=$(B)/pkgconfig pkg-config --cflags ringfuse-fuse3) \
	    -o $@ $< $(LDFLAGS) $$(PKG_CONFIG_PATH=$(B)/pkgconfig pkg-config --libs ringfuse-fuse3)

# libfuse's example clients (poll_client, ioctl_client) use no FUSE library at all.
$(f3_ex_clients:%=$(B)/fuse3/examples/%): $(B)/fuse3/examples/%: $(B)/fuse3/examples/src/%.c \
					$(B)/fuse3/examples/src/ioctl.h
	@$(if $(Q),echo "  CCLD    $@ (libfuse example client)")
	$(Q)$(CC) $(f3_ex_cflags) $(f3_cflags) -o $@ $< $(LDFLAGS)
$(B)/fuse3/examples/ioctl $(B)/fuse3/peer/ioctl: $(B)/fuse3/examples/src/ioctl.h
# passthrough.c and passthrough_fh.c leave utimens, fallocate, the xattrs and
# copy_file_range out unless libfuse's config.h says the C library has them (Debian's
# example Makefile passes nothing): defined as libfuse's own build defines them on Linux,
# so those operations of the high-level API are exercised too.
f3_hl_config := -DHAVE_SETXATTR -DHAVE_UTIMENSAT -DHAVE_POSIX_FALLOCATE -DHAVE_COPY_FILE_RANGE \
		-DHAVE_FSTATAT -DHAVE_FDATASYNC
$(f3_hl_names:%=$(B)/fuse3/examples/%) $(f3_hl_names:%=$(B)/fuse3/peer/%): \
	f3_ex_cflags += $(f3_hl_config)

# The reference: the examples linked with Debian's libfuse3, run on either library
# (LD_LIBRARY_PATH=$(B)/fuse3 runs them on the binding).
$(B)/fuse3/peer/%: $(B)/fuse3/examples/src/%.c $(B)/fuse3/examples/src/passthrough_helpers.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@ (with -lfuse3)")
	$(Q)$(CC) $(f3_ex_cflags) $$(pkg-config --cflags fuse3) -o $@ $< $(LDFLAGS) \
	    $$(pkg-config --libs fuse3)

# Our seed-000 filesystem linked with Debian's libfuse3: the twin that shows the race.
$(B)/fuse3/peer/fs_slowrelease: tests/fuse3/fs_slowrelease.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@ (with -lfuse3)")
	$(Q)$(CC) $(CFLAGS) $$(pkg-config --cflags fuse3) -o $@ $< $(LDFLAGS) $$(pkg-config --libs fuse3)

# The kernel's side of CUSE for cuse.c, on kernels without CONFIG_CUSE (FUSE's wire
# structs from the runtime's fuse_kernel.h, the ioctls from the example's ioctl.h).
$(B)/tests/fuse3/cuse_emu: tests/fuse3/cuse_emu.c $(B)/fuse3/examples/src/ioctl.h runtime/src/fuse_kernel.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS) -Iruntime/src -I$(B)/fuse3/examples/src -o $@ $< $(LDFLAGS)

.SECONDARY: $(patsubst %,$(B)/fuse3/examples/src/%.c,$(f3_ex_names) $(f3_hl_names) $(f3_ex_clients)) \
	    $(B)/fuse3/examples/src/passthrough_helpers.h $(B)/fuse3/examples/src/ioctl.h

include tests/fuse3/hl/hl.mk

fuse3-install: $(f3_a) $(f3_so) $(f3_pc) $(f3_dropin)
	install -d $(DESTDIR)$(LIBDIR)/ringfuse $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(f3_so) $(DESTDIR)$(LIBDIR)/
	ln -sf libringfuse-fuse3.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libringfuse-fuse3.so.$(F3_SOVERSION)
	ln -sf libringfuse-fuse3.so.$(F3_SOVERSION) $(DESTDIR)$(LIBDIR)/libringfuse-fuse3.so
	install -m 644 $(f3_a) $(DESTDIR)$(LIBDIR)/
	printf '%s\n' $(f3_pc_lines) > $(DESTDIR)$(PKGCONFIGDIR)/ringfuse-fuse3.pc
	install -m 755 $(f3_dropin) $(DESTDIR)$(LIBDIR)/ringfuse/libfuse3.so.3
.PHONY: fuse3-install

-include $(f3_objs:.o=.d)
