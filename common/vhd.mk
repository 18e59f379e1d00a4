# VHD and VHDX parsing (included from common/Makefile.am).
