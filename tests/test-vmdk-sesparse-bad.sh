#!/usr/bin/env bash
# Bad seSparse extents, damaged by vmdk-mksesparse.py --corrupt: each is
# refused with one clear error naming the file and the field (when the
# extent is opened, or when the damaged grain is read), never a crash.
source "$srcdir/functions.sh"
source "$srcdir/vmdk-functions.sh"
set -e -x

requires_plugin vmdkx
requires python3 --version
requires nbdcopy --version
make_tmpdir
cd "$tmp"
gen="python3 $srcdir/vmdk-mksesparse.py"

# bad KIND: a snapshot damaged by KIND, in its own directory; prints
# its descriptor.
bad ()
{
  mkdir "$1"
  $gen --corrupt "$1" "$1/d.vmdk" "$1/d-sesparse.vmdk" "$1/exp.raw" \
    "$1/exp.map"
  echo "$1/d.vmdk"
}

open_error ()
{
  local kind=$1
  shift
  vmdk_expect_open_error "$(bad "$kind")" 'd-sesparse\.vmdk' "$@"
}

read_error ()
{
  local kind=$1
  shift
  vmdk_expect_read_error "$(bad "$kind")" 'd-sesparse\.vmdk' "$@"
}

open_error truncated-header 'truncated'
open_error version 'seSparse version 0x0000000200000002 is not supported'
open_error grain-size 'seSparse grain size 16 sectors is not supported'
open_error gt-size 'seSparse grain table size 128 sectors'
open_error flags 'seSparse flags 0x0000000000000001'
open_error reserved 'seSparse reserved field 3'
open_error padding 'seSparse constant header padding'
open_error volatile-magic 'seSparse volatile header magic'
open_error journal 'replayJournal'
open_error gd-beyond-file 'seSparse grain directory at sector [0-9]+ .* beyond the end'
open_error gd-too-small 'seSparse grain directory of 0 sectors is too small'
open_error areas-overlap 'seSparse grain directory .* overlaps the grain tables area'
open_error gd-entry-type 'grain directory entry 0 is 0x2000000000000000: not a grain table'
open_error gd-entry-index 'grain directory entry 0 names grain table [0-9]+, outside the grain tables area'
open_error gt-beyond-file 'seSparse grain table [0-9]+ \(grain directory entry 0\) at sector [0-9]+ is beyond the end of the file'
read_error gte-type 'grain table entry of grain [0-9]+ is 0x5000000000000000: unknown type 5'
read_error gte-unallocated-bits 'is 0x0000000000000100: unallocated, but with other bits set'
read_error grain-slot 'grain [0-9]+ \(entry 0x3[0-9a-f]+\) is grain [0-9]+ of the grains area, which holds'
read_error grain-beyond-file 'seSparse grain [0-9]+ at sector [0-9]+ is beyond the end of the file'

# A descriptor whose SESPARSE extent is not an seSparse file.
printf 'not a disk at all' > notse.vmdk
sed 's/"d-sesparse.vmdk"/"notse.vmdk"/' version/d.vmdk > notse-desc.vmdk
vmdk_expect_open_error notse-desc.vmdk 'notse\.vmdk'
