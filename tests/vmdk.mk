# VMDK tests (included from tests/Makefile.am).
