#!/usr/bin/env bash
# The plugin's surface: --dump-plugin, the export description, block
# size, multi-conn, the bare "nbdkit vmdkx disk.vmdk" form, a relative
# file= with a daemonised server, unknown parameters, and the path
# policy for names stored in descriptors.
source "$srcdir/functions.sh"
source "$srcdir/vmdk-functions.sh"
set -e -x

requires_plugin vmdkx
requires qemu-img --version
requires qemu-io --version
requires nbdinfo --version
requires nbdcopy --version
requires jq --version
make_tmpdir
p=$(plugin vmdkx)

# --dump-plugin
nbdkit --dump-plugin "$p" > "$tmp/dump"
cat "$tmp/dump"
grep -q '^name=vmdkx$' "$tmp/dump"
grep -q '^vmdkx_version=' "$tmp/dump"
grep -q '^vmdkx_format=' "$tmp/dump"
grep -q '^thread_model=parallel$' "$tmp/dump"
grep -q '^has_extents=1$' "$tmp/dump"
grep -q '^has_block_size=1$' "$tmp/dump"
grep -q '^has_export_description=1$' "$tmp/dump"
# --help lists the parameters.
nbdkit "$p" --help > "$tmp/help"
grep -q 'allow-external-files' "$tmp/help"
grep -q 'ignore-parent-mismatch' "$tmp/help"

# nbdinfo: description (createType, adapter, size), preferred block =
# grain size (64 KiB here; 128 KiB with a hand-patched grain size).
mkdir "$tmp/d"
qemu-img create -q -f vmdk -o adapter_type=lsilogic "$tmp/d/disk.vmdk" 10M
vmdk_io "$tmp/d/disk.vmdk" 'write -P 0x42 0 1M'
nbdkit -U - -r "$p" file="$tmp/d/disk.vmdk" --run 'nbdinfo --json "$uri"' \
  > "$tmp/info.json"
cat "$tmp/info.json"
jq -e '.exports[0]."export-size" == 10485760' "$tmp/info.json"
jq -e '.exports[0]."block_size_preferred" == 65536' "$tmp/info.json"
jq -e '.exports[0]."can_multi_conn" == true' "$tmp/info.json"
jq -e '.exports[0]."is_read_only" == true' "$tmp/info.json"
jq -r '.exports[0].description' "$tmp/info.json" > "$tmp/desc"
grep -q 'monolithicSparse' "$tmp/desc"
grep -q 'lsilogic' "$tmp/desc"
grep -Eq '10 ?M|10485760' "$tmp/desc"

# nbdinfo --map: the written first MiB is data, the rest is a hole that
# reads as zeros (type 3 = hole|zero).
nbdkit -U - -r "$p" file="$tmp/d/disk.vmdk" --run 'nbdinfo --map --json "$uri"' \
  > "$tmp/map.json"
cat "$tmp/map.json"
jq -e '.[0].offset == 0 and .[0].length == 1048576 and .[0].type == 0' "$tmp/map.json"
jq -e '[.[1:][] | .type == 3] | all' "$tmp/map.json"
jq -e '.[-1].offset + .[-1].length == 10485760' "$tmp/map.json"

# Streams: the description names the createType.
qemu-img convert -f vmdk -O vmdk -o subformat=streamOptimized \
  "$tmp/d/disk.vmdk" "$tmp/d/stream.vmdk"
nbdkit -U - -r "$p" file="$tmp/d/stream.vmdk" --run 'nbdinfo --json "$uri"' |
  jq -e '(.exports[0].description | test("streamOptimized")) and
         .exports[0]."block_size_preferred" == 65536'

# A bigger grain (the grain size field patched from 128 to 256 sectors
# on a freshly created, empty image whose tables still fit).
qemu-img create -q -f vmdk "$tmp/d/g.vmdk" 10M
vmdk_patch "$tmp/d/g.vmdk" 20 "$(vmdk_le64 256)"
if nbdkit -U - -r "$p" file="$tmp/d/g.vmdk" --run 'nbdinfo --json "$uri"' \
     > "$tmp/g.json"; then
  jq -e '.exports[0]."block_size_preferred" == 131072' "$tmp/g.json"
fi

# The bare form: nbdkit PLUGIN disk.vmdk (magic config key).
nbdkit -U - -r "$p" "$tmp/d/disk.vmdk" \
  --run "qemu-img compare -q -f raw -F vmdk \"\$uri\" \"$tmp/d/disk.vmdk\""

# A relative file= path with a daemonised server started from another
# directory: the server chdirs to / when it forks.
(
  cd "$tmp/d"
  nbdkit -r -P "$tmp/pid" -U "$tmp/sock" "$p" file=disk.vmdk
)
# nbdkit's parent returns at the fork, before the child writes the pid file.
wait_for 60 "nbdkit's pid file" test -s "$tmp/pid"
pid=$(cat "$tmp/pid")
cleanup_fn kill "$pid"
nbdinfo --size "nbd+unix:///?socket=$tmp/sock" | grep -qx 10485760
nbdcopy "nbd+unix:///?socket=$tmp/sock" "$tmp/served.raw"
qemu-img compare -q -f vmdk -F raw "$tmp/d/disk.vmdk" "$tmp/served.raw"
# ... and a relative descriptor whose extents are relative names too.
qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse "$tmp/d/two.vmdk" 5M
vmdk_io "$tmp/d/two.vmdk" 'write -P 0x43 1M 1M'
(
  cd "$tmp/d"
  nbdkit -r -P "$tmp/pid2" -U "$tmp/sock2" "$p" file=two.vmdk
)
wait_for 60 "nbdkit's pid file" test -s "$tmp/pid2"
pid2=$(cat "$tmp/pid2")
cleanup_fn kill "$pid2"
rm -f "$tmp/served.raw"
nbdcopy "nbd+unix:///?socket=$tmp/sock2" "$tmp/served.raw"
qemu-img compare -q -f vmdk -F raw "$tmp/d/two.vmdk" "$tmp/served.raw"
kill "$pid" "$pid2"

# An unknown parameter is refused.
if nbdkit -U - -r "$p" file="$tmp/d/disk.vmdk" no-such-param=1 --run true \
     2> "$tmp/err"; then
  echo "$0: an unknown parameter was accepted"
  exit 1
fi
cat "$tmp/err"
grep -q 'no-such-param' "$tmp/err"
# A bad value for a boolean parameter is refused.
if nbdkit -U - -r "$p" file="$tmp/d/disk.vmdk" ignore-parent-mismatch=maybe \
     --run true 2> "$tmp/err"; then
  echo "$0: ignore-parent-mismatch=maybe was accepted"
  exit 1
fi
# No file at all.
if nbdkit -U - -r "$p" --run true 2> "$tmp/err"; then
  echo "$0: no file= was accepted"
  exit 1
fi

# The path policy: a descriptor naming /etc/passwd or ../x.
mkdir "$tmp/d/sub"
head -c 4096 /dev/zero > "$tmp/d/x.bin"
descriptor ()
{
  printf '# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n'
  printf 'createType="monolithicFlat"\n%s\n' "$1"
}
descriptor 'RW 1 FLAT "/etc/passwd" 0' > "$tmp/d/sub/passwd.vmdk"
vmdk_expect_open_error "$tmp/d/sub/passwd.vmdk" 'allow-external-files' \
  'passwd'
descriptor 'RW 8 FLAT "../x.bin" 0' > "$tmp/d/sub/up.vmdk"
vmdk_expect_open_error "$tmp/d/sub/up.vmdk" 'allow-external-files'
# ... allowed with allow-external-files=true (or the directory).
nbdkit -U - -r "$p" file="$tmp/d/sub/passwd.vmdk" allow-external-files=true \
  --run 'nbdcopy --synchronous "$uri" -' > "$tmp/passwd.raw"
cmp "$tmp/passwd.raw" <(head -c 512 /etc/passwd)
nbdkit -U - -r "$p" file="$tmp/d/sub/up.vmdk" allow-external-files=true \
  --run 'nbdcopy --synchronous "$uri" -' | cmp - "$tmp/d/x.bin"
nbdkit -U - -r "$p" file="$tmp/d/sub/up.vmdk" allow-external-files="$tmp/d" \
  --run 'nbdcopy --synchronous "$uri" -' | cmp - "$tmp/d/x.bin"
# A parent outside the image's directory is under the same policy.
qemu-img create -q -f vmdk "$tmp/d/base.vmdk" 1M
qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse \
  -b ../base.vmdk -F vmdk "$tmp/d/sub/child.vmdk"
vmdk_expect_open_error "$tmp/d/sub/child.vmdk" 'allow-external-files'
compare_with_qemu vmdkx "$tmp/d/sub/child.vmdk" vmdk allow-external-files=true

# The exported debug flag exists (nbdkit warns when it does not) and
# reading with it on still works.
nbdkit -f -v -D vmdkx.grains=1 -U - -r "$p" file="$tmp/d/disk.vmdk" \
  --run 'nbdcopy --synchronous "$uri" null:' 2> "$tmp/debug"
if grep -q 'does not contain a global variable' "$tmp/debug"; then
  echo "$0: vmdkx_debug_grains is not exported"
  exit 1
fi
