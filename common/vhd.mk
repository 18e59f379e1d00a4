# VHD and VHDX parsing (included from common/Makefile.am).
libxdisk_la_SOURCES += \
	vhd.h \
	vhd-footer.c \
	vhdx.h \
	vhdx-header.c \
	$(NULL)
libxdisk_la_SOURCES += vhdx-log.c vhd-read.h vhd-read.c vhd-format.c
# VHD writing, creating and checking.
libxdisk_la_SOURCES += vhd-write.h vhd-write.c vhd-create.c vhd-check.c

if HAVE_CHECK
check_PROGRAMS += test-vhd
TESTS += test-vhd
test_vhd_SOURCES = test-vhd.c
test_vhd_CFLAGS = $(UNIT_CFLAGS)
test_vhd_LDADD = $(UNIT_LDADD)
endif

# VHD writing, creating and checking: unit tests.
if HAVE_CHECK
check_PROGRAMS += test-vhd-write
TESTS += test-vhd-write
test_vhd_write_SOURCES = test-vhd-write.c
test_vhd_write_CFLAGS = $(UNIT_CFLAGS)
test_vhd_write_LDADD = $(UNIT_LDADD)
endif
