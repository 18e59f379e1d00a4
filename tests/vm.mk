# A VM given by its configuration rather than a disk file (included
# from tests/Makefile.am): VMware .vmx, VirtualBox .vbox.

TESTS += \
	test-vmx.sh \
	test-vbox.sh \
	$(NULL)
