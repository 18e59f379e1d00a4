# VHDX writing and creating (included from common/Makefile.am).
libxdisk_la_SOURCES += \
	vhdx-write.h \
	vhdx-write.c \
	vhdx-create.c \
	vhdx-check.c \
	$(NULL)

if HAVE_CHECK
check_PROGRAMS += test-vhdx
TESTS += test-vhdx
test_vhdx_SOURCES = test-vhdx.c
test_vhdx_CFLAGS = $(UNIT_CFLAGS)
test_vhdx_LDADD = $(UNIT_LDADD)
endif
