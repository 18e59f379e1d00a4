#!/usr/bin/env bash
# An OVF with its disks in separate files beside it (an unpacked OVA):
# an OVA of two streamOptimized VMDKs made by vmdkx create=true,
# unpacked with GNU tar into a folder, served from its .ovf by diskx,
# vmdkx and vhdx, locally and over plain HTTP (lighttpd on 127.0.0.1,
# ../shared/docs/remote-sources.md §3.1, §5.1).  Each disk export,
# named by its file (ovf:href), reads as qemu-img converts the unpacked
# disk file; nbdinfo --list shows both in DiskSection order; disk=
# picks the default export.  Refused: an href outside the folder, a
# chunked file, a disk= naming no disk.
source "$srcdir/functions.sh"
source "$srcdir/remote-functions.sh"
set -e -x -o pipefail

requires_plugin vmdkx
requires_plugin vhdx
requires_plugin diskx
requires tar --version
requires python3 --version
requires qemu-img --version
requires nbdcopy --version
requires nbdinfo --version
requires jq --version
make_tmpdir
cd "$tmp"
M=$(( 1 << 20 ))

# app.ova: two disks of seeded random bytes, unpacked into www/app/.
random_bytes 1 2M > d1.raw
random_bytes 2 1M > d2.raw
nbdkit -U - "$(plugin vmdkx)" file=app.ova create=true create-size=2M,1M \
  create-name=app \
  --run "nbdcopy d1.raw \"\$uri\" &&
         nbdcopy d2.raw \"nbd+unix:///app-disk2.vmdk?socket=\$unixsocket\""
mkdir -p www/app www/vhd
tar -C www/app -xf app.ova
test -f www/app/app.ovf
d1=app-disk1.vmdk
d2=app-disk2.vmdk

# The expectation: qemu-img's decoding of each unpacked disk file.
want1=$(qemu_sha256 "www/app/$d1" vmdk)
want2=$(qemu_sha256 "www/app/$d2" vmdk)
test "$want1" = "$(sha256sum < d1.raw | cut -d' ' -f1)"

# export_sha256 EXPORT PARAM...: the SHA-256 of export EXPORT ("" for
# the default) served with PARAM... (plugin first).
export_sha256 ()
{
  local e=$1
  shift
  nbdkit -U - -r "$@" --run "nbdcopy --synchronous \
    \"nbd+unix:///$e?socket=\$unixsocket\" - | sha256sum" | cut -d' ' -f1
}

# check_served PARAM...: both disks, by export name and by default.
check_served ()
{
  nbdkit -U - -r "$@" --run 'nbdinfo --list --json "$uri"' > list.json
  test "$(jq -r '[.exports[]["export-name"]] | join(",")' list.json)" = \
       "$d1,$d2"
  test "$(export_sha256 "$d1" "$@")" = "$want1"
  test "$(export_sha256 "$d2" "$@")" = "$want2"
  test "$(export_sha256 "" "$@")" = "$want1"
  test "$(export_sha256 "" "$@" disk=$d2)" = "$want2"
  test "$(export_sha256 "" "$@" disk=vmdisk1)" = "$want1"
}

for p in diskx vmdkx; do
  check_served "$(plugin $p)" file=www/app/app.ovf
done
# vmdkx's disks are not vhdx's: it names diskx.
expect_open_error vhdx www/app/app.ovf "a VMDK file: .*diskx serves"

# vhdx: the same descriptor naming a VHD and a VHDX that qemu-img made.
qemu-img convert -q -f raw -O vpc -o subformat=dynamic d1.raw www/vhd/d1.vhd
qemu-img convert -q -f raw -O vhdx d2.raw www/vhd/d2.vhdx
sed -e "s|\"$d1\"|\"d1.vhd\"|" -e "s|\"$d2\"|\"d2.vhdx\"|" \
  www/app/app.ovf > www/vhd/app.ovf
( d1=d1.vhd d2=d2.vhdx want1=$(qemu_sha256 www/vhd/d1.vhd vpc)
  want2=$(qemu_sha256 www/vhd/d2.vhdx vhdx)
  check_served "$(plugin vhdx)" file=www/vhd/app.ovf )

# disk=: no such disk lists the disks; another disk than the first
# by number is refused (the default export is the one named by file).
expect_open_error diskx www/app/app.ovf \
  "no such disk; the OVF holds: 0 \(vmdisk1, file $d1\), 1 \(vmdisk2, file $d2\)" \
  disk=9
expect_open_error diskx www/app/app.ovf "disk=1: .* disk=$d2" disk=1

# A chunked file is refused, an href outside the folder is confined.
sed 's/ovf:href="app-disk2.vmdk"/& ovf:chunkSize="1048576"/' \
  www/app/app.ovf > www/app/chunked.ovf
grep -q chunkSize www/app/chunked.ovf
expect_open_error diskx www/app/chunked.ovf "chunks \(ovf:chunkSize\)"
# (../../etc/passwd from www/app/ is $tmp/etc/passwd: made to exist, so
# that only the confinement refuses it.)
mkdir etc
echo 'root:x:0:0:root:/root:/bin/sh' > etc/passwd
sed "s|ovf:href=\"$d2\"|ovf:href=\"../../etc/passwd\"|" \
  www/app/app.ovf > www/app/escape.ovf
grep -q etc/passwd www/app/escape.ovf
expect_confined diskx www/app/escape.ovf ../../etc/passwd
refute_grep 'root:' "$tmp/err"

# Over HTTP: the .ovf's siblings fetched from beside it.
requires_remote_plugin diskx
requires lighttpd -v
requires curl --version
start_lighttpd "$tmp/www"
url=http://127.0.0.1:$http_port/app
for p in diskx vmdkx; do
  check_served "$(plugin $p)" url=$url/app.ovf
done
# The disks were read from the server (lighttpd writes its access log a
# moment later).
logged () { grep -q "$1" "$http_log"; }
wait_for 10 "the access log" logged "GET /app/$d2 "
expect_failure "$tmp/err" nbdkit -U - -r "$(plugin diskx)" \
  url=$url/escape.ovf --run true
grep -q 'etc/passwd' "$tmp/err"
refute_grep 'root:' "$tmp/err"
# Once the log shows escape.ovf's request, it must show none for the
# name it holds.
wait_for 10 "the access log" logged "GET /app/escape\.ovf "
refute_grep 'passwd' "$http_log"
