# VirtualBox VDI parsing (included from common/Makefile.am).
libxdisk_la_SOURCES += \
	vdi.h \
	vdi-header.c \
	vdi-read.c \
	vdi-write.c \
	vdi-create.c \
	$(NULL)

if HAVE_CHECK
check_PROGRAMS += test-vdi
TESTS += test-vdi
test_vdi_SOURCES = test-vdi.c
test_vdi_CFLAGS = $(UNIT_CFLAGS)
test_vdi_LDADD = $(UNIT_LDADD)
endif
