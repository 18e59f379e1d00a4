# A VM given by its configuration rather than a disk file (included
# from tests/Makefile.am): VMware .vmx, VirtualBox .vbox, and a Hyper-V
# checkpoint chain given by its newest .avhdx.

TESTS += \
	test-vmx.sh \
	test-vbox.sh \
	test-avhdx.sh \
	test-vm-ssh.sh \
	$(NULL)
