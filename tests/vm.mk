# A VM given by its configuration rather than a disk file (included
# from tests/Makefile.am): VMware .vmx, VirtualBox .vbox, an
# OVF with its disks beside it, and a Hyper-V
# checkpoint chain given by its newest .avhdx.

TESTS += \
	test-vmx.sh \
	test-vbox.sh \
	test-ovf-folder.sh \
	test-avhdx.sh \
	test-vm-ssh.sh \
	$(NULL)
