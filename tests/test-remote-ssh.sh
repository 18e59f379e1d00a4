#!/usr/bin/env bash
# Multi-file images served with url=ssh:// from an sshd on 127.0.0.1
# (issue 20): a 3-deep hosted sparse VMDK snapshot chain, a VHDX
# differencing chain and a qcow2 over a qcow2 backing file, each read
# byte for byte as qemu-img converts the local copy (sha256sum).  Then
# the refusals said at startup: an unknown host key (and
# verify-remote-host=false), a key the server does not take, a missing
# file; and nbdkit -v's output never holds the private key or the
# password.
source "$srcdir/functions.sh"
set -e -x

source "$srcdir/ssh-functions.sh"
requires_sshd
requires_plugin vmdkx
requires_plugin vhdx
requires_plugin qcow2x
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires sha256sum --version
mkdiff=$top_builddir/tests/vhd-mkdiff
requires test -x "$mkdiff"
make_tmpdir
start_sshd
M=$(( 1 << 20 ))

d=$tmp/vms
mkdir "$d"
base="ssh://root@127.0.0.1:$ssh_port$d"
keys=(known-hosts="$ssh_known_hosts" identity="$ssh_identity")

# serve PLUGIN ARGS... -- COMMAND: nbdkit -f on a socket of its own,
# COMMAND run with $uri, then nbdkit stopped (functions.sh), as the
# sanitizer build does.
serve ()
{
  local p=$1 args=()
  shift
  while [ "$1" != -- ]; do args+=("$1"); shift; done
  _nbdkit_serve_and_run "$2" -r "$(plugin "$p")" "${args[@]}"
}

# sha256 of what PLUGIN serves for url=URL ARGS...
served_sha ()
{
  local p=$1
  shift
  serve "$p" "$@" -- 'nbdcopy --synchronous "$uri" - | sha256sum'
}

# sha256 of qemu-img's decoding of the local IMG (format FMT).
qemu_sha ()
{
  qemu-img convert -f "$2" -O raw "$1" "$tmp/qemu.raw"
  sha256sum < "$tmp/qemu.raw"
  rm -f "$tmp/qemu.raw"
}

# write IMG FMT PATTERN OFFSET LENGTH (qemu-io)
write ()
{
  qemu-io -f "$2" -c "write -P $3 $4 $5" "$1" >/dev/null
}

# A VMDK snapshot chain as VMware Workstation keeps it: a hosted sparse
# base and two hosted sparse deltas, each writing over the one below.
cd "$d"
qemu-img create -q -f vmdk -o subformat=monolithicSparse "vm base.vmdk" 24M
write "vm base.vmdk" vmdk 0x11 0 $(( 5 * M ))
write "vm base.vmdk" vmdk 0x12 $(( 20 * M )) 65536
qemu-img create -q -f vmdk -b "vm base.vmdk" -F vmdk vm-000001.vmdk
write vm-000001.vmdk vmdk 0x21 $(( 1 * M + 512 )) 70000
write vm-000001.vmdk vmdk 0x22 $(( 10 * M )) $(( 2 * M ))
qemu-img create -q -f vmdk -b vm-000001.vmdk -F vmdk vm-000002.vmdk
write vm-000002.vmdk vmdk 0x31 $(( 4 * M )) $(( 3 * M ))
write vm-000002.vmdk vmdk 0x32 $(( 24 * M - 4096 )) 4096
want=$(qemu_sha vm-000002.vmdk vmdk)
[ "$(served_sha vmdkx url="$base/vm-000002.vmdk" "${keys[@]}")" = "$want" ]
# One connection: every read goes through the one session.
[ "$(served_sha vmdkx url="$base/vm-000002.vmdk" "${keys[@]}" \
       connections=1)" = "$want" ]

# A VHDX differencing chain (vhd-mkdiff), 3 deep.  qemu cannot read a
# differencing VHDX: the expectation is qemu's decoding of the base
# with the same writes applied by dd (vhd-functions.sh's put).
source "$srcdir/vhd-functions.sh"
qemu-img create -q -f vhdx -o block_size=1M base.vhdx 24M
write base.vhdx vhdx 0x41 0 $(( 3 * M ))
qemu-img convert -f vhdx -O raw base.vhdx "$tmp/vhdx.raw"
"$mkdiff" vhdx c1.vhdx base.vhdx --block-size 2M
put c1.vhdx "$tmp/vhdx.raw" $(( M + 1000 )) 70000 0x51
"$mkdiff" vhdx c2.vhdx c1.vhdx
put c2.vhdx "$tmp/vhdx.raw" $(( 5 * M )) $(( 3 * M )) 0x61
want=$(sha256sum < "$tmp/vhdx.raw")
[ "$(served_sha vhdx url="$base/c2.vhdx" "${keys[@]}")" = "$want" ]

# A qcow2 over a qcow2 backing file.
qemu-img create -q -f qcow2 backing.qcow2 16M
write backing.qcow2 qcow2 0x71 0 $(( 6 * M ))
qemu-img create -q -f qcow2 -b backing.qcow2 -F qcow2 top.qcow2
write top.qcow2 qcow2 0x72 $(( 3 * M )) $(( 5 * M ))
want=$(qemu_sha top.qcow2 qcow2)
[ "$(served_sha qcow2x url="$base/top.qcow2" "${keys[@]}")" = "$want" ]
cd "$tmp"

# fails LOG PLUGIN ARGS...: nbdkit refuses to start; its stderr in LOG.
fails ()
{
  local log=$1 p=$2
  shift 2
  if nbdkit -U - -r -v "$(plugin "$p")" "$@" --run true 2> "$log"; then
    cat "$log"
    return 1
  fi
  cat "$log"
}

# An unknown host key: refused, naming the host and the fingerprint.
# (The refusals are not run in the sanitizer build: nbdkit 1.32 hangs
# at exit there after an error, when the site is libssh's; see
# functions.sh.)
fp=$(ssh-keygen -l -E sha256 -f "$ssh_dir/host_key.pub" | cut -d' ' -f2)
if [ -z "${XDISK_NBDKIT_PRELOAD-}" ]; then
  fails "$tmp/err" qcow2x url="$base/top.qcow2" \
    known-hosts="$ssh_no_known_hosts" identity="$ssh_identity"
  grep -F "host key of 127.0.0.1 (ssh-ed25519 $fp) is not in the known hosts" \
    "$tmp/err"
fi
# ... served with verify-remote-host=false.
[ "$(served_sha qcow2x url="$base/top.qcow2" \
       known-hosts="$ssh_no_known_hosts" identity="$ssh_identity" \
       verify-remote-host=false)" = "$want" ]

# A key the server does not take, with a password (refused: root has
# none we know) that must not be printed, nor the keys' contents.
secret="xdisk-ssh-Secret-$$"
echo "$secret" > "$tmp/pw"
if [ -z "${XDISK_NBDKIT_PRELOAD-}" ]; then
  fails "$tmp/err" qcow2x url="$base/top.qcow2" known-hosts="$ssh_known_hosts" \
    identity="$ssh_wrong_identity" password=+"$tmp/pw"
  grep -F "the server refused user root" "$tmp/err"
  ! grep -F "$secret" "$tmp/err"
  for k in "$ssh_identity" "$ssh_wrong_identity"; do
    ! grep -F "$(sed -n 2p "$k")" "$tmp/err"
  done

  # A missing file: said with its URL.
  fails "$tmp/err" qcow2x url="$base/nosuch.qcow2" "${keys[@]}"
  grep -F "ssh://127.0.0.1:$ssh_port$d/nosuch.qcow2" "$tmp/err"
  grep -i "no such file" "$tmp/err"
fi

# A whole run with -v: neither key's contents nor the password.
serve vmdkx -v url="$base/vm-000002.vmdk" "${keys[@]}" password=+"$tmp/pw" \
  -- 'nbdcopy --synchronous "$uri" null:' 2> "$tmp/verbose"
grep -F "connected as root" "$tmp/verbose"
! grep -F "$secret" "$tmp/verbose"
for k in "$ssh_identity" "$ssh_wrong_identity"; do
  ! grep -F "$(sed -n 2p "$k")" "$tmp/verbose"
done
