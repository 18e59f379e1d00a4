# VHD and VHDX parsing (included from common/Makefile.am).
libxdisk_la_SOURCES += \
	vhd.h \
	vhd-footer.c \
	vhdx.h \
	vhdx-header.c \
	$(NULL)
libxdisk_la_SOURCES += vhdx-log.c vhd-read.h vhd-read.c vhd-format.c

if HAVE_CHECK
check_PROGRAMS += test-vhd
TESTS += test-vhd
test_vhd_SOURCES = test-vhd.c
test_vhd_CFLAGS = $(UNIT_CFLAGS)
test_vhd_LDADD = $(UNIT_LDADD)
endif
