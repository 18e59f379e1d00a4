# Robustness tests (included from tests/Makefile.am): the path policy
# for names stored in images, and damaged images through every plugin.
# tests/run-sanitizers runs the whole suite under ASan/UBSan and the
# unit tests under valgrind.

TESTS += \
	test-path-policy.sh \
	test-bad-inputs.sh \
	test-format-hint.sh \
	test-create-params.sh \
	test-diskx.sh \
	$(NULL)

# mutate: the damaged-image generator for test-bad-inputs.sh.
check_PROGRAMS += mutate
mutate_SOURCES = mutate.c
mutate_CPPFLAGS = -I$(top_builddir)
mutate_CFLAGS = $(WARNINGS_CFLAGS)

EXTRA_DIST += \
	lsan-nbdkit.supp \
	run-sanitizers \
	$(NULL)

# The filters (filters/NAME): over the file plugin, and over real
# transports (curl against lighttpd, ssh against sshd, both started by
# the tests on 127.0.0.1).
TESTS += \
	test-filters.sh \
	test-filter-transports.sh \
	test-filter-readahead.sh \
	$(NULL)
EXTRA_DIST += filter-functions.sh
