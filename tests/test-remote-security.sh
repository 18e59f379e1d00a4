#!/usr/bin/env bash
# What a remote image names, and what a remote server answers, is
# untrusted (../shared/docs/remote-sources.md §3.1, §5.2):
#  - a VMDK extent, a VMDK parentFileNameHint or a VHDX parent locator
#    naming ../../etc/passwd, /etc/passwd, another host, another scheme
#    or a percent-encoded escape is refused with an error naming it, and
#    never asked for;
#  - a server that lies (HEAD's size, a short 206, a 206 for another
#    range, a 200 that ignores Range, a 200 of the asked length from
#    offset 0) gives a clear error naming the file, never wrong data;
#  - a transport error fails only the reads that need the range, and a
#    server that always answers 503 fails a read within retry-seconds
#    (a generous bound, never a tight timing);
#  - the password, its Basic header and the session cookies never show
#    in nbdkit's -v output.
source "$srcdir/functions.sh"
source "$srcdir/remote-functions.sh"
set -e -x -o pipefail

requires_remote_plugin vmdkx
requires_remote_plugin vhdx
requires python3 --version
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
make_tmpdir
vhd_mkdiff=$top_builddir/tests/vhd-mkdiff
requires test -x "$vhd_mkdiff"
M=$(( 1 << 20 ))

vm=$tmp/ds/vm
mkdir -p "$vm"
password='Pw-s3curity-Tests'
printf %s "$password" > "$tmp/pw"
creds_b64=$(printf %s "root:$password" | base64)
auth=(user=root "password=+$tmp/pw")
url ()
{
  echo "http://127.0.0.1:$esxi_port/folder/vm/$1?dcPath=ha-datacenter&dsName=ds1"
}
# The -v output of every run goes to a new $tmp/verbose.N, checked for
# secrets at the end: next_verbose sets $vfile.
n=0
next_verbose () { n=$(( n + 1 )); vfile=$tmp/verbose.$n; }

# ---- The images ----------------------------------------------------------
( cd "$vm"
  random_bytes 30 2M > "$tmp/seed.raw"
  truncate -s 16M "$tmp/seed.raw"
  qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat \
    "$tmp/seed.raw" flat.vmdk
  qemu-io -f vmdk -c 'write -P 0x11 6M 1M' -c 'write -P 0x12 15M 1M' \
    flat.vmdk >/dev/null
  qemu-img convert -f vmdk -O raw flat.vmdk "$tmp/flat.raw"
  # A delta with a text descriptor whose parent hint can be edited.
  qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse \
    -b flat.vmdk -F vmdk delta.vmdk 16M
  grep -q '^parentFileNameHint="flat.vmdk"' delta.vmdk
  # A truncated flat extent, for the size lie.
  sed 's/"flat-flat.vmdk"/"short-flat.vmdk"/' flat.vmdk > short.vmdk
  head -c $(( 16 * M - 65536 )) flat-flat.vmdk > short-flat.vmdk
  # A VHDX child whose parent locator is edited below.
  qemu-img create -q -f vhdx base.vhdx 8M
)
rm -f "$tmp/seed.raw"

bad_names=(
  '../../etc/passwd'
  '/etc/passwd'
  'https://other.example/vm/flat-flat.vmdk'
  'file:///etc/passwd'
  '%2e%2e/%2e%2e/etc/passwd'
)
i=0
for name in "${bad_names[@]}"; do
  i=$(( i + 1 ))
  sed "s|\"flat-flat.vmdk\"|\"$name\"|" "$vm/flat.vmdk" > "$vm/extent$i.vmdk"
  grep -qF "\"$name\"" "$vm/extent$i.vmdk"
  sed "s|^parentFileNameHint=.*|parentFileNameHint=\"$name\"|" \
    "$vm/delta.vmdk" > "$vm/parent$i.vmdk"
  grep -qF "parentFileNameHint=\"$name\"" "$vm/parent$i.vmdk"
  "$vhd_mkdiff" vhdx "$vm/child$i.vhdx" "$vm/base.vhdx" --parent-name "$name"
done

# ---- Names that escape are refused, naming them ---------------------------
start_esxi --datastore "ds1=$tmp/ds" --user root --password-file "$tmp/pw"
# refused PLUGIN FILE NAME: opening FILE over url= fails naming NAME.
refused ()
{
  local p=$1 file=$2 name=$3
  expect_failure "$tmp/err" nbdkit -v -U - -r "$(plugin "$p")" \
    url="$(url "$file")" "${auth[@]}" --run true
  next_verbose
  cp "$tmp/err" "$vfile"
  if ! grep -qF -- "$name" "$tmp/err"; then
    echo "$0: $file: the error does not name $name"
    return 1
  fi
}
i=0
for name in "${bad_names[@]}"; do
  i=$(( i + 1 ))
  refused vmdkx "extent$i.vmdk" "$name"
  refused vmdkx "parent$i.vmdk" "$name"
done
# A VHDX locator holds the name as ".\NAME" and "C:\VMs\NAME"
# (vhd-mkdiff): the error names at least the path it escapes to.
refused vhdx child1.vhdx 'etc/passwd'
refused vhdx child5.vhdx '%2e%2e'

# Nothing outside the VM's folder was asked for.
refute_grep '/etc/|other\.example|%2e' "$esxi_log"
# The good images open (the refusals are not of everything).
want=$(sha256sum < "$tmp/flat.raw" | cut -d' ' -f1)
test "$(remote_sha256 "$(plugin vmdkx)" url="$(url flat.vmdk)" "${auth[@]}")" = "$want"
test "$(remote_sha256 "$(plugin vmdkx)" url="$(url delta.vmdk)" "${auth[@]}")" = "$want"
stop_esxi

# ---- Lying servers: an error naming the file, never wrong data -----------
# lied LIE FILE: reading all of FILE from a server telling LIE about
# its flat extent fails, and the error names the extent; and unless
# the lie is about the size, so does a read in the middle of the disk
# (0x11 at 6 MiB, not the end, where a clipped range could be what
# fails): it fails with EIO, never reads other bytes.
lied ()
{
  local lie=$1 file=$2 extent=${2%.vmdk}-flat.vmdk status=0
  start_esxi --datastore "ds1=$tmp/ds" --user root --password-file "$tmp/pw" \
    --lie "$lie" --lie-path "$extent"
  expect_failure "$tmp/err" nbdkit -v -U - -r "$(plugin vmdkx)" \
    url="$(url "$file")" "${auth[@]}" \
    --run "nbdcopy --synchronous \"\$uri\" $tmp/lied.raw"
  next_verbose
  cp "$tmp/err" "$vfile"
  grep -F -- "$extent" "$tmp/err" | grep -Eqi 'range|size|short|length|bytes|status'
  if [ "$lie" != size ]; then
    next_verbose
    nbdkit -v -U - -r "$(plugin vmdkx)" url="$(url "$file")" "${auth[@]}" \
      --run 'qemu-io -r -f raw -c "read -P 0x11 6M 64k" "$uri"' \
      > "$tmp/io.out" 2> "$vfile" || status=$?
    check_not_crashed $status nbdkit "$vfile"
    cat "$tmp/io.out"
    grep -q 'read failed: Input/output error' "$tmp/io.out" "$vfile"
    refute_grep '^read 65536/65536|verification failed' "$tmp/io.out"
  fi
  stop_esxi
}
# HEAD says the truncated extent is whole: its tail is not on the server.
lied size short.vmdk
lied short flat.vmdk
lied range flat.vmdk
lied ignore-range flat.vmdk
lied start0 flat.vmdk

# ---- A transport error fails only the reads that need the range ----------
# Every GET of flat-flat.vmdk overlapping 8 MiB - 9 MiB is dropped; the
# data around it (0x11 at 6 MiB, 0x12 at 15 MiB) still reads.
start_esxi --datastore "ds1=$tmp/ds" --user root --password-file "$tmp/pw" \
  --fault drop --fault-path flat-flat.vmdk --fault-range $(( 8 * M ))-$(( 9 * M - 1 ))
next_verbose
nbdkit -v -U - -r "$(plugin vmdkx)" url="$(url flat.vmdk)" "${auth[@]}" \
  retries=1 retry-seconds=5 \
  --run 'qemu-io -r -f raw -c "read -P 0x11 6M 1M" -c "read 8M 64k" \
           -c "read -P 0x12 15M 1M" "$uri"' > "$tmp/io.out" 2> "$vfile" ||
  status=$?
# qemu-io's status: one of its reads failed.
check_not_crashed "${status-0}" nbdkit "$vfile"
cat "$tmp/io.out"
test "$(grep -c '^read 1048576/1048576 bytes' "$tmp/io.out")" = 2
grep -q 'read failed: Input/output error' "$tmp/io.out" "$vfile"
refute_grep 'pattern verification failed' "$tmp/io.out"
stop_esxi

# ---- The retry budget is bounded in time ---------------------------------
# The same range answered 503 for ever: with retry-seconds=2 the read
# fails within those 2 s plus a generous slack, whatever the count.
start_esxi --datastore "ds1=$tmp/ds" --user root --password-file "$tmp/pw" \
  --fault 503 --fault-path flat-flat.vmdk --fault-range $(( 8 * M ))-$(( 9 * M - 1 ))
start=$SECONDS
next_verbose
nbdkit -v -U - -r "$(plugin vmdkx)" url="$(url flat.vmdk)" "${auth[@]}" \
  retries=100 retry-seconds=2 \
  --run 'qemu-io -r -f raw -c "read 8M 64k" -c "read -P 0x12 15M 1M" "$uri"' \
  > "$tmp/io.out" 2> "$vfile" || status=$?
check_not_crashed "${status-0}" nbdkit "$vfile"
elapsed=$(( SECONDS - start ))
cat "$tmp/io.out"
grep -q 'read failed: Input/output error' "$tmp/io.out" "$vfile"
grep -q '^read 1048576/1048576 bytes' "$tmp/io.out"
if [ $elapsed -gt $(( 2 + 60 * timeout_scale )) ]; then
  echo "$0: a read of a range answered 503 took $elapsed s (retry-seconds=2)"
  exit 1
fi
grep -q '^STATUS 503$' "$esxi_log"
stop_esxi

# ---- No secret in any -v output -------------------------------------------
ls "$tmp"/verbose.*
for c in $(awk '$1 == "SET-COOKIE" { print $2 }' "$tmp"/esxi.*/log); do
  refute_grep "$c" "$tmp"/verbose.*
done
refute_grep "$password|$creds_b64" "$tmp"/verbose.*
