#!/usr/bin/env bash
# What cannot be written or created, and how it is said:
# - streamOptimized, seSparse and COWD extents, RDONLY extents and raw
#   device maps are served read-only; a client that wants to write gets
#   the reason, and the image is untouched;
# - create over an existing file, sizes VMDK cannot hold, bad create-*
#   values: clear errors, no file left behind;
# - a full disk (ulimit -f, EFBIG) fails the writes with a clear error
#   and the image still opens and checks clean afterwards.
source "$srcdir/functions.sh"
source "$srcdir/vmdk-write-functions.sh"
set -e -x

requires_plugin vmdkx
requires qemu-img --version
requires qemu-io --version
requires test -x "$xdisk_check"
make_tmpdir

# refused_write IMG PATTERN: a write is refused naming the reason, the
# image is unchanged and still served.
refused_write ()
{
  local img=$1 pattern=$2 sum
  sum=$(cat "$img" | md5sum)
  if nbdkit -U - "$(plugin vmdkx)" file="$img" \
       --run 'qemu-io -f raw -c "write -P 1 0 512" "$uri"' \
       > "$tmp/out" 2> "$tmp/err"; then
    if ! grep -q 'Operation not permitted\|failed' "$tmp/out"; then
      echo "$0: writing to $img unexpectedly succeeded"
      cat "$tmp/out"
      return 1
    fi
  fi
  cat "$tmp/out" "$tmp/err"
  grep -Eq "serving read-only: .*($pattern)" "$tmp/err"
  [ "$(cat "$img" | md5sum)" = "$sum" ]
  nbdkit -U - "$(plugin vmdkx)" file="$img" --run 'nbdinfo "$uri"' |
    grep -q 'is_read_only: true'
}

vmdkw_make_raw "$tmp/in.raw" 2097152
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized "$tmp/in.raw" \
  "$tmp/s.vmdk"
refused_write "$tmp/s.vmdk" 'streamOptimized'

python3 "$srcdir/vmdk-mksesparse.py" "$tmp/se.vmdk" "$tmp/se-sesparse.vmdk" \
  "$tmp/se.raw" "$tmp/se.map"
refused_write "$tmp/se.vmdk" 'seSparse'

# A COWD (ESX redo log) extent: header, an empty grain directory.
python3 - "$tmp/cowd-delta.vmdk" <<'PY'
import struct, sys
h = struct.pack("<4sIIIIII", b"COWD", 1, 3, 4096, 128, 4, 1)
open(sys.argv[1], "wb").write(h.ljust(5 * 512, b"\0"))
PY
printf '%s\n' '# Disk DescriptorFile' 'version=1' 'CID=12345678' \
  'parentCID=ffffffff' 'createType="vmfsSparse"' \
  'RW 4096 VMFSSPARSE "cowd-delta.vmdk"' > "$tmp/cowd.vmdk"
refused_write "$tmp/cowd.vmdk" 'COWD'

# RDONLY extents and raw device maps.
truncate -s 1M "$tmp/ro-flat.vmdk"
printf '%s\n' '# Disk DescriptorFile' 'version=1' 'CID=12345678' \
  'parentCID=ffffffff' 'createType="monolithicFlat"' \
  'RDONLY 2048 FLAT "ro-flat.vmdk" 0' > "$tmp/ro.vmdk"
refused_write "$tmp/ro.vmdk" 'RDONLY'
printf '%s\n' '# Disk DescriptorFile' 'version=1' 'CID=12345678' \
  'parentCID=ffffffff' 'createType="vmfsRawDeviceMap"' \
  'RW 2048 VMFSRDM "ro-flat.vmdk"' > "$tmp/rdm.vmdk"
refused_write "$tmp/rdm.vmdk" 'raw device'

# create: an existing file is not overwritten.
echo precious > "$tmp/e.vmdk"
expect_open_error vmdkx "$tmp/e.vmdk" 'exists' create=true create-size=1M
grep -qx precious "$tmp/e.vmdk"

# Sizes and values VMDK cannot take; nothing is left behind.
bad_create ()                   # PATTERN PARAMS...
{
  local pattern=$1
  shift
  rm -f "$tmp"/n*.vmdk
  expect_open_error vmdkx "$tmp/n.vmdk" "$pattern" create=true "$@"
  [ -z "$(cd "$tmp" && ls n*.vmdk 2>/dev/null)" ]
}
bad_create 'larger than a monolithicSparse VMDK' create-size=3T
bad_create 'larger than a twoGbMaxExtentFlat VMDK' create-size=63T \
  create-type=split-flat
bad_create 'multiple of 512' create-size=1000
bad_create 'create-type=qcow: unknown' create-size=1M create-type=qcow
bad_create 'create-adapter-type=scsi: unknown' create-size=1M \
  create-adapter-type=scsi
bad_create 'create-hwversion=esx99: not a hardware version' create-size=1M \
  create-hwversion=esx99
# A split extent file in the way: refused, and what was made is removed.
touch "$tmp/n-s002.vmdk"
expect_open_error vmdkx "$tmp/n.vmdk" 'n-s002.vmdk' create=true \
  create-size=3G create-type=split-sparse
[ "$(cd "$tmp" && ls n*.vmdk)" = "n-s002.vmdk" ]
rm "$tmp/n-s002.vmdk"

# A full disk: the file may not grow past 3 MiB (EFBIG, as ENOSPC).
# Not in the sanitizer build: nbdkit 1.32 under ASan can hang at exit
# after a failed request (see functions.sh).
if [ -z "${XDISK_NBDKIT_PRELOAD-}" ]; then
  rm -f "$tmp/f.vmdk"
  qemu-img create -q -f vmdk "$tmp/f.vmdk" 8M
  # Every acknowledged MiB reads back; the image checks clean.
  write_past_full vmdkx "$tmp/f.vmdk" 3072 8
  grep -Eq 'f\.vmdk.*(too large|No space)' "$tmp/full.err"
  vmdkw_check "$tmp/f.vmdk"
fi
