#!/usr/bin/env bash
# Multi-file images read where they live on a plain web server
# (lighttpd on 127.0.0.1, ../shared/docs/remote-sources.md §3.1, §6.1),
# each compared with what is expected of the local copy:
#  - a Hyper-V checkpoint chain, disk.vhdx <- disk_1.avhdx <-
#    disk_2.avhdx, made with vhd-mkdiff (qemu cannot make or read
#    differencing VHDX): the expectation is qemu-img's decoding of the
#    base plus the same writes applied with dd;
#  - a VirtualBox machine folder, Machine.vbox with base.vdi and
#    Snapshots/{uuid}.vdi, made with vdi-mkdiff.py (same expectation),
#    given by its .vbox (the current state's disk);
#  - a qcow2 over a VMDK backing file: qemu-img's decoding;
#  - the same over Basic authentication (user=, password=+FILE).
# An OVF with separate disk files is tested in test-ovf-folder.sh.
source "$srcdir/functions.sh"
source "$srcdir/remote-functions.sh"
set -e -x -o pipefail

requires_remote_plugin vhdx
requires_remote_plugin vdix
requires_remote_plugin qcow2x
requires lighttpd -v
requires python3 --version
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires curl --version
make_tmpdir
vhd_mkdiff=$top_builddir/tests/vhd-mkdiff
requires test -x "$vhd_mkdiff"
M=$(( 1 << 20 ))
www=$tmp/www
mkdir -p "$www"

# vdi-functions.sh's put writes with $mkdiff, and vhd-mkdiff takes the
# same write command as vdi-mkdiff.py.
source "$srcdir/vdi-functions.sh"
vdi_mkdiff=$mkdiff
vhdx_put () { mkdiff=$vhd_mkdiff put "$@"; }
vdi_put () { put "$@"; }

# check PLUGIN RAW URL-PATH [PARAM...]: PLUGIN serves RAW's bytes for
# the file at URL-PATH on the web server.
check ()
{
  local p=$1 raw=$2 path=$3 want got
  shift 3
  want=$(sha256sum < "$raw" | cut -d' ' -f1)
  got=$(remote_sha256 "$(plugin "$p")" \
          url="http://127.0.0.1:$http_port/$path" "$@")
  if [ "$want" != "$got" ]; then
    echo "$0: $path: read $got over HTTP, expected $want"
    return 1
  fi
}

# ---- A Hyper-V checkpoint chain ------------------------------------------
h="$www/Hyper-V VM"
mkdir -p "$h"
qemu-img create -q -f vhdx -o block_size=1M "$h/disk.vhdx" 24M
qemu-io -f vhdx -c "write -P 0x11 0 $(( 3 * M ))" \
  -c "write -P 0x12 $(( 20 * M )) 8192" "$h/disk.vhdx" >/dev/null
qemu-img convert -f vhdx -O raw "$h/disk.vhdx" "$tmp/vhdx.raw"
"$vhd_mkdiff" vhdx "$h/disk_1.avhdx" "$h/disk.vhdx" --block-size 2M
vhdx_put "$h/disk_1.avhdx" "$tmp/vhdx.raw" 1000 700 0x21
vhdx_put "$h/disk_1.avhdx" "$tmp/vhdx.raw" $(( 4 * M - 512 )) 1024 0x22
"$vhd_mkdiff" vhdx "$h/disk_2.avhdx" "$h/disk_1.avhdx"
vhdx_put "$h/disk_2.avhdx" "$tmp/vhdx.raw" $(( 2 * M )) $(( 2 * M )) 0x31
vhdx_put "$h/disk_2.avhdx" "$tmp/vhdx.raw" $(( 21 * M + 3 )) 77 0x32

# ---- A VirtualBox machine folder -----------------------------------------
m="$www/VirtualBox VMs/Machine"
mkdir -p "$m/Snapshots"
vdi_size=$(( 8 * M ))
$vdi_mkdiff create "$tmp/base.vdi" $vdi_size
truncate -s $vdi_size "$tmp/vdi.raw"
vdi_put "$tmp/base.vdi" "$tmp/vdi.raw" 0 $(( 3 * M )) 0x10
$vdi_mkdiff create "$tmp/s1.vdi" $vdi_size --parent "$tmp/base.vdi"
vdi_put "$tmp/s1.vdi" "$tmp/vdi.raw" 1000 5000 0x21
$vdi_mkdiff create "$tmp/s2.vdi" $vdi_size --parent "$tmp/s1.vdi"
vdi_put "$tmp/s2.vdi" "$tmp/vdi.raw" $(( 2 * M - 7 )) 14 0x31
$vdi_mkdiff create "$tmp/s3.vdi" $vdi_size --parent "$tmp/s2.vdi"
vdi_put "$tmp/s3.vdi" "$tmp/vdi.raw" $(( 5 * M )) $(( M + 1 )) 0x41
cp "$tmp/base.vdi" "$m/base.vdi"
snaps=()
for i in s1 s2 s3; do
  snaps+=("$m/Snapshots/{$($vdi_mkdiff uuid "$tmp/$i.vdi")}.vdi")
  cp "$tmp/$i.vdi" "${snaps[-1]}"
done
# The .vbox: the chain's media registry (vdi-mkdiff.py) and the current
# state's controller with the newest snapshot attached.  Over HTTP no
# directory can be searched for a parent: the .vbox names them all.
$vdi_mkdiff vbox "$m/Machine.vbox" "$m/base.vdi" "${snaps[@]}"
python3 - "$m/Machine.vbox" "$($vdi_mkdiff uuid "$tmp/s3.vdi")" <<'PY'
import sys
path, top = sys.argv[1:]
text = open(path).read()
text = text.replace("    <Hardware/>", f"""    <Hardware/>
    <StorageControllers>
      <StorageController name="SATA" type="AHCI" PortCount="1">
        <AttachedDevice type="HardDisk" port="0" device="0">
          <Image uuid="{{{top}}}"/>
        </AttachedDevice>
      </StorageController>
    </StorageControllers>""")
open(path, "w").write(text)
PY
grep -q AttachedDevice "$m/Machine.vbox"

# ---- A qcow2 over a VMDK backing file ------------------------------------
q=$www/qcow2
mkdir -p "$q"
qemu-img create -q -f vmdk "$q/base.vmdk" 16M
qemu-io -f vmdk -c 'write -P 0x51 0 2M' -c 'write -P 0x52 9M 1M' \
  "$q/base.vmdk" >/dev/null
( cd "$q" && qemu-img create -q -f qcow2 -b base.vmdk -F vmdk top.qcow2 16M )
qemu-io -f qcow2 -c 'write -P 0x61 1M 2M' -c 'write -z 9M 64k' \
  "$q/top.qcow2" >/dev/null
qemu-img convert -f qcow2 -O raw "$q/top.qcow2" "$tmp/qcow2.raw"

# ---- Read over HTTP -------------------------------------------------------
start_lighttpd "$www"
check vhdx "$tmp/vhdx.raw" "$(urlencode "Hyper-V VM/disk_2.avhdx")"
check vdix "$tmp/vdi.raw" "$(urlencode "VirtualBox VMs/Machine/Machine.vbox")"
check qcow2x "$tmp/qcow2.raw" qcow2/top.qcow2
# The parents were read from the server, where the images name them
# (lighttpd writes its access log a moment later).
logged () { grep -q "$1" "$http_log"; }
wait_for 10 "the access log" logged 'GET /Hyper-V%20VM/disk\.vhdx '
wait_for 10 "the access log" logged 'GET /VirtualBox%20VMs/Machine/base\.vdi '
wait_for 10 "the access log" logged 'GET /qcow2/base\.vmdk '
cat "$http_log"

# ---- The same with Basic authentication ----------------------------------
password='Pw-lighttpd-7'
printf %s "$password" > "$tmp/pw"
start_lighttpd "$www" reader "$password"
test "$(curl -s -o /dev/null -w '%{http_code}' \
          "http://127.0.0.1:$http_port/qcow2/top.qcow2")" = 401
check qcow2x "$tmp/qcow2.raw" qcow2/top.qcow2 user=reader "password=+$tmp/pw"
nbdkit -v -U - -r "$(plugin qcow2x)" \
  url="http://127.0.0.1:$http_port/qcow2/top.qcow2" user=reader \
  "password=+$tmp/pw" --run 'nbdcopy --synchronous "$uri" null:' \
  2> "$tmp/verbose.err"
grep -q . "$tmp/verbose.err"
refute_grep "$password|$(printf %s "reader:$password" | base64)" \
  "$tmp/verbose.err"
check vhdx "$tmp/vhdx.raw" "$(urlencode "Hyper-V VM/disk_2.avhdx")" \
  user=reader "password=+$tmp/pw"
