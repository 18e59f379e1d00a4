#!/usr/bin/env bash
# VM folders read where they live, on an ESXi datastore: vmdkx with
# url=http://.../folder/<vm>/<disk>?dcPath=ha-datacenter&dsName=<ds>
# against tests/esxi-server.py, an emulator of ESXi's /folder access
# (../shared/docs/remote-sources.md §1, §6.1).  Every disk (flat,
# twoGbMaxExtentSparse, a 3-deep hosted sparse chain, a seSparse delta
# over a flat base) must read byte for byte as qemu-img reads the same
# folder locally; the .vmx serves its disks by device key, and lists
# them as exports (the CD-ROM absent).  Basic authentication once, then
# the session cookie; the session expiring mid-copy (401 and 403),
# injected 503s and dropped connections still give the right bytes.
# The password and the cookie never show in nbdkit's -v output nor in
# the export description.  The VM's directory and the datastore's name
# need percent-encoding (space, +, #, %, & and non-ASCII), and the
# datastore's name is also accepted double-encoded, as virt-v2v sends
# it (§1.1).  Over TLS (§1.6): a self-signed certificate is refused by
# default, accepted with sslverify=false or its SHA-1 thumbprint pinned
# (thumbprint=, as VMware shows it), and a wrong thumbprint is refused.
source "$srcdir/functions.sh"
source "$srcdir/remote-functions.sh"
set -e -x -o pipefail

requires_remote_plugin vmdkx
requires python3 --version
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires nbdinfo --version
requires jq --version
requires curl --version
requires openssl version
make_tmpdir

ds_name='ds 1+&é'
vm_dir='my vm #1+%&é'
vm=$tmp/ds/$vm_dir
make_vmware_folder "$vm"
password='Pw-xd1sk-S3cret'
printf %s "$password" > "$tmp/pw"
creds_b64=$(printf %s "root:$password" | base64)
auth=(user=root "password=+$tmp/pw")

ds_q=$(urlencode "$ds_name" '')
vm_q=$(urlencode "$vm_dir")
# url NAME [DSNAME]: the /folder URL of NAME in the VM's directory.
scheme=http
url ()
{
  echo "$scheme://127.0.0.1:$esxi_port/folder/$vm_q/$1?dcPath=ha-datacenter&dsName=${2-$ds_q}"
}

# check NAME [PARAM...]: the disk NAME reads over url= as qemu-img reads
# the local copy.
check ()
{
  local name=$1 want got
  shift
  want=$(qemu_sha256 "$vm/$name" vmdk)
  got=$(remote_sha256 "$(plugin vmdkx)" url="$(url "$name")" "${auth[@]}" \
          "$@")
  if [ "$want" != "$got" ]; then
    echo "$0: $name: read $got over HTTP, qemu-img reads $want"
    return 1
  fi
}

# no_secrets FILE...: neither the password (plain or in a Basic header)
# nor any session cookie the server handed out shows in FILE...
no_secrets ()
{
  local c
  refute_grep "$password|$creds_b64" "$@"
  for c in $(awk '$1 == "SET-COOKIE" { print $2 }' "$tmp"/esxi.*/log); do
    refute_grep "$c" "$@"
  done
}

# ---- Every disk, byte for byte ------------------------------------------
start_esxi --datastore "$ds_name=$tmp/ds" --user root --password-file "$tmp/pw"
# The emulator itself: Basic is required, a wrong dsName is 404.
test "$(curl -s -o /dev/null -w '%{http_code}' -I "$(url flat.vmdk)")" = 401
test "$(curl -s -o /dev/null -w '%{http_code}' -I -u "root:$password" \
          "$(url flat.vmdk ds1)")" = 404

check flat.vmdk
check vm-000003.vmdk                    # 3-deep hosted sparse chain
check vm-000001.vmdk
check sesp-000001.vmdk                  # seSparse over flat
# The twoGbMaxExtentSparse disk is 2 GiB + 4 MiB, nearly all holes:
# copied sparsely to a file and compared by qemu-img with the local one.
nbdkit -U - -r "$(plugin vmdkx)" url="$(url big.vmdk)" "${auth[@]}" \
  --run "nbdcopy \"\$uri\" $tmp/big.raw"
qemu-img compare -q -f raw -F vmdk "$tmp/big.raw" "$vm/big.vmdk"
rm -f "$tmp/big.raw"

# The plugin logged in with Basic and then sent the cookie.
grep -q '^SET-COOKIE ' "$esxi_log"
grep -q '^COOKIE vmware_soap_session=' "$esxi_log"
# Siblings were asked for in the VM's directory (however the client
# encodes the path: the server decoded it to that directory), with the
# query kept.
grep -q "^REQ .* /folder/[^/ ]*/vm\\.vmdk?dcPath=ha-datacenter&dsName=$ds_q " \
  "$esxi_log"
grep -q "^REQ .* /folder/[^/ ]*/sesp-flat\\.vmdk?dcPath=ha-datacenter&dsName=$ds_q " \
  "$esxi_log"

# dsName double-encoded (virt-v2v since 2026) names the same datastore.
want=$(qemu_sha256 "$vm/flat.vmdk" vmdk)
got=$(remote_sha256 "$(plugin vmdkx)" \
        url="$(url flat.vmdk "$(urlencode "$ds_q" '')")" "${auth[@]}")
test "$want" = "$got"

# A wrong password is refused, saying so.
printf wrong > "$tmp/badpw"
expect_failure "$tmp/err" nbdkit -U - -r "$(plugin vmdkx)" \
  url="$(url flat.vmdk)" user=root "password=+$tmp/badpw" --run true
grep -Eqi '401|auth|password|credential' "$tmp/err"

# ---- The .vmx: its disks by device key ----------------------------------
vmx=(url="$(url vm.vmx)" "${auth[@]}")
test "$(remote_sha256 "$(plugin vmdkx)" "${vmx[@]}" disk=scsi0:0)" = \
     "$(qemu_sha256 "$vm/vm-000003.vmdk" vmdk)"
test "$(remote_sha256 "$(plugin vmdkx)" "${vmx[@]}" disk=scsi0:1)" = \
     "$(qemu_sha256 "$vm/flat.vmdk" vmdk)"
# No disk=: the first disk.
test "$(remote_sha256 "$(plugin vmdkx)" "${vmx[@]}")" = \
     "$(qemu_sha256 "$vm/vm-000003.vmdk" vmdk)"
# Each disk is an export named by its key; the CD-ROM is not a disk.
nbdkit -U - -r "$(plugin vmdkx)" "${vmx[@]}" \
  --run 'nbdinfo --list --json "$uri"' > "$tmp/list.json"
jq -r '.exports[]."export-name"' "$tmp/list.json" | sort > "$tmp/exports"
cat "$tmp/exports"
printf 'scsi0:0\nscsi0:1\n' | diff -u - "$tmp/exports"
nbdkit -U - -r "$(plugin vmdkx)" "${vmx[@]}" \
  --run 'nbdcopy --synchronous "nbd+unix:///scsi0:1?socket=$unixsocket" - |
         sha256sum' | cut -d' ' -f1 > "$tmp/export.sum"
test "$(cat "$tmp/export.sum")" = "$(qemu_sha256 "$vm/flat.vmdk" vmdk)"

# ---- Credentials never leak ---------------------------------------------
nbdkit -v -U - -r "$(plugin vmdkx)" "${vmx[@]}" disk=scsi0:0 \
  --run 'nbdinfo --json "$uri"; nbdcopy --synchronous "$uri" null:' \
  > "$tmp/info.json" 2> "$tmp/verbose.err"
jq -r '.exports[0].description // ""' "$tmp/info.json" > "$tmp/desc"
cat "$tmp/desc"
grep -q . "$tmp/verbose.err"
no_secrets "$tmp/verbose.err" "$tmp/info.json" "$tmp/desc"
stop_esxi

# ---- The session expires mid-copy ----------------------------------------
# After 5 requests with it, the cookie is answered 401 (ESXi), then 403
# (vCenter's variant): the plugin must log in again and carry on.
for status in 401 403; do
  start_esxi --datastore "$ds_name=$tmp/ds" --user root \
    --password-file "$tmp/pw" --expire-after 5 --expire-status $status
  check vm-000003.vmdk
  check flat.vmdk
  grep -q "^STATUS $status\$" "$esxi_log"
  test "$(grep -c '^SET-COOKIE ' "$esxi_log")" -gt 1
  stop_esxi
done

# ---- Injected 503s, dropped connections, a delay ------------------------
start_esxi --datastore "$ds_name=$tmp/ds" --user root \
  --password-file "$tmp/pw" --fail-every 7
check vm-000003.vmdk
check flat.vmdk
grep -q '^STATUS 503$' "$esxi_log"
stop_esxi

start_esxi --datastore "$ds_name=$tmp/ds" --user root \
  --password-file "$tmp/pw" --drop-every 9 --delay-ms 1
check vm-000003.vmdk
check flat.vmdk
grep -q '^DROP ' "$esxi_log"
stop_esxi

# ---- TLS ----------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=esxi.test \
  -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
thumbprint=$(openssl x509 -in "$tmp/cert.pem" -noout -fingerprint -sha1 |
               cut -d= -f2)
start_esxi --datastore "$ds_name=$tmp/ds" --user root \
  --password-file "$tmp/pw" --tls "$tmp/cert.pem" "$tmp/key.pem"
scheme=https
expect_failure "$tmp/err" nbdkit -U - -r "$(plugin vmdkx)" \
  url="$(url flat.vmdk)" "${auth[@]}" --run true
grep -Eqi 'certificate|ssl|tls|verif' "$tmp/err"
no_secrets "$tmp/err"
check flat.vmdk sslverify=false
check vm-000003.vmdk thumbprint="$thumbprint"
# A thumbprint that is not the server's: refused before any credential
# is sent (the server sees no request at all).
before=$(grep -c '^REQ ' "$esxi_log" || :)
expect_failure "$tmp/err" nbdkit -U - -r "$(plugin vmdkx)" \
  url="$(url flat.vmdk)" "${auth[@]}" \
  thumbprint="$(echo "$thumbprint" | tr '0-9A-F' '1-9A-F0')" --run true
test "$(grep -c '^REQ ' "$esxi_log" || :)" = "$before"
scheme=http
stop_esxi

# Nothing was asked for outside the datastore's VM folder.
refute_grep '^REQ .* /folder/[^m]' "$tmp"/esxi.*/log
