# Helpers of the remote tests (test-remote-*.sh), sourced after
# functions.sh and make_tmpdir: the servers they read images from, all
# on 127.0.0.1 on ports chosen free at run time and stopped when the
# test exits, and the VM folders they serve.
#
#   start_esxi ARGS...      tests/esxi-server.py (an ESXi /folder
#                           emulator); sets esxi_port, esxi_log, esxi_pid
#   stop_esxi               stops it (to start another with other faults)
#   start_lighttpd DOCROOT [USER PASSWORD]
#                           lighttpd, with Basic auth if USER is given;
#                           sets http_port, http_log
#   make_vmware_folder DIR  a VM folder as ESXi keeps it (see below)
#   urlencode TEXT [SAFE]   TEXT percent-encoded, keeping SAFE (default /)

# Skip unless plugin P can read url= (built with libcurl).
requires_remote_plugin ()
{
  requires_plugin "$1"
  if nbdkit "$(plugin "$1")" --dump-plugin | grep -q '^xdisk_libcurl=no$'
  then
    missing "$1 was built without libcurl: no url="
    exit 77
  fi
}

urlencode ()
{
  python3 -c 'import sys, urllib.parse
print(urllib.parse.quote(sys.argv[1], safe=sys.argv[2]))' "$1" "${2-/}"
}

# A TCP port nobody listens on now (for servers that cannot bind port 0
# and report it, as lighttpd: its start is retried on a clash).
free_port ()
{
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# 0 once FILE is not empty, 2 if process PID has died (it never will
# be), else 1: for wait_for.
_file_or_death ()
{
  [ -s "$1" ] && return 0
  _running "$2" || return 2
  return 1
}

# Stop process PID if it still runs (a cleanup_fn command: the test may
# have stopped it already).
_stop_pid ()
{
  kill "$1" 2>/dev/null || :
}

_esxi_n=0
start_esxi ()
{
  local dir=$tmp/esxi.$(( ++_esxi_n ))
  mkdir "$dir"
  python3 "$srcdir/esxi-server.py" --port-file "$dir/port" \
    --log "$dir/log" "$@" 2> "$dir/stderr" &
  esxi_pid=$!
  cleanup_fn _stop_pid "$esxi_pid"
  if ! wait_for 30 "the ESXi emulator's port" \
       _file_or_death "$dir/port" "$esxi_pid"; then
    cat "$dir/stderr" >&2
    return 1
  fi
  esxi_port=$(cat "$dir/port")
  esxi_log=$dir/log
}

stop_esxi ()
{
  kill "$esxi_pid" 2>/dev/null || :
  wait "$esxi_pid" 2>/dev/null || :
}

# 0 once something answers HTTP on port $1, 2 if process $2 has died.
_http_up ()
{
  _running "$2" || return 2
  curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
  return 1
}

_lighttpd_n=0
start_lighttpd ()
{
  local root=$1 user=${2-} password=${3-} dir pid try
  requires lighttpd -v
  requires curl --version
  dir=$tmp/lighttpd.$(( ++_lighttpd_n ))
  mkdir "$dir"
  for try in 1 2 3 4 5; do
    http_port=$(free_port)
    {
      echo "server.document-root = \"$root\""
      echo "server.bind = \"127.0.0.1\""
      echo "server.port = $http_port"
      echo "server.errorlog = \"$dir/error.log\""
      echo "server.modules = (\"mod_accesslog\", \"mod_auth\", \"mod_authn_file\")"
      echo "accesslog.filename = \"$dir/access.log\""
      echo "mimetype.assign = (\"\" => \"application/octet-stream\")"
      if [ -n "$user" ]; then
        printf '%s:%s\n' "$user" "$password" > "$dir/users"
        echo "auth.backend = \"plain\""
        echo "auth.backend.plain.userfile = \"$dir/users\""
        echo "auth.require = (\"/\" => (\"method\" => \"basic\","
        echo "  \"realm\" => \"xdisk\", \"require\" => \"valid-user\"))"
      fi
    } > "$dir/conf"
    lighttpd -tt -f "$dir/conf" > "$dir/check" 2>&1 ||
      { cat "$dir/check"; missing "lighttpd cannot run here"; exit 77; }
    lighttpd -D -f "$dir/conf" 2>> "$dir/stderr" &
    pid=$!
    cleanup_fn _stop_pid "$pid"
    if wait_for 30 "lighttpd on port $http_port" _http_up "$http_port" "$pid"
    then
      http_log=$dir/access.log
      return 0
    fi
    # Another process took the port between free_port and the bind.
    kill "$pid" 2>/dev/null || :
    wait "$pid" 2>/dev/null || :
  done
  cat "$dir/stderr" >&2
  return 1
}

# The SHA-256 of the disk qemu-img reads from IMG (format FMT), a local
# file: what the remote reads must match.
qemu_sha256 ()
{
  qemu-img convert -f "$2" -O raw "$1" "$tmp/qemu.raw"
  sha256sum < "$tmp/qemu.raw" | cut -d' ' -f1
  rm -f "$tmp/qemu.raw"
}

# The SHA-256 of what nbdkit serves with ARGS... (plugin and params).
remote_sha256 ()
{
  nbdkit -U - -r "$@" --run 'nbdcopy --synchronous "$uri" - | sha256sum' |
    cut -d' ' -f1
}

# make_vmware_folder DIR: a VM folder as ESXi keeps it, made with
# qemu-img and tests/vmdk-mksesparse.py, disks of deterministic data
# (16 MiB unless said):
#   flat.vmdk + flat-flat.vmdk      monolithicFlat
#   big.vmdk + big-s00N.vmdk        twoGbMaxExtentSparse, 2 GiB + 4 MiB
#                                   (two extents), data on both sides of
#                                   the boundary and at the end
#   vm.vmdk <- vm-000001.vmdk <- vm-000002.vmdk <- vm-000003.vmdk
#                                   hosted sparse deltas (qemu-img -b)
#   sesp.vmdk + sesp-flat.vmdk <- sesp-000001.vmdk
#                                   a 64 MiB seSparse delta over a flat
#                                   base, as VMFS6 keeps a snapshot (one:
#                                   a second over it takes vmdk-mksesparse.py
#                                   15 s, and its scattered grains cost
#                                   thousands of range requests each)
#   vm.vmx                          scsi0:0 = vm-000003.vmdk,
#                                   scsi0:1 = flat.vmdk, and an ide1:0
#                                   CD-ROM
# Nothing else is in DIR: the expectations are computed by the tests.
make_vmware_folder ()
{
  local d=$1 gen="python3 $srcdir/vmdk-mksesparse.py" size=16M i
  mkdir -p "$d"
  ( cd "$d"
    random_bytes 20 4M > "$tmp/seed.raw"
    truncate -s $size "$tmp/seed.raw"

    qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat \
      "$tmp/seed.raw" flat.vmdk
    qemu-io -f vmdk -c 'write -P 0x11 6M 1M' -c 'write -P 0x12 15M 1M' \
      flat.vmdk >/dev/null

    qemu-img create -q -f vmdk -o subformat=twoGbMaxExtentSparse \
      big.vmdk $(( 2048 + 4 ))M
    qemu-io -f vmdk -c 'write -P 0x21 0 1M' \
      -c 'write -P 0x22 2047M 2M' -c 'write -P 0x23 2051M 1M' \
      big.vmdk >/dev/null

    qemu-img convert -f raw -O vmdk "$tmp/seed.raw" vm.vmdk
    qemu-io -f vmdk -c 'write -P 0x31 8M 2M' vm.vmdk >/dev/null
    for i in 1 2 3; do
      qemu-img create -q -f vmdk -b "$( [ $i = 1 ] && echo vm.vmdk ||
                                        echo vm-00000$(( i - 1 )).vmdk)" \
        -F vmdk vm-00000$i.vmdk $size
      qemu-io -f vmdk -c "write -P 0x4$i $(( i * 1024 * 1024 + i * 4096 )) 1M" \
        -c "write -P 0x5$i $(( 9 * 1024 * 1024 - i * 65536 )) 64k" \
        -c "write -z $(( 12 * 1024 * 1024 + i * 512 )) 4k" \
        vm-00000$i.vmdk >/dev/null
    done

    qemu-img create -q -f vmdk -o subformat=monolithicFlat sesp.vmdk 64M
    qemu-io -f vmdk -c 'write -P 0x61 0 3M' -c 'write -P 0x62 40M 1M' \
      sesp.vmdk >/dev/null
    qemu-img convert -f vmdk -O raw sesp.vmdk "$tmp/sesp.raw"
    _vmdk_map sesp.vmdk > "$tmp/sesp.map"
    $gen --seed 11 --parent sesp.vmdk \
      --parent-raw "$tmp/sesp.raw" --parent-map "$tmp/sesp.map" \
      sesp-000001.vmdk sesp-000001-sesparse.vmdk "$tmp/sesp1.raw" \
      "$tmp/sesp1.map"

    cat > vm.vmx <<'EOF'
.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "19"
displayName = "remote test VM"
guestOS = "other-64"
scsi0.present = "TRUE"
scsi0.virtualDev = "pvscsi"
scsi0:0.present = "TRUE"
scsi0:0.deviceType = "scsi-hardDisk"
scsi0:0.fileName = "vm-000003.vmdk"
scsi0:1.present = "TRUE"
scsi0:1.deviceType = "scsi-hardDisk"
scsi0:1.fileName = "flat.vmdk"
ide1:0.present = "TRUE"
ide1:0.deviceType = "cdrom-image"
ide1:0.fileName = "/vmfs/volumes/isos/install.iso"
EOF
  )
  rm -f "$tmp/seed.raw"
}

# The extents of a VMDK as qemu-img map reports them, as "start length
# type" lines for vmdk-mksesparse.py --parent-map (as in
# test-vmdk-sesparse.sh: zero runs type 3, the rest 0, neighbours of a
# type merged).
_vmdk_map ()
{
  qemu-img map -f vmdk --output=json "$1" |
    jq -r '.[] | "\(.start) \(.length) \(if .zero then 3 else 0 end)"' |
    awk '{ s = $1; l = $2; t = $3
           if (n && t == lt && ls + ll == s) { ll += l; next }
           if (n) print ls, ll, lt
           ls = s; ll = l; lt = t; n = 1 }
         END { if (n) print ls, ll, lt }'
}
