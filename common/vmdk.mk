# VMDK parsing (included from common/Makefile.am).
