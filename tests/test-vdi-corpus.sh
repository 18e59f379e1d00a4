#!/usr/bin/env bash
# Real VDI images from ../shared/corpus/vdi (skips without it): made by
# VirtualBox (convertfromraw, versions up to 7: 400-byte 1.1 headers,
# 1 MiB alignment, a floppy-sized disk whose last block is partial, an
# empty 100000 MiB disk) and by qemu-img.  Served bytes are checked
# against the SHA-256 digests in SOURCES.md, and against qemu-img.
source "$srcdir/functions.sh"
set -e -x

requires_plugin vdix
requires qemu-img --version
requires nbdcopy --version
requires nbdinfo --version
requires xz --version
requires_corpus vdi
make_tmpdir

# REL SIZE DIGEST: served size and SHA-256 of corpus file REL.
check_digest ()
{
  local rel=$1 size=$2 digest=$3 img=$tmp/disk.vdi
  case "$rel" in
    *.xz) xz -dc "$XDISK_SHARED/corpus/$rel" > "$img" ;;
    *)    corpus_file "$rel" "$img" ;;
  esac
  test "$(nbdkit -U - -r "$(plugin vdix)" file="$img" \
            --run 'nbdinfo --size "$uri"')" -eq "$size"
  test "$(served_sha256 vdix "$img")" = "$digest"
  compare_with_qemu vdix "$img" vdi
  rm -f "$img"
}

check_digest vdi/qemu-basic.vdi.gz 10485760 \
  92d551781f9b62f3c8601ffd375cc7547efb1127e3cd2acc652f50f2d31afb8c
check_digest vdi/tritium-os/test.vdi.xz 1474560 \
  7addf94295c91a65df70ae0d330a4ffb044f4e94921f2042fee086947fcccdbd
check_digest vdi/hoho-os/hdd.vdi.xz 4194304 \
  fdb27bb2d5120841c835a3907499f83836fdd2ce507dc41d58fc7b04a06e605c
check_digest vdi/wheatos/disk.vdi.xz 1474560 \
  28a4c7ecc9496ff7bcf56d31859559d95fe35ff598aa54b90cca393ed6d65c3b

# The empty 100000 MiB disk: one hole, and its UUIDs in the description.
img=$tmp/empty.vdi
xz -dc "$XDISK_SHARED/corpus/vdi/grisunet-vagrant/disk.vdi.xz" > "$img"
nbdkit -U - -r "$(plugin vdix)" file="$img" \
  --run 'nbdinfo --map "$uri"; nbdinfo "$uri"' > "$tmp/out"
cat "$tmp/out"
grep -Eq '^ *0 +104857600000 +3 +hole,zero' "$tmp/out"
grep -q "UUID {84df7f6d-8784-4322-ae1d-45f3b83ae17c}" "$tmp/out"
grep -q "modification UUID {83bfc741-57b4-4511-86fd-5ac13307e7b5}" "$tmp/out"
