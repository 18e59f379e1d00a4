#!/usr/bin/env bash
# Refused and warned-about qcow2 images: encryption, unknown
# incompatible feature bits (named from the feature name table), the
# corrupt bit (served, with a warning in the description), and headers
# and tables patched out of range, each refused with a message naming
# the field, or failing the read with EIO, never crashing.
source "$srcdir/functions.sh"
source "$srcdir/qcow2-functions.sh"
set -e -x

requires_plugin qcow2x
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires od --version
make_tmpdir
cd "$tmp"

# be64 FILE OFFSET: the big-endian 64-bit number at OFFSET.
be64 ()
{
  echo $(( 0x$(od -An -tx1 -j "$2" -N8 "$1" | tr -d ' \n') ))
}
# put_be32 / put_be64 FILE OFFSET VALUE
put_be ()
{
  local f=$1 off=$2 v=$3 n=$4 i s=
  for (( i = n - 1; i >= 0; i-- )); do
    s+=$(printf '\\x%02x' $(( (v >> (8 * i)) & 0xff )))
  done
  printf "$s" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}
put_be32 () { put_be "$1" "$2" "$3" 4; }
put_be64 () { put_be "$1" "$2" "$3" 8; }

# read_error IMG PATTERN: opening works, reading everything fails with
# an error matching PATTERN.
read_error ()
{
  expect_failure err nbdkit -U - -r "$(plugin qcow2x)" file="$1" \
    --run 'nbdcopy --synchronous "$uri" null:'
  grep -Eq -- "$2" err
}

fresh ()
{
  qemu-img create -q -f qcow2 "$@" t.qcow2 4M
  qcow2_io t.qcow2 'write -P 0x11 0 1M'
}

# Encryption: the header's crypt_method field (offset 32) set to AES
# (1) and LUKS (2).  Not made with qemu-img's LUKS: its key-derivation
# benchmark fails by chance on a loaded 2-CPU machine ("Unable to get
# accurate CPU usage"), and the refusal only reads this field.
fresh
put_be32 t.qcow2 32 1
expect_open_error qcow2x t.qcow2 'crypt_method 1, AES'
put_be32 t.qcow2 32 2
expect_open_error qcow2x t.qcow2 'crypt_method 2, LUKS'

# Unknown incompatible bits, unnamed and named.
fresh
put_be64 t.qcow2 72 $(( 1 << 40 ))
expect_open_error qcow2x t.qcow2 'incompatible features.*bit 40'
fresh
off=$(grep -obUa 'corrupt bit' t.qcow2 | head -1 | cut -d: -f1)
printf '\x07' | dd of=t.qcow2 bs=1 seek=$(( off - 1 )) conv=notrunc status=none
put_be64 t.qcow2 72 $(( 1 << 7 ))
expect_open_error qcow2x t.qcow2 'bit 7 \("corrupt bit"\)'

# The corrupt bit: served read-only with a warning.
fresh
put_be64 t.qcow2 72 2
compare_with_qemu qcow2x t.qcow2 qcow2
nbdkit -U - -r "$(plugin qcow2x)" file=t.qcow2 --run 'nbdinfo "$uri"' |
  grep 'description: WARNING: image marked corrupt'
nbdkit -fv -U - -r "$(plugin qcow2x)" file=t.qcow2 --run 'true' 2>&1 |
  grep 'WARNING: the image is marked corrupt'

# Header fields.
fresh; put_be32 t.qcow2 4 4
expect_open_error qcow2x t.qcow2 'version 4'
fresh; put_be32 t.qcow2 20 22
expect_open_error qcow2x t.qcow2 'cluster_bits 22'
fresh; put_be32 t.qcow2 100 100
expect_open_error qcow2x t.qcow2 'header_length 100'
fresh; put_be32 t.qcow2 96 7
expect_open_error qcow2x t.qcow2 'refcount_order 7'
fresh; put_be64 t.qcow2 24 $(( 1 << 62 + 1 ))
expect_open_error qcow2x t.qcow2 'L1 table has|virtual size'
fresh; truncate -s 4096 t.qcow2
expect_open_error qcow2x t.qcow2 'L1 table.*not inside the file'
fresh; truncate -s 50 t.qcow2
expect_open_error qcow2x t.qcow2 'too short|bad magic'

# The L1 table and an L2 table offset.
fresh
l1=$(be64 t.qcow2 40)
put_be64 t.qcow2 40 $(( l1 + 8 ))
expect_open_error qcow2x t.qcow2 'active L1 table offset.*not cluster-aligned'
fresh
l1=$(be64 t.qcow2 40)
put_be64 t.qcow2 $l1 $(( (1 << 63) | (1 << 40) ))
expect_open_error qcow2x t.qcow2 'L1 entry 0: L2 table offset.*beyond the end'
fresh
put_be64 t.qcow2 $l1 $(( (1 << 63) | 65536 + 512 ))
expect_open_error qcow2x t.qcow2 'L1 entry 0: L2 table offset.*not cluster-aligned'

# L2 entries: a data cluster beyond the end of the file, misaligned,
# a zero flag in a version 2 image, a compressed cluster beyond the
# end of the file, a subcluster both allocated and zero.
l2_of () { echo $(( $(be64 "$1" $(be64 "$1" 40)) & 0x00fffffffffffe00 )); }
fresh
put_be64 t.qcow2 $(l2_of t.qcow2) $(( (1 << 63) | (1 << 40) ))
read_error t.qcow2 'data cluster at host offset.*beyond the end'
fresh
l2=$(l2_of t.qcow2)
put_be64 t.qcow2 $l2 $(( $(be64 t.qcow2 $l2) + 4096 ))
read_error t.qcow2 'host offset.*not cluster-aligned'
fresh -o compat=0.10
l2=$(l2_of t.qcow2)
put_be64 t.qcow2 $l2 $(( $(be64 t.qcow2 $l2) | 1 ))
read_error t.qcow2 'zero cluster flag in a version 2 image'
qemu-img create -q -f raw src.raw 4M
qemu-io -f raw -c 'write -P 0x11 0 4M' src.raw >/dev/null
qemu-img convert -q -c -f raw -O qcow2 src.raw z.qcow2
l2=$(l2_of z.qcow2)
put_be64 z.qcow2 $l2 $(( (1 << 62) | (1 << 50) ))
read_error z.qcow2 'compressed cluster at host offset.*beyond the end'
qemu-img convert -q -c -f raw -O qcow2 src.raw z.qcow2
put_be64 z.qcow2 $l2 $(( $(be64 z.qcow2 $l2) + 3 ))
read_error z.qcow2 'compressed cluster at host offset.*does not inflate'
fresh -o extended_l2=on
l2=$(l2_of t.qcow2)
put_be64 t.qcow2 $(( l2 + 8 )) $(( 0x0000000100000001 ))
read_error t.qcow2 'subcluster 0 is both allocated and zero'

# Header extensions and the backing file name.
fresh
put_be32 t.qcow2 116 $(( 1 << 20 ))
expect_open_error qcow2x t.qcow2 'header extension.*beyond the end of the header area'
qemu-img create -q -f qcow2 base.qcow2 4M
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 t.qcow2
put_be32 t.qcow2 16 2000
expect_open_error qcow2x t.qcow2 'backing_file_size 2000'
qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 t.qcow2
put_be64 t.qcow2 8 65530
expect_open_error qcow2x t.qcow2 'backing file name.*not inside the first cluster'

# A data file bit without a data file name.
qemu-img create -q -f qcow2 -o data_file=d.raw t.qcow2 4M
off=$(grep -obUaP '\x44\x41\x54\x41' t.qcow2 | head -1 | cut -d: -f1)
put_be32 t.qcow2 $off $(( 0x7f000002 ))
expect_open_error qcow2x t.qcow2 'external data file but does not name it'

# The snapshot table.
fresh
qemu-img snapshot -c s1 t.qcow2
put_be64 t.qcow2 64 $(( 1 << 40 ))
expect_open_error qcow2x t.qcow2 'snapshots_offset.*beyond the end'
fresh
qemu-img snapshot -c s1 t.qcow2
put_be32 t.qcow2 60 65536
expect_open_error qcow2x t.qcow2 'snapshot table entry [0-9]+.*beyond the end'
fresh
qemu-img snapshot -c s1 t.qcow2
so=$(be64 t.qcow2 64)
put_be64 t.qcow2 $so $(( 1 << 40 ))
compare_with_qemu qcow2x t.qcow2 qcow2  # an unused snapshot is not checked
expect_open_error qcow2x t.qcow2 'L1 table of snapshot 1.*not inside' \
  snapshot=s1

# Damaged images never crash (mutations of a real image).
fresh
for seed in 1 2 3 4 5 6 7 8; do
  cp t.qcow2 m.qcow2
  for i in 1 2 3 4 5 6 7 8; do
    off=$(( (seed * 7919 * i) % 1024 ))
    printf "\\x$(printf %02x $(( (seed * 31 + i * 17) & 0xff )))" |
      dd of=m.qcow2 bs=1 seek=$off conv=notrunc status=none
  done
  status=0
  nbdkit -U - -r "$(plugin qcow2x)" file=m.qcow2 \
    --run 'nbdcopy --synchronous "$uri" null:' 2> err || status=$?
  check_not_crashed $status "serving mutant $seed" err
done
