# tests/fuse3/hl: real-mount tests of the libfuse3 high-level API (issue 15), run by
# tests/fuse3/hl/hl.sh (README.md there). Included by bindings/fuse3/fuse3.mk; libfuse's
# examples themselves are built there ($(B)/fuse3/examples/, $(B)/fuse3/peer/).
#   $(B)/tests/fuse3/hl/{rename_stress,unlink_open,mktree}  test programs (no FUSE library:
#                                       they exercise a mount from outside)
#   $(B)/tests/fuse3/hl/hard_remove_shim.so  LD_PRELOAD: fuse_config.hard_remove for an
#                                       unchanged dynamically linked fuse_main filesystem
#   $(B)/tests/fuse3/hl/passthrough{,_fh}-hard_remove  the examples built against
#                                       ringfuse-fuse3 with the shim linked in (--wrap)
hl_test_srcs := $(filter-out tests/fuse3/hl/hard_remove_shim.c,$(sort $(wildcard tests/fuse3/hl/*.c)))
hl_test_bins := $(hl_test_srcs:tests/fuse3/hl/%.c=$(B)/tests/fuse3/hl/%)
hl_shim_so   := $(B)/tests/fuse3/hl/hard_remove_shim.so
hl_shim_wrap := $(B)/tests/fuse3/hl/hard_remove_wrap.o
hl_hr_bins   := $(if $(f3_has_hl),$(if $(f3_have_ex),$(B)/tests/fuse3/hl/passthrough-hard_remove \
				$(B)/tests/fuse3/hl/passthrough_fh-hard_remove))

fuse3: $(hl_test_bins) $(hl_shim_so) $(hl_hr_bins)

$(B)/tests/fuse3/hl/%: tests/fuse3/hl/%.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CCLD    $@")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -o $@ $< $(LDFLAGS) -lpthread

$(hl_shim_so): tests/fuse3/hl/hard_remove_shim.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(CPPFLAGS) $(f3_cflags) $(CFLAGS) -shared -o $@ $< $(LDFLAGS) -ldl

$(hl_shim_wrap): tests/fuse3/hl/hard_remove_shim.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(CPPFLAGS) $(f3_cflags) $(CFLAGS) -DSHIM_WRAP -c -o $@ $<

$(B)/tests/fuse3/hl/%-hard_remove: $(B)/fuse3/examples/src/%.c $(B)/fuse3/examples/src/passthrough_helpers.h \
				   $(hl_shim_wrap) $(f3_a) $(rf_a) $(f3_pc_tree)
	@$(if $(Q),echo "  CCLD    $@ (libfuse example + hard_remove shim)")
	$(Q)$(CC) $(f3_ex_cflags) $(f3_hl_config) $$(PKG_CONFIG_PATH=$(B)/pkgconfig pkg-config --cflags ringfuse-fuse3) \
	    -o $@ $< $(hl_shim_wrap) -Wl,--wrap=fuse_main_real $(LDFLAGS) \
	    $$(PKG_CONFIG_PATH=$(B)/pkgconfig pkg-config --libs ringfuse-fuse3)
