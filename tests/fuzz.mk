# Fuzzing (included from tests/Makefile.am); see fuzz/README.md.
#
# make check: every fuzz target is linked by the normal compiler with
# fuzz/run-inputs.c (fuzz/run-TARGET) and test-fuzz-regress.sh replays
# the inputs kept in fuzz/regress/TARGET/ and the seed corpus.
#
# make fuzz: the same targets linked with libFuzzer by clang, when
# configure found one that links -fsanitize=fuzzer,address,undefined.
# They get their own clang build of common/ and of the read paths, by
# the explicit rules below, so the normal build keeps its compiler.

FUZZ_TARGETS = \
	fuzz-vmdk-descriptor \
	fuzz-vmdk-sparse \
	fuzz-vhd \
	fuzz-vhdx \
	fuzz-vmdk-disk \
	fuzz-vhd-disk \
	fuzz-vdi \
	fuzz-vdi-disk \
	fuzz-tar \
	fuzz-appliance-meta \
	fuzz-gzip \
	fuzz-appliance-disk \
	$(NULL)

FUZZ_CPPFLAGS = \
	-I$(top_srcdir)/tests/fuzz \
	-I$(top_srcdir)/common \
	-I$(top_builddir) \
	$(NULL)
FUZZ_RUN_CFLAGS = $(ZLIB_CFLAGS) $(LIBDEFLATE_CFLAGS) $(WARNINGS_CFLAGS)
FUZZ_RUN_LDADD = $(top_builddir)/common/libxdisk.la $(ZLIB_LIBS) \
	$(LIBDEFLATE_LIBS) $(NETTLE_LIBS) $(LIBXXHASH_LIBS) $(EXPAT_LIBS) -lpthread
# The targets of the read side link libxdisk.la alone: a reader that
# called a writer would not link.  Those that exercise a writer or a
# format's check op (the VDI and disk targets, the write targets) link
# the write side too.
FUZZ_RUN_WRITE_LDADD = $(top_builddir)/common/libxdiskwrite.la $(FUZZ_RUN_LDADD)
FUZZ_RUN_SOURCES = fuzz/fuzz.h fuzz/fuzz-common.c fuzz/run-inputs.c

TESTS += test-fuzz-regress.sh

check_PROGRAMS += \
	fuzz/fuzz-pack \
	fuzz/run-fuzz-vmdk-descriptor \
	fuzz/run-fuzz-vmdk-sparse \
	fuzz/run-fuzz-vhd \
	fuzz/run-fuzz-vhdx \
	fuzz/run-fuzz-vmdk-disk \
	fuzz/run-fuzz-vhd-disk \
	fuzz/run-fuzz-vdi \
	fuzz/run-fuzz-vdi-disk \
	fuzz/run-fuzz-tar \
	fuzz/run-fuzz-appliance-meta \
	fuzz/run-fuzz-gzip \
	fuzz/run-fuzz-appliance-disk \
	$(NULL)

fuzz_fuzz_pack_SOURCES = fuzz/fuzz.h fuzz/fuzz-pack.c
fuzz_fuzz_pack_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_fuzz_pack_CFLAGS = $(WARNINGS_CFLAGS)

fuzz_run_fuzz_vmdk_descriptor_SOURCES = \
	fuzz/fuzz-vmdk-descriptor.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_vmdk_descriptor_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_vmdk_descriptor_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_vmdk_descriptor_LDADD = $(FUZZ_RUN_LDADD)

fuzz_run_fuzz_vmdk_sparse_SOURCES = \
	fuzz/fuzz-vmdk-sparse.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_vmdk_sparse_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_vmdk_sparse_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_vmdk_sparse_LDADD = $(FUZZ_RUN_LDADD)

fuzz_run_fuzz_vhd_SOURCES = fuzz/fuzz-vhd.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_vhd_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_vhd_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_vhd_LDADD = $(FUZZ_RUN_LDADD)

fuzz_run_fuzz_vhdx_SOURCES = fuzz/fuzz-vhdx.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_vhdx_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_vhdx_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_vhdx_LDADD = $(FUZZ_RUN_LDADD)

fuzz_run_fuzz_vmdk_disk_SOURCES = \
	fuzz/fuzz-vmdk-disk.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_vmdk_disk_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_vmdk_disk_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_vmdk_disk_LDADD = $(FUZZ_RUN_WRITE_LDADD)

fuzz_run_fuzz_vhd_disk_SOURCES = \
	fuzz/fuzz-vhd-disk.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_vhd_disk_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_vhd_disk_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_vhd_disk_LDADD = $(FUZZ_RUN_WRITE_LDADD)

fuzz_run_fuzz_vdi_SOURCES = fuzz/fuzz-vdi.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_vdi_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_vdi_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_vdi_LDADD = $(FUZZ_RUN_WRITE_LDADD)

fuzz_run_fuzz_vdi_disk_SOURCES = fuzz/fuzz-vdi-disk.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_vdi_disk_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_vdi_disk_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_vdi_disk_LDADD = $(FUZZ_RUN_WRITE_LDADD)
fuzz_run_fuzz_tar_SOURCES = fuzz/fuzz-tar.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_tar_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_tar_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_tar_LDADD = $(FUZZ_RUN_LDADD)

fuzz_run_fuzz_appliance_meta_SOURCES = fuzz/fuzz-appliance-meta.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_appliance_meta_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_appliance_meta_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_appliance_meta_LDADD = $(FUZZ_RUN_LDADD)

fuzz_run_fuzz_gzip_SOURCES = fuzz/fuzz-gzip.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_gzip_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_gzip_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_gzip_LDADD = $(FUZZ_RUN_LDADD)

fuzz_run_fuzz_appliance_disk_SOURCES = fuzz/fuzz-appliance-disk.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_appliance_disk_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_appliance_disk_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_appliance_disk_LDADD = $(FUZZ_RUN_LDADD)

EXTRA_DIST += \
	fuzz.mk \
	fuzz/README.md \
	fuzz/make-seeds \
	fuzz/run-fuzzers \
	fuzz/ubsan-ignore.txt \
	fuzz/regress \
	$(NULL)

# Seeds for the fuzzers, from qemu-img images and ../shared/corpus.
fuzz-seeds: fuzz/fuzz-pack$(EXEEXT) vhd-mkdiff$(EXEEXT) \
		fuzz/fuzz-mkimage$(EXEEXT)
	rm -rf fuzz/seeds
	$(SHELL) $(srcdir)/fuzz/make-seeds --pack fuzz/fuzz-pack$(EXEEXT) \
	  --mkdiff vhd-mkdiff$(EXEEXT) --mkimage fuzz/fuzz-mkimage$(EXEEXT) \
	  --shared "$${XDISK_SHARED:-$(abs_top_srcdir)/../shared}" fuzz/seeds

FUZZ_BINS = \
	fuzz/fuzz-vmdk-descriptor \
	fuzz/fuzz-vmdk-sparse \
	fuzz/fuzz-vhd \
	fuzz/fuzz-vhdx \
	fuzz/fuzz-vmdk-disk \
	fuzz/fuzz-vhd-disk \
	fuzz/fuzz-vdi \
	fuzz/fuzz-vdi-disk \
	fuzz/fuzz-tar \
	fuzz/fuzz-appliance-meta \
	fuzz/fuzz-gzip \
	fuzz/fuzz-appliance-disk \
	$(NULL)

if HAVE_FUZZ
# Coverage and sanitizers for the library; the targets add libFuzzer.
# Unsigned wrap-around is well defined C but, for a size or an offset
# from an image, a bug: catch it too (fuzz/ubsan-ignore.txt lists the
# functions that wrap on purpose).
FUZZ_SANITIZE = -fsanitize=address,undefined,unsigned-integer-overflow \
	-fsanitize-ignorelist=$(srcdir)/fuzz/ubsan-ignore.txt \
	-fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CLANG_FLAGS = -g -O1 -std=gnu11 $(FUZZ_SANITIZE) $(FUZZ_CPPFLAGS) \
	$(ZLIB_CFLAGS) $(LIBDEFLATE_CFLAGS) $(EXPAT_CFLAGS) $(WARNINGS_CFLAGS)
FUZZ_LIB = fuzz/libxdisk-fuzz.a

# Everything in common/ but its unit tests, the nbdkit glue and the
# test library.
$(FUZZ_LIB): $(top_srcdir)/common/*/*.c $(top_srcdir)/common/*/*.h \
		$(srcdir)/fuzz/ubsan-ignore.txt
	$(AM_V_GEN)rm -rf fuzz/obj && $(MKDIR_P) fuzz/obj && \
	for f in $(top_srcdir)/common/*/*.c; do \
	  b=`basename $$f .c`; \
	  case $$f in */glue/*|*/testlib/*) continue ;; esac; \
	  case $$b in test-*) continue ;; esac; \
	  $(CLANG) $(FUZZ_CLANG_FLAGS) -fsanitize=fuzzer-no-link \
	    -c $$f -o fuzz/obj/$$b.o || exit 1; \
	done && \
	rm -f $@ && $(AR) cr $@ fuzz/obj/*.o

FUZZ_DEPS = $(FUZZ_LIB) $(srcdir)/fuzz/fuzz.h $(srcdir)/fuzz/fuzz-common.c \
	$(srcdir)/fuzz/ubsan-ignore.txt
FUZZ_LINK = $(AM_V_CCLD)$(CLANG) $(FUZZ_CLANG_FLAGS) -fsanitize=fuzzer \
	-o $@ $(srcdir)/fuzz/fuzz-common.c
FUZZ_LIBS = $(FUZZ_LIB) $(ZLIB_LIBS) $(LIBDEFLATE_LIBS) $(NETTLE_LIBS) \
	$(LIBXXHASH_LIBS) $(EXPAT_LIBS) $(LIBCURL_LIBS) $(LIBSSH_LIBS) -lpthread

fuzz/fuzz-vmdk-descriptor: $(srcdir)/fuzz/fuzz-vmdk-descriptor.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-vmdk-descriptor.c $(FUZZ_LIBS)
fuzz/fuzz-vmdk-sparse: $(srcdir)/fuzz/fuzz-vmdk-sparse.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-vmdk-sparse.c $(FUZZ_LIBS)
fuzz/fuzz-vhd: $(srcdir)/fuzz/fuzz-vhd.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-vhd.c $(FUZZ_LIBS)
fuzz/fuzz-vhdx: $(srcdir)/fuzz/fuzz-vhdx.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-vhdx.c $(FUZZ_LIBS)
fuzz/fuzz-vmdk-disk: $(srcdir)/fuzz/fuzz-vmdk-disk.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-vmdk-disk.c $(FUZZ_LIBS)
fuzz/fuzz-vhd-disk: $(srcdir)/fuzz/fuzz-vhd-disk.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-vhd-disk.c $(FUZZ_LIBS)
fuzz/fuzz-vdi: $(srcdir)/fuzz/fuzz-vdi.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-vdi.c $(FUZZ_LIBS)
fuzz/fuzz-vdi-disk: $(srcdir)/fuzz/fuzz-vdi-disk.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-vdi-disk.c $(FUZZ_LIBS)
fuzz/fuzz-tar: $(srcdir)/fuzz/fuzz-tar.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-tar.c $(FUZZ_LIBS)
fuzz/fuzz-appliance-meta: $(srcdir)/fuzz/fuzz-appliance-meta.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-appliance-meta.c $(FUZZ_LIBS)
fuzz/fuzz-gzip: $(srcdir)/fuzz/fuzz-gzip.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-gzip.c $(FUZZ_LIBS)
fuzz/fuzz-appliance-disk: $(srcdir)/fuzz/fuzz-appliance-disk.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-appliance-disk.c $(FUZZ_LIBS)

fuzz: $(FUZZ_BINS) fuzz/fuzz-pack$(EXEEXT)
	@echo "make fuzz: libFuzzer targets built in $(abs_builddir)/fuzz:"
	@echo "  $(FUZZ_TARGETS)"
	@echo "see $(abs_top_srcdir)/tests/fuzz/README.md to run them"
else
fuzz:
	@echo "make fuzz: configure found no clang that links" \
	  "-fsanitize=fuzzer,address,undefined (install clang, or set" \
	  "CLANG=/path/to/clang, and run configure again)" >&2; \
	exit 1
endif

clean-local: clean-fuzz
clean-fuzz:
	rm -rf fuzz/obj fuzz/seeds
	rm -f fuzz/libxdisk-fuzz.a $(FUZZ_BINS)

.PHONY: fuzz fuzz-seeds clean-fuzz

# qcow2: the header parser and the whole-disk read path.
FUZZ_TARGETS += fuzz-qcow2 fuzz-qcow2-disk
FUZZ_BINS += fuzz/fuzz-qcow2 fuzz/fuzz-qcow2-disk
check_PROGRAMS += fuzz/run-fuzz-qcow2 fuzz/run-fuzz-qcow2-disk

fuzz_run_fuzz_qcow2_SOURCES = fuzz/fuzz-qcow2.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_qcow2_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_qcow2_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_qcow2_LDADD = $(FUZZ_RUN_LDADD) $(LIBZSTD_LIBS)

fuzz_run_fuzz_qcow2_disk_SOURCES = fuzz/fuzz-qcow2-disk.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_qcow2_disk_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_qcow2_disk_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_qcow2_disk_LDADD = $(FUZZ_RUN_LDADD) $(LIBZSTD_LIBS)

if HAVE_FUZZ
# The registry in libxdisk-fuzz.a pulls in the qcow2 reader everywhere.
FUZZ_LIBS += $(LIBZSTD_LIBS)
fuzz/fuzz-qcow2: $(srcdir)/fuzz/fuzz-qcow2.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-qcow2.c $(FUZZ_LIBS)
fuzz/fuzz-qcow2-disk: $(srcdir)/fuzz/fuzz-qcow2-disk.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-qcow2-disk.c $(FUZZ_LIBS)
endif

# The write paths (VMDK sparse, VHD, VHDX, VDI): one target per format,
# so that each keeps a corpus and coverage of its own, all driven by
# fuzz/fuzz-write-common.c.  fuzz-mkimage makes their seeds with the
# formats' own create op.
FUZZ_WRITE_TARGETS = fuzz-write-vmdk fuzz-write-vhd fuzz-write-vhdx \
	fuzz-write-vdi
FUZZ_TARGETS += $(FUZZ_WRITE_TARGETS)
FUZZ_BINS += fuzz/fuzz-write-vmdk fuzz/fuzz-write-vhd fuzz/fuzz-write-vhdx \
	fuzz/fuzz-write-vdi
check_PROGRAMS += fuzz/fuzz-mkimage fuzz/run-fuzz-write-vmdk \
	fuzz/run-fuzz-write-vhd fuzz/run-fuzz-write-vhdx fuzz/run-fuzz-write-vdi

FUZZ_WRITE_SOURCES = fuzz/fuzz-write-common.c $(FUZZ_RUN_SOURCES)

fuzz_fuzz_mkimage_SOURCES = fuzz/fuzz-mkimage.c
fuzz_fuzz_mkimage_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_fuzz_mkimage_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_fuzz_mkimage_LDADD = $(FUZZ_RUN_WRITE_LDADD) $(LIBZSTD_LIBS)

fuzz_run_fuzz_write_vmdk_SOURCES = fuzz/fuzz-write-vmdk.c $(FUZZ_WRITE_SOURCES)
fuzz_run_fuzz_write_vmdk_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_write_vmdk_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_write_vmdk_LDADD = $(FUZZ_RUN_WRITE_LDADD) $(LIBZSTD_LIBS)

fuzz_run_fuzz_write_vhd_SOURCES = fuzz/fuzz-write-vhd.c $(FUZZ_WRITE_SOURCES)
fuzz_run_fuzz_write_vhd_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_write_vhd_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_write_vhd_LDADD = $(FUZZ_RUN_WRITE_LDADD) $(LIBZSTD_LIBS)

fuzz_run_fuzz_write_vhdx_SOURCES = fuzz/fuzz-write-vhdx.c $(FUZZ_WRITE_SOURCES)
fuzz_run_fuzz_write_vhdx_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_write_vhdx_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_write_vhdx_LDADD = $(FUZZ_RUN_WRITE_LDADD) $(LIBZSTD_LIBS)

fuzz_run_fuzz_write_vdi_SOURCES = fuzz/fuzz-write-vdi.c $(FUZZ_WRITE_SOURCES)
fuzz_run_fuzz_write_vdi_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_write_vdi_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_write_vdi_LDADD = $(FUZZ_RUN_WRITE_LDADD) $(LIBZSTD_LIBS)

if HAVE_FUZZ
FUZZ_WRITE_DEPS = $(FUZZ_DEPS) $(srcdir)/fuzz/fuzz-write-common.c
FUZZ_WRITE_LINK = $(FUZZ_LINK) $(srcdir)/fuzz/fuzz-write-common.c
fuzz/fuzz-write-vmdk: $(srcdir)/fuzz/fuzz-write-vmdk.c $(FUZZ_WRITE_DEPS)
	$(FUZZ_WRITE_LINK) $(srcdir)/fuzz/fuzz-write-vmdk.c $(FUZZ_LIBS)
fuzz/fuzz-write-vhd: $(srcdir)/fuzz/fuzz-write-vhd.c $(FUZZ_WRITE_DEPS)
	$(FUZZ_WRITE_LINK) $(srcdir)/fuzz/fuzz-write-vhd.c $(FUZZ_LIBS)
fuzz/fuzz-write-vhdx: $(srcdir)/fuzz/fuzz-write-vhdx.c $(FUZZ_WRITE_DEPS)
	$(FUZZ_WRITE_LINK) $(srcdir)/fuzz/fuzz-write-vhdx.c $(FUZZ_LIBS)
fuzz/fuzz-write-vdi: $(srcdir)/fuzz/fuzz-write-vdi.c $(FUZZ_WRITE_DEPS)
	$(FUZZ_WRITE_LINK) $(srcdir)/fuzz/fuzz-write-vdi.c $(FUZZ_LIBS)
endif

# The create-ovf= template reader and filler (issue 19).
FUZZ_TARGETS += fuzz-ovf-template
FUZZ_BINS += fuzz/fuzz-ovf-template
check_PROGRAMS += fuzz/run-fuzz-ovf-template
fuzz_run_fuzz_ovf_template_SOURCES = fuzz/fuzz-ovf-template.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_ovf_template_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_ovf_template_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_ovf_template_LDADD = $(FUZZ_RUN_WRITE_LDADD) $(LIBZSTD_LIBS)
if HAVE_FUZZ
fuzz/fuzz-ovf-template: $(srcdir)/fuzz/fuzz-ovf-template.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-ovf-template.c $(FUZZ_LIBS)
endif

# The VMware .vmx parser and disk finder (issue 20).
FUZZ_TARGETS += fuzz-vmx
FUZZ_BINS += fuzz/fuzz-vmx
check_PROGRAMS += fuzz/run-fuzz-vmx
fuzz_run_fuzz_vmx_SOURCES = fuzz/fuzz-vmx.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_vmx_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_vmx_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_vmx_LDADD = $(FUZZ_RUN_LDADD)
if HAVE_FUZZ
fuzz/fuzz-vmx: $(srcdir)/fuzz/fuzz-vmx.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-vmx.c $(FUZZ_LIBS)
endif

# URLs and the names images hold resolved against them (issue 20).
FUZZ_TARGETS += fuzz-url
FUZZ_BINS += fuzz/fuzz-url
check_PROGRAMS += fuzz/run-fuzz-url
fuzz_run_fuzz_url_SOURCES = fuzz/fuzz-url.c $(FUZZ_RUN_SOURCES)
fuzz_run_fuzz_url_CPPFLAGS = $(FUZZ_CPPFLAGS)
fuzz_run_fuzz_url_CFLAGS = $(FUZZ_RUN_CFLAGS)
fuzz_run_fuzz_url_LDADD = $(FUZZ_RUN_LDADD)
if HAVE_FUZZ
fuzz/fuzz-url: $(srcdir)/fuzz/fuzz-url.c $(FUZZ_DEPS)
	$(FUZZ_LINK) $(srcdir)/fuzz/fuzz-url.c $(FUZZ_LIBS)
endif
