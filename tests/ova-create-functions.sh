# Helpers of the OVA creation tests (test-ova-create*.sh), sourced after
# functions.sh and "set -e -x": skips the test without what it needs,
# makes $tmp and goes there.  An OVA created by
#   nbdkit vmdkx file=NAME.ova create=true create-size=S1[,S2...] ...
# is checked by independent readers (ova_check): GNU tar and a header
# walk of our own (ova-create-check.py) for the archive, sha256sum or
# sha1sum for the manifest, xml.etree and tests/ovf-check.py for the
# descriptor, qemu-img for each disk, then xdisk reading it back and
# virt-v2v -i ova parsing it.

requires_plugin vmdkx
requires_plugin diskx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires nbdinfo --version
requires tar --version
requires python3 --version
requires jq --version
# (mkfs.ext4 is in /sbin, not in a Debian user's PATH.)
PATH=$PATH:/usr/sbin:/sbin
requires mkfs.ext4 -V
make_tmpdir
cd "$tmp"
so=$(plugin vmdkx)
check_py=$srcdir/ova-create-check.py
ovf_check_py=$srcdir/ovf-check.py
M=$(( 1 << 20 ))

# fs_disk FILE MIB DIR: a raw disk of MIB MiB holding an ext4
# filesystem (made as a normal user: mkfs.ext4 -d, no mount) of real
# files from DIR, the first in path order that fill 60% of it, with a
# fixed UUID, hash seed and time: the same bytes on every run of one
# machine.  (As bench/mkfsimg does, but copied with tar, which also
# works from another filesystem.)
fs_disk ()
{
  local file=$1 mib=$2 dir=$3 stage=$1.stage
  local uuid=5eed0000-0000-4000-8000-00000000b0b0
  rm -rf "$stage" "$file"
  mkdir "$stage"
  find "$dir" -type f -readable -printf '%s\t%P\n' 2> /dev/null |
    LC_ALL=C sort -t "$(printf '\t')" -k 2 |
    awk -F '\t' -v budget=$(( mib * M * 6 / 10 )) '
      { b = int (($1 + 4095) / 4096) * 4096
        if (t + b <= budget) { t += b; print $2 } }' > "$stage.list"
  test -s "$stage.list"
  tar -C "$dir" -cf - --no-recursion -T "$stage.list" | tar -C "$stage" -xf -
  truncate -s ${mib}M "$file"
  E2FSPROGS_FAKE_TIME=1700000000 mkfs.ext4 -q -F -b 4096 -m 0 -U $uuid \
    -E hash_seed=$uuid,root_owner=0:0 \
    -N $(( $(find "$stage" | wc -l) + 1024 )) -d "$stage" "$file"
  rm -rf "$stage" "$stage.list"
  test "$(stat -c %s "$file")" -eq $(( mib * M ))
}

# The guest files of the disks: the host's libraries, then its shared
# data (different bytes in each disk, so that swapped disks show).
libdir=/usr/lib
for d in /usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null) \
         /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu; do
  if [ -d "$d" ]; then libdir=$d; break; fi
done

# ova_create OVA CMD PARAM...: create OVA with create=true PARAM...,
# run CMD (with $uri, $unixsocket) against it.
ova_create ()
{
  local ova=$1 cmd=$2
  shift 2
  nbdkit -U - "$so" file="$ova" create=true "$@" --run "$cmd"
}

# disk_uri EXPORT: the URI of export EXPORT, for a --run command (it
# expands $unixsocket there).
disk_uri ()
{
  echo "nbd+unix:///$1?socket=\$unixsocket"
}

# ova_check OVA NAME MANIFEST FIRMWARE BUS "KEY=VALUE..." RAW...: OVA,
# made from the raw disks RAW... with create-manifest=MANIFEST, is
# complete and right.  NAME is the expected base name of its members.
# KEY=VALUE are the further expectations of ova-create-check.py ovf.
ova_check ()
{
  local ova=$1 name=$2 mf=$3 fw=$4 bus=$5 expect=$6 i n names=() sizes=
  shift 6
  local raws=("$@")
  n=${#raws[@]}
  rm -rf x
  mkdir x

  # The archive: member order, names and sizes as GNU tar lists them,
  # and the same from our header walk (ustar, flat names, padding, two
  # zero blocks at the end).
  names=("$name.ovf")
  [ "$mf" = none ] || names+=("$name.mf")
  for (( i = 1; i <= n; i++ )); do names+=("$name-disk$i.vmdk"); done
  tar tvf "$ova" > x.tv
  awk '{ print $6, $3 }' x.tv > x.tar-members
  python3 "$check_py" tar "$ova" > x.members
  cut -d' ' -f1,2 x.members | diff -u x.tar-members -
  printf '%s\n' "${names[@]}" | diff -u - <(cut -d' ' -f1 x.members)

  # Extracted by GNU tar, every member has the size listed.
  tar xf "$ova" -C x
  while read -r m size _; do
    test "$(stat -c %s "x/$m")" -eq "$size"
  done < x.members

  # The manifest: one line for the descriptor and each disk, exactly
  # ALG(name)= lowercase hex, digests of the extracted bytes.
  if [ "$mf" != none ]; then
    local alg=${mf^^} sum=${mf}sum hexlen=64
    [ "$mf" = sha1 ] && hexlen=40
    for m in "${names[@]}"; do
      [ "$m" = "$name.mf" ] && continue
      echo "$alg($m)= $($sum < "x/$m" | cut -d' ' -f1)"
    done | sort > x.mf.want
    test "$(wc -l < "x/$name.mf")" -eq $(( n + 1 ))
    grep -Evx "$alg\([A-Za-z0-9._-]+\)= [0-9a-f]{$hexlen}" "x/$name.mf" &&
      { echo "$0: a manifest line not in the exact form"; return 1; }
    sort "x/$name.mf" | diff -u x.mf.want -
    # The last line ends with a newline.
    test "$(tail -c1 "x/$name.mf" | od -An -c | tr -d ' ')" = '\n'
  fi

  # The descriptor: the checklist of appliance-targets.md section 7
  # (tests/ovf-check.py), then its records against the archive and the
  # create-* parameters.
  for (( i = 0; i < n; i++ )); do
    sizes+=${sizes:+,}$(stat -c %s "${raws[i]}")
  done
  local nics=1
  [[ " $expect " != *" nic=none "* ]] || nics=0
  ovf_check "x/$name.ovf" "$fw" "$sizes" $nics
  eval "python3 \"\$check_py\" ovf \"x/\$name.ovf\" x.members \
    sizes=$sizes firmware=$fw bus=$bus $expect"

  # Each disk: a streamOptimized VMDK as an OVA holds it, that qemu-img
  # checks and reads as its raw source.
  for (( i = 1; i <= n; i++ )); do
    local vmdk=x/$name-disk$i.vmdk raw=${raws[i - 1]}
    test "$(python3 "$check_py" vmdk "$vmdk")" -eq "$(stat -c %s "$raw")"
    qemu-img check -q -f vmdk "$vmdk"
    qemu-img compare -q -f vmdk -F raw "$vmdk" "$raw"
  done

  # xdisk reads the OVA back in place, by index and by name, checking
  # the manifest's digests when there is one.
  local verify=verify=true
  if [ "$mf" = none ]; then
    verify=
    expect_open_error vmdkx "$ova" 'no manifest' verify=true
  fi
  for (( i = 1; i <= n; i++ )); do
    rm -f x.back
    serve_to_raw vmdkx "$ova" x.back disk=$(( i - 1 )) $verify
    cmp "${raws[i - 1]}" x.back
  done
  rm -f x.back
  serve_to_raw diskx "$ova" x.back disk="$name-disk$n.vmdk" $verify
  cmp "${raws[n - 1]}" x.back
  rm -f x.back

  # virt-v2v names the source after the VirtualSystem's Name.
  local vm=$name kv
  eval "for kv in $expect; do [[ \$kv != name=* ]] || vm=\${kv#name=}; done"
  v2v_check "$ova" "$name" "$mf" "$n" "$vm"
}

# ovf_check OVF FIRMWARE SIZES NICS: tests/ovf-check.py, the independent
# checker of appliance-targets.md section 7, with the disks' sizes
# (bytes, comma-separated) and the number of NICs expected.
ovf_check ()
{
  python3 "$ovf_check_py" --disks "$(tr ',' '\n' <<< "$3" | wc -l)" \
    --firmware "$2" --capacity "$3" --nics "$4" "$1"
}

# v2v_env: virt-v2v refuses to start with less than 1 GiB free in its
# temporary directory (LIBGUESTFS_CACHEDIR, default /var/tmp), though -i
# ova with --print-source extracts only the descriptor and the manifest
# there: on a machine short of space, use /dev/shm when it has room.
v2v_env ()
{
  local dir
  for dir in "${LIBGUESTFS_CACHEDIR:-/var/tmp}" /dev/shm; do
    if [ -d "$dir" ] && [ -w "$dir" ] &&
       [ "$(df -P -k "$dir" | awk 'NR == 2 { print $4 }')" -gt 1100000 ]; then
      export LIBGUESTFS_CACHEDIR=$dir
      return 0
    fi
  done
  missing "1 GiB free in a temporary directory for virt-v2v"
  return 1
}

# v2v_check OVA NAME MANIFEST NR_DISKS VM: virt-v2v -i ova parses the OVA:
# lists it, checks every manifest line (the exact form: virt-v2v 2.2
# warns about any other and checks nothing for it), reads the OVF and
# finds every disk member.  --print-source stops before it opens the
# disks (inspection needs an OS the test disks do not hold), so no
# appliance is booted.  The source it prints must be the machine the
# create-* parameters described: the caller greps $tmp/v2v.out.
v2v_check ()
{
  local ova=$1 name=$2 mf=$3 n=$4 vm=$5 i m status=0
  if ! command -v virt-v2v > /dev/null; then
    missing "virt-v2v is not installed"
    return 0
  fi
  v2v_env || return 0
  LIBGUESTFS_BACKEND=direct virt-v2v -v -x -i ova "$ova" -o null \
    --print-source > v2v.out 2>&1 || status=$?
  grep -v '^libguestfs: trace' v2v.out || :
  if [ $status -ne 0 ]; then
    echo "$0: virt-v2v -i ova $ova failed (exit status $status)"
    return 1
  fi
  refute_grep 'unable to parse line|checksum|corrupt' v2v.out
  if [ "$mf" = none ]; then
    refute_grep 'processing manifest' v2v.out
  else
    grep -F "ova: processing manifest file" v2v.out | grep -F "/$name.mf"
    for m in "$name.ovf" $(for (( i = 1; i <= n; i++ )); do
                             echo "$name-disk$i.vmdk"; done); do
      grep -Fx "tar xOf '$ova' '$m' | ${mf}sum" v2v.out
    done
  fi
  for (( i = 1; i <= n; i++ )); do
    grep -Fx "ova: testing if $name-disk$i.vmdk exists in $ova" v2v.out
  done
  # It reads disk I in place, at the member's offset and size.
  for (( i = 1; i <= n; i++ )); do
    read -r _ size offset < <(grep "^$name-disk$i.vmdk " x.members)
    grep -F "\"offset\": $offset, \"size\": $size," v2v.out
  done
  grep -Fx "    source name: $vm" v2v.out
}

# ---- a creating server in the background, clients one command at a
# time (for what nbdkit --run cannot order) ----

# serve_bg OVA PARAM...: serve OVA being created on $tmp/sock; $srv is
# the background job, $srv_pid nbdkit's pid, its stderr in srv.err.
serve_bg ()
{
  local ova=$1
  shift
  rm -f sock srv.pid
  "${nbdkit_cmd[@]}" -f -U "$tmp/sock" -P "$tmp/srv.pid" "$so" \
    file="$ova" create=true "$@" 2> srv.err &
  srv=$!
  wait_for 60 "nbdkit to listen" _listening "$srv"
  srv_pid=$(cat srv.pid)
}
_listening ()
{
  [ -s srv.pid ] && [ -S sock ] && return 0
  _running "$1" || return 2
  return 1
}
# stop_bg: end the server with SIGTERM; it must exit by itself.
stop_bg ()
{
  local status=0
  kill -TERM "$srv_pid"
  wait "$srv" || status=$?
  cat srv.err
  check_not_crashed $status nbdkit srv.err
}

# client_open C EXPORT: a qemu-io connected to EXPORT, reading commands
# from C.fifo (the test holds it open), printing to C.out.
client_open ()
{
  local c=$1 fd
  rm -f "$c.fifo" "$c.out"
  mkfifo "$c.fifo"
  qemu-io -f raw "nbd+unix:///$2?socket=$tmp/sock" < "$c.fifo" \
    > "$c.out" 2>&1 &
  eval "${c}_pid=$!"
  exec {fd}> "$c.fifo"
  eval "${c}_fd=$fd"
}
# client_send C COMMAND: send the write COMMAND to C; client_wait C:
# wait for its result ("wrote ..." or "write failed: ...");
# client_do C COMMAND: both.
client_send ()
{
  local fd
  eval "fd=\$${1}_fd"
  eval "${1}_sent=\$(_results \"\$1.out\")"
  echo "$2" >&"$fd"
}
client_wait ()
{
  local pid n
  eval "pid=\$${1}_pid n=\$${1}_sent"
  wait_for 60 "$1: a result" _result_after "$1.out" "$n" "$pid"
}
client_do ()
{
  client_send "$1" "$2"
  client_wait "$1"
}
_results ()
{
  grep -Eo 'wrote [0-9]+/[0-9]+ bytes|write failed' "$1" | wc -l
}
_result_after ()
{
  [ "$(_results "$1")" -gt "$2" ] && return 0
  _running "$3" || return 2
  return 1
}
# client_close C: quit, and wait for qemu-io to exit.
client_close ()
{
  local c=$1 fd pid
  eval "fd=\$${c}_fd pid=\$${c}_pid"
  echo quit >&"$fd" || :
  exec {fd}>&-
  wait "$pid" || :
}

# True once GNU tar reads OVA whole (the archive is completed).
tar_ok ()
{
  tar tf "$1" > /dev/null 2>&1 || return 1      # (2 would stop wait_for)
}
