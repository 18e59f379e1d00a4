# qcow2 tests (included from tests/Makefile.am).

TESTS += \
	test-qcow2-qemu.sh \
	test-qcow2-chain.sh \
	test-qcow2-bad.sh \
	test-qcow2-corpus.sh \
	$(NULL)

EXTRA_DIST += qcow2-functions.sh
