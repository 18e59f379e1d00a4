# VHD writing and creating tests (included from tests/Makefile.am).

TESTS += \
	test-vhd-write.sh \
	test-vhd-write-create.sh \
	$(NULL)

# vhd-check: the VHD structure verifier, run on every image the tests
# create or write.
check_PROGRAMS += vhd-check
vhd_check_SOURCES = vhd-check.c
vhd_check_CPPFLAGS = -I$(top_srcdir)/common -I$(top_builddir)
vhd_check_CFLAGS = $(WARNINGS_CFLAGS)
vhd_check_LDADD = $(top_builddir)/common/libxdisk.la
