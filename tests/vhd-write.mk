# VHD writing and creating tests (included from tests/Makefile.am).

TESTS += \
	test-vhd-write.sh \
	test-vhd-write-create.sh \
	test-vhd-write-crash.sh \
	test-vhd-write-corpus.sh \
	test-vhd-blktap.sh \
	$(NULL)
EXTRA_DIST += vhd-write-functions.sh vhd-util-check.py
