# VirtualBox VDI tests (included from tests/Makefile.am).

TESTS += \
	test-vdi-qemu.sh \
	test-vdi-blocks.sh \
	test-vdi-chain.sh \
	test-vdi-bad.sh \
	test-vdi-corpus.sh \
	test-vdi-write.sh \
	test-vdi-write-diff.sh \
	test-vdi-write-bad.sh \
	test-vdi-write-crash.sh \
	$(NULL)
EXTRA_DIST += vdi-functions.sh vdi-mkdiff.py
