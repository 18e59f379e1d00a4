# VHD and VHDX tests (included from tests/Makefile.am).
