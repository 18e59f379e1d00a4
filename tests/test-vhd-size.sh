#!/usr/bin/env bash
# The VHD size rule: creators 'vpc ' and 'qemu' -> the CHS geometry size;
# everyone else (Azure 'wa\0\0', Hyper-V 'win ', ...) -> the footer's
# current size; size=current|geometry overrides.
source "$srcdir/functions.sh"
set -e -x

requires_plugin vhdx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires jq --version
make_tmpdir
mkdiff=$top_builddir/tests/vhd-mkdiff
requires test -x "$mkdiff"

served_size ()
{
  nbdkit -U - -r "$(plugin vhdx)" file="$1" "${@:2}" \
    --run 'nbdinfo --size "$uri"'
}

for sub in dynamic fixed; do
  img=$tmp/$sub.vhd
  # 10000384 (a multiple of 512) is not CHS-exact: force_size keeps it
  # as the current size.
  qemu-img create -q -f vpc -o subformat=$sub,force_size=on "$img" 10000384
  qemu-io -f vpc -c 'write -P 0x77 0 1M' -c 'write -P 0x66 9000000 1000000' \
    "$img" >/dev/null
  footer=$(( $(stat -c %s "$img") - 512 ))
  current=$(od -An -tu8 --endian=big -j $(( footer + 48 )) -N8 "$img" |
              tr -d ' ')
  test "$current" -eq 10000384
  # qemu stores the largest CHS geometry for force_size=on; store one
  # smaller than the current size, as Virtual PC would: 300/4/16.
  "$mkdiff" poke "$img" $(( footer + 56 )) $(( (300 << 16) | (4 << 8) | 16 ))
  "$mkdiff" fix-footer "$img"
  geometry=$(( 300 * 4 * 16 * 512 ))

  # Reference: qemu's raw decoding (qemu serves the current size here).
  qemu-img convert -f vpc -O raw "$img" "$tmp/$sub.raw"
  test "$(stat -c %s "$tmp/$sub.raw")" -eq 10000384

  # Azure: the current size, whatever the geometry says.
  "$mkdiff" set-creator "$img" $'wa'
  test "$(served_size "$img")" -eq 10000384
  serve_to_raw vhdx "$img" "$tmp/served.raw"
  cmp "$tmp/served.raw" "$tmp/$sub.raw"
  test "$(served_size "$img" size=geometry)" -eq "$geometry"

  # Virtual PC: the CHS size.  Compare the common prefix.
  "$mkdiff" set-creator "$img" 'vpc '
  test "$(served_size "$img")" -eq "$geometry"
  test "$(served_size "$img" size=current)" -eq 10000384
  test "$(served_size "$img" size=auto)" -eq "$geometry"
  serve_to_raw vhdx "$img" "$tmp/served.raw"
  common=$(( geometry < 10000384 ? geometry : 10000384 ))
  cmp -n $common "$tmp/served.raw" "$tmp/$sub.raw"
  serve_to_raw vhdx "$img" "$tmp/served.raw" size=current
  cmp "$tmp/served.raw" "$tmp/$sub.raw"

  # Hyper-V: the current size.
  "$mkdiff" set-creator "$img" 'win '
  test "$(served_size "$img")" -eq 10000384

  # A bad value for size= is refused.
  expect_open_error vhdx "$img" 'size' size=bogus
done
