# qcow2 parsing and reading (included from common/Makefile.am).

libxdisk_la_SOURCES += qcow2.h qcow2-header.c

if HAVE_CHECK
check_PROGRAMS += test-qcow2
TESTS += test-qcow2
test_qcow2_SOURCES = test-qcow2.c
test_qcow2_CFLAGS = $(UNIT_CFLAGS)
test_qcow2_LDADD = $(UNIT_LDADD)
endif
