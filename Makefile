# ringfuse: one Makefile, no other build system.
#
#   make                 library (shared + static), pkg-config file, examples, tests
#   make test            install missing packages, then unit + real-mount tests (ASan+UBSan build)
#   make check           the exported symbols match the public headers (scripts/check-exports.sh)
#   make run             install missing packages, mount memfs at $(MNT) until Ctrl-C
#   make install PREFIX=/usr/local
#   make SANITIZE=1      build with -fsanitize=address,undefined (into build/asan)
#   make CC=clang        same sources, clang
#   make V=1             show commands
VERSION      := 0.1.0
SOVERSION    := 0
PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MNT          ?= /tmp/ringfuse-memfs

CC      ?= cc
ifeq ($(origin CC),default)
CC := gcc
endif
SANITIZE ?= 0
ifeq ($(SANITIZE),1)
B       ?= build/asan
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B       ?= build/$(notdir $(CC))
SANFLAGS :=
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -Iruntime/include
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 $(WARN) -fPIC -MMD -MP $(SANFLAGS)
LDFLAGS  += $(SANFLAGS)

Q := @
ifeq ($(V),1)
Q :=
endif

# ---- the library -----------------------------------------------------------
rf_srcs := $(sort $(wildcard runtime/src/*.c))
rf_objs := $(rf_srcs:%.c=$(B)/%.o)
rf_so   := $(B)/libringfuse.so.$(VERSION)
rf_a    := $(B)/libringfuse.a
rf_pc   := $(B)/ringfuse.pc
rf_libs := -luring -lpthread

# ---- examples, tests, bench -------------------------------------------------
# An example is examples/NAME.c, or a directory examples/NAME/ whose *.c files make one
# program (with their own headers there); either way the program is $(B)/examples/NAME.
# ex_libs_NAME: libraries that example alone links with.
ex_single  := $(sort $(basename $(notdir $(wildcard examples/*.c))))
ex_multi   := $(sort $(patsubst examples/%/,%,$(dir $(wildcard examples/*/*.c))))
examples   := $(sort $(ex_single) $(ex_multi))
ex_bins    := $(examples:%=$(B)/examples/%)
# A directory example's objects: $(B)/examples/NAME is the program, so not beside it.
ex_objs     = $(patsubst examples/%.c,$(B)/examples-obj/%.o,$(sort $(wildcard examples/$(1)/*.c)))
# jemalloc serves memfs's allocations.
ex_libs_memfs := -ljemalloc
unit_srcs  := $(sort $(wildcard tests/unit/*.c))
unit_bin   := $(B)/tests/unit/unit
itest_srcs := $(sort $(wildcard tests/integration/*.c))
itest_bins := $(itest_srcs:tests/integration/%.c=$(B)/tests/integration/%)

all: lib $(ex_bins) $(unit_bin) $(itest_bins) fuse3
lib: $(rf_so) $(rf_a) $(rf_pc)

# Missing libraries are named with the command that installs them, once, before the first
# compile, instead of a compiler error on liburing.h (one dpkg-query when all is there).
check-deps:
	@scripts/deps.sh check

$(B)/%.o: %.c | check-deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(rf_so): $(rf_objs) runtime/libringfuse.map
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -o $@ $(rf_objs) $(LDFLAGS) -Wl,-soname,libringfuse.so.$(SOVERSION) \
	    -Wl,--version-script=runtime/libringfuse.map -Wl,-z,defs $(rf_libs)
	$(Q)ln -sf libringfuse.so.$(VERSION) $(B)/libringfuse.so.$(SOVERSION)
	$(Q)ln -sf libringfuse.so.$(SOVERSION) $(B)/libringfuse.so

$(rf_a): $(rf_objs)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $(rf_objs)

$(rf_pc): runtime/ringfuse.pc.in Makefile
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' $< > $@

# Examples link the static library so they run from the build tree.
$(B)/examples/%: examples/%.c $(rf_a)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(rf_a) $(LDFLAGS) $(rf_libs) $(ex_libs_$*)

$(B)/examples-obj/%.o: examples/%.c | check-deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

define ex_multi_rule
$(B)/examples/$(1): $(call ex_objs,$(1)) $(rf_a)
	@mkdir -p $$(dir $$@)
	@$$(if $$(Q),echo "  LD      $$@")
	$$(Q)$$(CC) -o $$@ $(call ex_objs,$(1)) $$(rf_a) $$(LDFLAGS) $$(rf_libs) $$(ex_libs_$(1))
endef
$(foreach e,$(ex_multi),$(eval $(call ex_multi_rule,$(e))))

$(unit_bin): $(unit_srcs) $(rf_a) $(wildcard tests/unit/*.h) Makefile | check-deps
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) -Iruntime/src -Itests/unit -DRF_TEST_MAKEFILE_VERSION='"$(VERSION)"' \
	    $(CFLAGS) -o $@ $(unit_srcs) $(rf_a) $(LDFLAGS) -lcriterion $(rf_libs)

# Integration programs may use the library (slowfs); those that do not just ignore it.
$(B)/tests/integration/%: tests/integration/%.c $(rf_a)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(rf_a) $(LDFLAGS) $(rf_libs)

include bindings/fuse3/fuse3.mk

# ---- fuzzing the decoder (clang's libFuzzer) ----------------------------------------
fuzz_bin := build/fuzz/fuzz_decode
FUZZ_SECONDS ?= 60
FUZZ_SECONDS_CI ?= 30
fuzz: $(fuzz_bin)
$(fuzz_bin): tests/fuzz/fuzz_decode.c $(rf_srcs) $(wildcard runtime/src/*.h) runtime/include/ringfuse.h
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	$(Q)clang $(CPPFLAGS) -Iruntime/src -std=gnu11 $(WARN) -g -O1 \
	    -fsanitize=fuzzer,address,undefined -o $@ $< $(rf_srcs) -luring -lpthread
fuzz-run: $(fuzz_bin)
	@mkdir -p build/fuzz/corpus
	$(fuzz_bin) -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -print_final_stats=1 build/fuzz/corpus

# ---- the two README commands --------------------------------------------------
deps:
	@scripts/deps.sh test

test: deps
	@$(MAKE) --no-print-directory SANITIZE=1 all
	@$(MAKE) --no-print-directory CC=clang B=build/clang all   # warnings-as-errors with clang too
	@$(MAKE) --no-print-directory SANITIZE=1 check
	@echo "== fuzzing the request decoder for $(FUZZ_SECONDS_CI) s =="
	@mkdir -p build/fuzz; $(MAKE) --no-print-directory fuzz-run FUZZ_SECONDS=$(FUZZ_SECONDS_CI) \
	    > build/fuzz/ci.log 2>&1; rc=$$?; tail -4 build/fuzz/ci.log; exit $$rc
	@echo "== unit tests of the clang build (no sanitizer: glibc's own malloc, as users run) =="
	@for u in build/clang/tests/unit/unit build/clang/tests/fuse3/unit; do \
	    out=$$($$u --jobs 2 2>&1); rc=$$?; echo "$$u: $$(echo "$$out" | tail -1)"; \
	    [ $$rc -eq 0 ] || { echo "$$out" | grep -B2 -A8 FAIL | head -60; exit $$rc; }; done
	@scripts/run-tests.sh build/asan

# ---- structure checks on the built library (issue 11) -------------------------------
# check-exports: the shared library exports exactly the functions of the public headers,
# and the header's RF_VERSION_* agree with VERSION above. check-layers: calls in
# runtime/src go down the layers listed in scripts/check-layers.sh, with no cycles. Both
# run in `make test`.
check: check-exports check-layers
check-exports: $(rf_so)
	@scripts/check-exports.sh $(rf_so)
check-layers: $(rf_objs)
	@scripts/check-layers.sh $(B)/runtime/src

# The same tests with long counts (1,000 kill-during-READ iterations per configuration,
# 100 server stops per teardown trigger and configuration, 200,000 fsx operations per
# passthrough mode and transport; the libfuse3 high-level matrix on Debian's libfuse3 too,
# 60 s rename stress, and the high-level memory test).
test-long: deps
	@$(MAKE) --no-print-directory SANITIZE=1 all
	@ORDER_ITERS=1000 TEARDOWN_ITERS=100 FSX_OPS=200000 STRESS_SECS=30 \
	    HL_LIBS="libfuse3 source dropin" HL_RENAME_SECS=60 HL_FSX_OPS=50000 scripts/run-tests.sh build/asan
	@HL_MEM_LIBS="libfuse3 source dropin" tests/fuse3/hl/memory.sh build/asan

# The high-level path layer's memory after the kernel forgets (tests/fuse3/hl/memory.sh:
# 200,000 files walked, drop_caches; slow, so not in make test).
# RSS is measured on the plain build: ASan's quarantine keeps freed memory resident by design.
test-hl-mem: deps
	@$(MAKE) --no-print-directory all
	@tests/fuse3/hl/memory.sh $(B)

run: deps
	@$(MAKE) --no-print-directory all
	@scripts/run-memfs.sh $(B) $(MNT)

# ---- benchmark (bench/README.md) ----------------------------------------------------
# make bench [QUICK=1]: fio if missing, this build plus the libfuse3 peer and metaops, the
# runtime with the ordering chains compiled out (build/nochains), then bench/run.sh (root).
QUICK ?= 0
bench_bins    := $(B)/bench/passthrough_fuse3 $(B)/bench/metaops
# libfuse's high-level examples, copied unchanged and linked with Debian's libfuse3 (issue 15's
# rows run the same binary on ringfuse's libfuse3.so.3 through LD_LIBRARY_PATH).
bench_hl      := $(if $(wildcard $(F3_EXAMPLES_DIR)/passthrough.c),$(B)/bench/hl_passthrough $(B)/bench/hl_passthrough_fh)
bench_bins    += $(bench_hl)
nochains_bins := build/nochains/examples/passthrough build/nochains/examples/nullfs

$(B)/bench/passthrough_fuse3: bench/peers/passthrough_fuse3.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS) $$(pkg-config --cflags fuse3) -o $@ $< $(LDFLAGS) $$(pkg-config --libs fuse3) -lpthread

$(B)/bench/src/%: $(F3_EXAMPLES_DIR)/%
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

$(B)/bench/hl_%: $(B)/bench/src/%.c $(B)/bench/src/passthrough_helpers.h
	@$(if $(Q),echo "  CCLD    $@ (libfuse example, with -lfuse3)")
	$(Q)$(CC) $(f3_ex_cflags) $$(pkg-config --cflags fuse3) -o $@ $< $(LDFLAGS) $$(pkg-config --libs fuse3)

.SECONDARY: $(B)/bench/src/passthrough.c $(B)/bench/src/passthrough_fh.c $(B)/bench/src/passthrough_helpers.h

$(B)/bench/metaops: bench/tools/metaops.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CFLAGS) -o $@ $< $(LDFLAGS)

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory all $(bench_bins)
	@CFLAGS="-O2 -g -DRF_NO_CHAINS" $(MAKE) --no-print-directory B=build/nochains $(nochains_bins)
	@QUICK=$(QUICK) BUILD=$(B) bench/run.sh

# What CI runs: the QUICK benchmark, then a check that every system produced every figure.
bench-smoke:
	@$(MAKE) --no-print-directory bench QUICK=1
	@python3 bench/report.py check build/bench/results.json

.PHONY: bench bench-smoke

# ---- install -------------------------------------------------------------------
install: lib fuse3-install
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -d $(DESTDIR)$(INCLUDEDIR)/ringfuse
	install -m 644 runtime/include/ringfuse.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 runtime/include/ringfuse/*.h $(DESTDIR)$(INCLUDEDIR)/ringfuse/
	install -m 755 $(rf_so) $(DESTDIR)$(LIBDIR)/
	ln -sf libringfuse.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libringfuse.so.$(SOVERSION)
	ln -sf libringfuse.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libringfuse.so
	install -m 644 $(rf_a) $(DESTDIR)$(LIBDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' \
	    runtime/ringfuse.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/ringfuse.pc
	@# The dynamic linker finds a new library only once its cache knows it. Not when
	@# staging into DESTDIR, nor as a user (PREFIX=$$HOME/.local: see README.md).
	$(Q)if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null; then \
	    echo "ldconfig"; ldconfig; fi

clean:
	rm -rf build

.PHONY: all lib deps check-deps test test-long test-hl-mem run install clean fuzz fuzz-run check check-exports check-layers
-include $(rf_objs:.o=.d) $(patsubst %.o,%.d,$(foreach e,$(ex_multi),$(call ex_objs,$(e))))
