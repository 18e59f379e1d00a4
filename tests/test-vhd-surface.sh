#!/usr/bin/env bash
# The plugin's surface: --dump-plugin, export description, preferred
# block size, multi-conn, and parallel nbdcopy compared with qemu-img.
source "$srcdir/functions.sh"
set -e -x

requires_plugin vhdx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires nbdinfo --version
requires jq --version
make_tmpdir

nbdkit "$(plugin vhdx)" --dump-plugin > "$tmp/dump"
cat "$tmp/dump"
grep -q '^name=vhdx$' "$tmp/dump"
grep -q '^thread_model=parallel$' "$tmp/dump"
grep -q '^has_extents=1$' "$tmp/dump"
grep -q '^has_can_multi_conn=1$' "$tmp/dump"
nbdkit "$(plugin vhdx)" --help | grep -q 'ignore-parent-mismatch'
nbdkit "$(plugin vhdx)" --help | grep -q 'size='

info ()
{
  nbdkit -U - -r "$(plugin vhdx)" file="$1" --run 'nbdinfo --json "$uri"' |
    jq '.exports[0]'
}

# VHDX dynamic, 8 MiB blocks.
qemu-img create -q -f vhdx -o block_size=8M "$tmp/d.vhdx" 100M
qemu-io -f vhdx -c 'write -P 0x5a 1M 3M' -c 'write -P 0x33 50M 20M' \
  "$tmp/d.vhdx" >/dev/null
info "$tmp/d.vhdx" > "$tmp/info.json"
cat "$tmp/info.json"
jq -e '.description | test("VHDX") and test("dynamic")
       and test("8 MiB")' "$tmp/info.json"
# Preferred request size: the block size, capped at 256K (common/glue.c).
jq -e '."block_size_preferred" == 262144' "$tmp/info.json"
jq -e '."can_multi_conn" == true' "$tmp/info.json"
jq -e '."is_read_only" == true' "$tmp/info.json"
jq -e '."export-size" == 104857600' "$tmp/info.json"

# VHD dynamic, 2 MiB blocks (qemu's default), and fixed.
qemu-img create -q -f vpc -o force_size=on "$tmp/d.vhd" 100M
qemu-io -f vpc -c 'write -P 0x5a 1M 3M' -c 'write -P 0x33 50M 20M' \
  "$tmp/d.vhd" >/dev/null
info "$tmp/d.vhd" > "$tmp/info.json"
cat "$tmp/info.json"
jq -e '.description | test("VHD") and test("dynamic")
       and test("2 MiB")' "$tmp/info.json"
jq -e '."block_size_preferred" == 262144' "$tmp/info.json"
qemu-img create -q -f vpc -o subformat=fixed,force_size=on "$tmp/f.vhd" 10M
info "$tmp/f.vhd" > "$tmp/info.json"
jq -e '.description | test("VHD") and test("fixed")' "$tmp/info.json"

# Parallel reads: nbdcopy with 4 connections and 64 requests in flight,
# compared with qemu-img's decoding.
for pair in "d.vhdx vhdx" "d.vhd vpc"; do
  set -- $pair
  qemu-img convert -f $2 -O raw "$tmp/$1" "$tmp/expect.raw"
  nbdkit -U - -r "$(plugin vhdx)" file="$tmp/$1" \
    --run "nbdcopy -C 4 --requests 64 \"\$uri\" \"$tmp/served.raw\""
  cmp "$tmp/served.raw" "$tmp/expect.raw"
  rm -f "$tmp/served.raw" "$tmp/expect.raw"
done
