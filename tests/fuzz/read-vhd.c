/* The vhdx read path, compiled into the make check fuzz drivers (it has
 * no nbdkit calls).  make fuzz compiles the file itself with clang.
 */
#include "../../plugins/vhdx/vhd-read.c"
