#!/usr/bin/env bash
# Real OVAs (VMware ovftool, from VirtualBox's test suite; see
# ../shared/corpus/SOURCES.md): old GNU and POSIX tar, plain and gzip'd
# streamOptimized disks, SHA-1 and SHA-256 manifests, a .cert member.
# Each disk must read to its recorded digest, or (the 40-64 GiB ones,
# whose digests take minutes) compare equal to qemu-img's decoding of
# the extracted disk; XDISK_SLOW=1 checks their digests too.
source "$srcdir/functions.sh"
set -e -x

requires_plugin vmdkx
requires_plugin diskx
requires qemu-img --version
requires nbdcopy --version
requires xz --version
requires jq --version
requires_corpus ova
make_tmpdir

ova ()
{
  xz -dc "$XDISK_SHARED/corpus/ova/tdAppliance1-$1.ova.xz" > "$tmp/$1.ova"
  echo "$tmp/$1.ova"
}

# No disk at all.
expect_open_error vmdkx "$(ova t1)" 'lists no disk'

t=$(ova t2)
test "$(served_sha256 vmdkx "$t" verify=true)" = a7c744c13cc101ed66c29f672f92455547889cc586ce6d44fe76ae824958ea51
t=$(ova t3)
test "$(served_sha256 vmdkx "$t" verify=true)" = 49bc20df15e412a64472421e13fe86ff1c5165e18b2afccf160d4dc19fe68a14
t=$(ova t7-bad-instance)
test "$(served_sha256 diskx "$t" verify=true)" = a7c744c13cc101ed66c29f672f92455547889cc586ce6d44fe76ae824958ea51

# Big sparse disks: compared with qemu-img's decoding of the member
# extracted and gunzipped: the same ranges read as zeros (merged maps),
# and the data ranges hold the same bytes.
big ()
{
  local name=$1 disk=$2 member=$3 digest=$4 start length zero
  t=$(ova $name)
  tar -xOf "$t" "$member" | gzip -dc > "$tmp/inner.vmdk"
  qemu-img map -f vmdk --output=json "$tmp/inner.vmdk" |
    jq -r "$_merge_map" > "$tmp/map.qemu"
  nbdkit -U - -r "$(plugin vmdkx)" file="$t" disk=$disk verify=true \
    --run 'qemu-img map -f raw --output=json "$uri"' |
    jq -r "$_merge_map" > "$tmp/map.plugin"
  diff -u "$tmp/map.qemu" "$tmp/map.plugin"
  qemu-img convert -f vmdk -O raw "$tmp/inner.vmdk" "$tmp/inner.raw"
  nbdkit -U - -r "$(plugin vmdkx)" file="$t" disk=$disk \
    --run "nbdcopy --synchronous \"\$uri\" $tmp/served.raw"
  while read start length zero; do
    [ "$zero" = false ] || continue
    cmp <(dd if="$tmp/inner.raw" iflag=skip_bytes,count_bytes skip=$start \
            count=$length status=none) \
        <(dd if="$tmp/served.raw" iflag=skip_bytes,count_bytes skip=$start \
            count=$length status=none)
  done < "$tmp/map.plugin"
  nbdkit -U - -r "$(plugin vmdkx)" file="$t" disk=$disk \
    --run 'nbdinfo "$uri"' | grep -E 'description: OVA appliance'
  if [ "${XDISK_SLOW-}" = 1 ]; then
    test "$(served_sha256 vmdkx "$t" disk=$disk)" = $digest
  fi
  rm -f "$tmp/inner.vmdk" "$tmp/inner.raw" "$tmp/served.raw"
}
big t6 0 tdAppliance1-t6-disk1.vmdk.gz 43ad95fcbd0c994125f25ea5e32fe8ec741a0c8bd3309e856d98c0ace276dd8a
big t4 0 tdAppliance1-t4-disk1.vmdk.gz 9cae5eb2ae940f35977d2b9a29905062bca387ac56b63f5e0c968f4da666acfb
big t4 1 tdAppliance1-t4-disk2.vmdk.gz 6cb118a8f8b3c19385874297e291dcbcdf3a9837ba1ca7b00ace2491adbff551
rm -f "$tmp"/*.ova
