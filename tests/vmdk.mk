# VMDK tests (included from tests/Makefile.am).

TESTS += \
	test-vmdk-subformats.sh \
	test-vmdk-chain.sh \
	test-vmdk-descriptor.sh \
	test-vmdk-stream.sh \
	test-vmdk-bad.sh \
	test-vmdk-corpus.sh \
	test-vmdk-surface.sh \
	test-vmdk-parallel.sh \
	test-vmdk-sesparse.sh \
	test-vmdk-sesparse-bad.sh \
	test-vmdk-write-create.sh \
	test-vmdk-write-existing.sh \
	test-vmdk-write-delta.sh \
	test-vmdk-write-struct.sh \
	test-vmdk-write-bad.sh \
	test-vmdk-write-crash.sh \
	$(NULL)

EXTRA_DIST += \
	vmdk-functions.sh \
	vmdk-stream-edit.py \
	vmdk-mksesparse.py \
	vmdk-randwrite.py \
	vmdk-write-functions.sh \
	$(NULL)

# streamOptimized creation (common/vmdk-stream-write.c).
TESTS += test-vmdk-stream-write.sh
