# OVA and XVA tests (included from tests/Makefile.am).

TESTS += \
	test-ova.sh \
	test-ova-bad.sh \
	test-ova-corpus.sh \
	test-xva.sh \
	$(NULL)

EXTRA_DIST += \
	ova-functions.sh \
	xva-gen.py \
	$(NULL)
