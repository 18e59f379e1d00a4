# VMDK parsing (included from common/Makefile.am).

libxdisk_la_SOURCES += vmdk.h vmdk-descriptor.c vmdk-sparse.c vmdk-sesparse.c \
	vmdk-write.c vmdk-check.c vmdk-create.c \
	vmdk-read.h vmdk-read.c vmdk-format.c
libxdisk_la_SOURCES += vmdk-stream.h vmdk-stream-write.c

if HAVE_CHECK
check_PROGRAMS += test-vmdk
TESTS += test-vmdk
test_vmdk_SOURCES = test-vmdk.c
test_vmdk_CFLAGS = $(UNIT_CFLAGS)
test_vmdk_LDADD = $(UNIT_LDADD)

check_PROGRAMS += test-vmdk-stream
TESTS += test-vmdk-stream
test_vmdk_stream_SOURCES = test-vmdk-stream.c
test_vmdk_stream_CFLAGS = $(UNIT_CFLAGS)
test_vmdk_stream_LDADD = $(UNIT_LDADD)
endif

if HAVE_CHECK
check_PROGRAMS += test-vmdk-write
TESTS += test-vmdk-write
test_vmdk_write_SOURCES = test-vmdk-write.c
test_vmdk_write_CFLAGS = $(UNIT_CFLAGS)
test_vmdk_write_LDADD = $(UNIT_LDADD)
endif
