#!/usr/bin/env bash
# XVA exports read in place, from tests/xva-gen.py: SHA-1 and XXH64
# checksums, every tar form, missing (zero) chunks as holes, keep-alive
# empty chunk files, a zero tail, several disks chosen by number, name
# and UUID, a bad checksum with verify=true, a gzip'd XVA, a zstd one
# refused with a hint, and the hints of the other plugins.
source "$srcdir/functions.sh"
set -e -x

requires_plugin xvax
requires_plugin diskx
requires_plugin vmdkx
requires python3 --version
requires qemu-io --version
requires nbdcopy --version
requires nbdinfo --version
make_tmpdir
cd "$tmp"
gen="python3 $srcdir/xva-gen.py"

# Disk a: data, zero chunks, a chunk with a little data, a partial tail.
truncate -s 20M a.raw
qemu-io -f raw -c 'write -P 0x61 0 2M' -c 'write -P 0x62 7M 4k' \
  -c 'write -P 0x63 12M 1M' -c 'write -P 0x64 19M 1M' a.raw >/dev/null
# Disk b: 5 MiB and 4 KiB, not a whole number of chunks.
truncate -s 5246976 b.raw
qemu-io -f raw -c 'write -P 0x71 1M 1M' -c 'write -P 0x72 5M 4k' b.raw >/dev/null
# Disk c: data at the start only, virtual size 24 MiB (a zero tail).
truncate -s 24M c.raw
qemu-io -f raw -c 'write -P 0x41 0 1M' -c 'write -P 0x42 3M 1M' c.raw >/dev/null

sha () { sha256sum < "$1" | cut -d' ' -f1; }
disks="alpha:11111111-2222-3333-4444-555555555555:20971520:a.raw
  beta:66666666-7777-8888-9999-000000000000:5246976:b.raw"

check ()                        # XVA RAW [PARAMS...]
{
  local xva=$1 raw=$2 start length type rest
  shift 2
  test "$(served_sha256 xvax "$xva" "$@")" = "$(sha "$raw")"
  test "$(served_sha256 diskx "$xva" "$@")" = "$(sha "$raw")"
  # Holes and data: every chunk left out is a hole, all else data.
  nbdkit -U - -r "$(plugin xvax)" file="$xva" "$@" \
    --run 'nbdinfo --map "$uri"' > map
  cat map
  while read start length type rest; do
    if [ $type = 3 ]; then
      cmp <(dd if=$raw iflag=skip_bytes,count_bytes skip=$start \
              count=$length status=none) <(head -c $length /dev/zero)
    fi
  done < map
}

for sum in sha1 xxhash; do
  for form in ustar gnu pax; do
    $gen x.xva --checksum $sum --format $form $disks
    check x.xva a.raw verify=true
    check x.xva b.raw disk=1 verify=true
  done
done
# Missing chunks are holes: chunks 2-6, 8-11 and 13-18 of disk a.
nbdkit -U - -r "$(plugin xvax)" file=x.xva --run 'nbdinfo --map "$uri"' |
  grep -E '^ +2097152 +5242880 +3 +hole,zero'

# Disk choice by name and UUID, and the description.
check x.xva b.raw disk=beta
check x.xva b.raw disk=66666666-7777-8888-9999-000000000000
nbdkit -U - -r "$(plugin xvax)" file=x.xva disk=1 --run 'nbdinfo "$uri"' |
  grep -F 'description: XVA export of VM "test vm", disk "beta" (66666666-7777-8888-9999-000000000000), 5246976 bytes'
expect_open_error xvax x.xva 'disk=gamma: no such disk; the XVA holds: 0 \("alpha"' disk=gamma
expect_open_error xvax x.xva 'no such disk' disk=2

# Keep-alive chunk files shift the numbers after them.
$gen k.xva --keepalive 1 --keepalive 2 --keepalive 4 $disks
check k.xva a.raw verify=true
check k.xva b.raw disk=1 verify=true
$gen k.xva --checksum xxhash --keepalive 1 --keepalive 3 --all-chunks $disks
check k.xva a.raw verify=true
check k.xva b.raw disk=1

# An empty first chunk file (never written by xapi) is refused.
$gen k.xva --keepalive 0 $disks
expect_open_error xvax k.xva 'the first chunk file of the export is empty'

# A zero tail: the chunks after the data are not in the export.
$gen t.xva --no-tail "gamma:abcdef00-0000-0000-0000-000000000000:25165824:c.raw"
check t.xva c.raw
nbdkit -U - -r "$(plugin xvax)" file=t.xva --run 'nbdinfo --size "$uri"' |
  grep -x 25165824

# Indexed lazily (what a large export gets: only the first members at
# open, the rest as reads reach them), with parallel readers walking
# the headers, disk 1 behind all of disk 0's chunks, keep-alives and a
# zero tail.  The extents answer stops where the index stops; nbdinfo
# asks again.
export XDISK_XVA_EAGER_MEMBERS=1
$gen x.xva --checksum xxhash $disks
check x.xva a.raw verify=true
check x.xva b.raw disk=1 verify=true
check x.xva b.raw disk=beta
test "$(nbdkit -U - -r "$(plugin xvax)" file=x.xva verify=true \
          --run 'nbdcopy --connections=4 --threads=8 --request-size=65536 \
                   "$uri" - | sha256sum' | cut -d' ' -f1)" = "$(sha a.raw)"
$gen k.xva --keepalive 1 --keepalive 2 --keepalive 4 $disks
check k.xva a.raw verify=true
check k.xva b.raw disk=1 verify=true
check t.xva c.raw
expect_open_error xvax x.xva 'disk=gamma: no such disk; the XVA holds: 0 \("alpha".*1 \("beta"' disk=gamma
unset XDISK_XVA_EAGER_MEMBERS

# A bad checksum: the chunk fails with EIO under verify=true only.
# Not in the sanitizer build: there nbdkit 1.32 hangs at exit after a
# failed request (glibc's locale lock in p11-kit's destructor, see
# tests/functions.sh).
if [ -z "${XDISK_NBDKIT_PRELOAD-}" ]; then
  $gen bad.xva --bad-checksum 2 $disks
  check bad.xva a.raw
  if nbdkit -U - -r "$(plugin xvax)" file=bad.xva verify=true \
       --run 'nbdcopy --synchronous "$uri" out.raw' 2> err; then
    echo "a bad checksum was not detected"; exit 1
  fi
  cat err
  grep -E 'chunk 00000007 of disk Ref:10 fails its SHA-1 checksum' err
  # Reads elsewhere still work: the first MiB (nbdkit's offset filter
  # serves only that range).
  nbdkit -U - -r --filter=offset "$(plugin xvax)" file=bad.xva verify=true \
    range=1048576 --run 'nbdcopy --synchronous "$uri" first.raw'
  cmp first.raw <(head -c 1048576 a.raw)
  $gen bad.xva --checksum xxhash --bad-checksum 0 $disks
  if nbdkit -U - -r "$(plugin xvax)" file=bad.xva verify=true \
       --run 'nbdcopy --synchronous "$uri" out.raw' 2> err; then
    echo "a bad checksum was not detected"; exit 1
  fi
  grep 'fails its XXH64 checksum' err
fi

# A gzip'd XVA is served through the restart-point index.
$gen z.xva $disks
gzip -c z.xva > z.xva.gz
check z.xva.gz a.raw verify=true
check z.xva.gz b.raw disk=1
# zstd: refused with a hint.
printf '\x28\xb5\x2f\xfd0000000000' > z.xva.zst
expect_open_error xvax z.xva.zst 'zstd -d'

# Legacy exports: gzip'd chunks of 1e9 bytes.
$gen l.xva --legacy $disks
check l.xva a.raw
check l.xva b.raw disk=beta
nbdkit -U - -r "$(plugin xvax)" file=l.xva --run 'nbdinfo "$uri"' |
  grep "legacy gzip'd chunks"
truncate -s 1200000000 big.raw
printf 'start' | dd of=big.raw conv=notrunc status=none
printf 'across' | dd of=big.raw bs=1 seek=999999997 conv=notrunc status=none
printf 'end' | dd of=big.raw bs=1 seek=1199999997 conv=notrunc status=none
$gen l.xva --legacy "big:u:1200000000:big.raw"
check l.xva big.raw
rm -f l.xva big.raw

# Other plugins point at xvax.
expect_open_error vmdkx x.xva 'this is a XVA file, not VMDK: use the xvax plugin'
