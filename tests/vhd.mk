# VHD and VHDX tests (included from tests/Makefile.am).

TESTS += \
	test-vhd-qemu.sh \
	test-vhd-size.sh \
	test-vhd-chain.sh \
	test-vhd-bad.sh \
	test-vhd-corpus.sh \
	test-vhd-surface.sh \
	test-vhdx-chain.sh \
	$(NULL)
EXTRA_DIST += vhd-functions.sh

# vhd-mkdiff: makes differencing VHD children for test-vhd-chain.sh and
# patches footers for test-vhd-size.sh / test-vhd-bad.sh.
check_PROGRAMS += vhd-mkdiff
vhd_mkdiff_SOURCES = vhd-mkdiff.c
vhd_mkdiff_CPPFLAGS = -I$(top_srcdir)/common -I$(top_builddir)
vhd_mkdiff_CFLAGS = $(WARNINGS_CFLAGS)
vhd_mkdiff_LDADD = $(top_builddir)/common/libxdisk.la $(EXPAT_LIBS)
