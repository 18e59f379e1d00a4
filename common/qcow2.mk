# qcow2 parsing and reading (included from common/Makefile.am).
# zstd-compressed clusters need libzstd (configure --with-libzstd).

libxdisk_la_SOURCES += qcow2.h qcow2-header.c qcow2-read.c
AM_CFLAGS += $(LIBZSTD_CFLAGS)
libxdisk_la_LIBADD += $(LIBZSTD_LIBS)

if HAVE_CHECK
check_PROGRAMS += test-qcow2
TESTS += test-qcow2
test_qcow2_SOURCES = test-qcow2.c
test_qcow2_CFLAGS = $(UNIT_CFLAGS)
test_qcow2_LDADD = $(UNIT_LDADD) $(LIBZSTD_LIBS)
endif
