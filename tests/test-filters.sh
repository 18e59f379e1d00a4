#!/usr/bin/env bash
# Every format through its filter over nbdkit's file plugin, against the
# plugin's own output: the same bytes, the same extents, the same size
# and description.  Then with latency on every read (the delay filter)
# to exercise the pool of contexts below, a transport that fails in the
# middle (the error filter: EIO to the client, never wrong data), an
# image that names another file (refused, naming it), and the
# parameters a plugin below shares with the filter.
source "$srcdir/functions.sh"
source "$srcdir/filter-functions.sh"
set -e -x

for f in vmdkx vhdx vdix qcow2x diskx; do requires_filter $f; requires_plugin $f; done
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires nbdinfo --version
make_tmpdir

# Data that does not compress, so that compressed grains are real work
# and the images outgrow the filter's block cache; a zero run; holes.
raw=$tmp/disk.raw
truncate -s 40M "$raw"
random_bytes 1 6M | dd of="$raw" bs=1M seek=1 conv=notrunc status=none
qemu-io -f raw -c 'write -P 0x61 12M 2M' -c 'write -P 0 20M 1M' \
  -c 'write -P 0x63 39M 1M' "$raw" >/dev/null
want=$(sha256sum < "$raw" | cut -d' ' -f1)

declare -A own
make_image ()
{
  qemu-img convert -q -f raw -O "$3" ${4:+-o "$4"} "$raw" "$tmp/$1"
  own[$1]=$2
}
make_image sparse.vmdk vmdkx vmdk subformat=monolithicSparse
make_image stream.vmdk vmdkx vmdk subformat=streamOptimized
make_image dynamic.vhd vhdx vpc subformat=dynamic,force_size=on
make_image fixed.vhd vhdx vpc subformat=fixed,force_size=on
make_image dynamic.vhdx vhdx vhdx subformat=dynamic
make_image fixed.vhdx vhdx vhdx subformat=fixed
make_image dynamic.vdi vdix vdi
make_image static.vdi vdix vdi static=on
make_image plain.qcow2 qcow2x qcow2
make_image subclusters.qcow2 qcow2x qcow2 cluster_size=16384,extended_l2=on
qemu-img convert -q -c -f raw -O qcow2 "$raw" "$tmp/zlib.qcow2"
own[zlib.qcow2]=qcow2x

# Serve IMG through filter F over the file plugin; further --filter=
# options go in front of the plugin, parameters after it.
through_filter ()
{
  local f=$1 img=$2 a filters=() params=()
  shift 2
  for a in "$@"; do
    case "$a" in --filter=*) filters+=("$a") ;; *) params+=("$a") ;; esac
  done
  nbdkit -U - -r --filter="$(filter "$f")" "${filters[@]}" \
    file file="$img" "${params[@]}" --run "$run"
}
through_plugin ()
{
  local p=$1 img=$2
  shift 2
  nbdkit -U - -r "$(plugin "$p")" file="$img" "$@" --run "$run"
}

for name in "${!own[@]}"; do
  img=$tmp/$name
  for f in "${own[$name]}" diskx; do
    run='nbdcopy "$uri" - | sha256sum'
    test "$(through_filter $f "$img" | cut -d' ' -f1)" = "$want"
    run='nbdinfo --map "$uri"; nbdinfo "$uri" | grep -E "export-size|description"'
    through_filter $f "$img" > "$tmp/filter.out"
    through_plugin "${own[$name]}" "$img" > "$tmp/plugin.out"
    cat "$tmp/filter.out"
    cmp "$tmp/filter.out" "$tmp/plugin.out"
  done
done

# Latency on every read of the layer below, several client connections
# (nbdcopy uses multi-conn): the pool keeps reads in flight in parallel.
run='nbdcopy "$uri" - | sha256sum'
for name in stream.vmdk dynamic.vhdx; do
  got=$(through_filter diskx "$tmp/$name" --filter=delay rdelay=5ms \
          cache=1M | cut -d' ' -f1)
  test "$got" = "$want"
done

# A transport that fails: not in the sanitizer build, where nbdkit 1.32
# hangs in exit (p11-kit's destructor, glibc's locale lock) once an
# error message was printed with strerror, as the error filter's and the
# transports' are (see tests/functions.sh).
if [ -z "${XDISK_NBDKIT_PRELOAD-}" ]; then
  # A transport that starts failing after the image was opened: the client
  # gets EIO, never data.  cache=1M keeps the filter's own block cache
  # smaller than the image, so reads do reach the layer below.
  trigger=$tmp/fail-now
  run='nbdinfo --size "$uri" && touch '"$trigger"' &&
       { nbdcopy --synchronous "$uri" '"$tmp"'/out.raw 2> '"$tmp"'/copy.err;
         echo "copy exit $?"; }'
  for name in stream.vmdk sparse.vmdk dynamic.vhd; do
    rm -f "$trigger"
    through_filter diskx "$tmp/$name" --filter=error cache=1M \
      error-pread=EIO error-pread-rate=100% error-file="$trigger" \
      > "$tmp/err.out"
    cat "$tmp/err.out" "$tmp/copy.err"
    grep -q 'copy exit 1' "$tmp/err.out"
    grep -q 'Input/output error' "$tmp/copy.err"
  done
  rm -f "$trigger"

  # The layer below failing from the start: the connection is refused with
  # the transport's error, and the next connection tries again.
  touch "$trigger"
  run='nbdinfo --size "$uri"; rm '"$trigger"'; nbdinfo --size "$uri"'
  status=0
  through_filter vmdkx "$tmp/sparse.vmdk" --filter=error \
    error-pread=EIO error-pread-rate=100% error-file="$trigger" \
    > "$tmp/retry.out" 2> "$tmp/retry.err" || status=$?
  cat "$tmp/retry.out" "$tmp/retry.err"
  check_not_crashed $status "the retried connection" "$tmp/retry.err"
  grep -q 'Input/output error' "$tmp/retry.err"
  grep -qx 41943040 "$tmp/retry.out"
fi

# Names outside the stream: refused, naming the file and the plugin form.
qemu-img convert -q -f raw -O vmdk -o subformat=monolithicFlat "$raw" \
  "$tmp/flat.vmdk"
run='nbdinfo --size "$uri"'
if through_filter vmdkx "$tmp/flat.vmdk" 2> "$tmp/flat.err"; then
  echo "$0: a VMDK with an extent file was served through a filter"
  exit 1
fi
cat "$tmp/flat.err"
grep -q 'extent file "flat-flat.vmdk"' "$tmp/flat.err"
grep -q 'plugin form' "$tmp/flat.err"

# Another format's file: the hint names the filter that decodes it.
if through_filter vmdkx "$tmp/dynamic.vhdx" 2> "$tmp/hint.err"; then
  exit 1
fi
grep -q 'use the vhdx filter' "$tmp/hint.err"

# cache= not a size belongs to the file plugin; size= not a VHD size
# mode belongs to the plugin below (the memory plugin here).
run='nbdcopy "$uri" - | sha256sum'
test "$(through_filter vhdx "$tmp/fixed.vhd" cache=none | cut -d' ' -f1)" = \
  "$want"
# (Not in the sanitizer build: nbdkit 1.32's memory plugin leaks 24
# bytes at exit under LeakSanitizer with no filter at all.)
if [ -z "${XDISK_NBDKIT_PRELOAD-}" ]; then
  nbdkit -U - -r --filter="$(filter diskx)" memory size=1M \
    --run 'nbdinfo "$uri"' | grep -q 'export-size: 1048576'
fi
run='nbdinfo "$uri"'
through_filter vhdx "$tmp/fixed.vhd" size=geometry | grep -q 'export-size'

# Read-only whatever the layer below allows.
nbdkit -U - --filter="$(filter vmdkx)" file file="$tmp/sparse.vmdk" \
  --run 'nbdinfo --can write "$uri"' && exit 1
nbdkit "$(plugin vmdkx)" --dump-plugin >/dev/null
nbdkit --filter="$(filter diskx)" null --dump-plugin >/dev/null
