#!/usr/bin/env bash
# The worker image (contrib/container/Containerfile), built with podman
# from a base made of Debian packages, then run as it runs in a cluster:
# as its non-root user, with a read-only root filesystem, the source
# mounted read-only and only the target writable.  Each copy by
# xdisk-copy is compared byte for byte with an independent decoding:
#  - a VHDX differencing chain on a read-only mount (qemu-img decodes
#    the base; the child's writes are applied to that by qemu-io);
#  - a streamOptimized VMDK from lighttpd on the host (--network=host),
#    with --progress (qemu-img);
#  - a VMware datastore file behind a login, the credentials read from
#    files mounted like a Kubernetes Secret, never shown (qemu-img);
#  - the same VHDX chain over ssh://, the key and the known-hosts file
#    read from the Secret-like mount;
#  - the second disk of an OVA made by GNU tar, chosen by --disk
#    (qemu-img);
#  - an XVA made by tests/xva-gen.py (the raw disk it was made from);
# and the image itself: user, plugins loadable with HTTP and SSH
# support, nbdcopy, nbdinfo and qemu-img present; a damaged image fails
# with an error and exit status 1.
#
# In 'make check-container' (tests/run-container), not 'make check'.
source "$srcdir/functions.sh"
source "$srcdir/remote-functions.sh"
source "$srcdir/ssh-functions.sh"
source "$srcdir/ova-functions.sh"
source "$srcdir/container-functions.sh"
set -e -x -o pipefail

requires_podman
requires qemu-img --version
requires qemu-io --version
requires python3 --version
requires tar --version
requires_plugin vhdx
make_tmpdir
container_build

M=$(( 1 << 20 ))
in=$tmp/in out=$tmp/out secrets=$tmp/secrets
mkdir "$in" "$out" "$secrets"
# The container's user (uid 10001) writes only here.
chmod 0777 "$out"

# run_worker ARGS...: the image as a cluster runs it.
run_worker ()
{
  podman run --rm --read-only --network=host \
    --security-opt=no-new-privileges --cap-drop=all \
    -v "$in:/in:ro" -v "$out:/out" -v "$secrets:/run/secrets/xdisk:ro" \
    "$container_image" "$@"
}

# ---- The image ------------------------------------------------------------
test "$(run_worker id -u)" = 10001
test "$(run_worker id -g)" = 10001
run_worker sh -c 'touch /usr/local/bin/x' && false
run_worker nbdcopy --version
run_worker nbdinfo --version
run_worker qemu-img --version
for p in vmdkx vhdx vdix qcow2x xvax diskx; do
  run_worker nbdkit "$p" --dump-plugin > "$tmp/dump"
  grep -qx 'xdisk_libcurl=yes' "$tmp/dump"
  grep -qx 'xdisk_libssh=yes' "$tmp/dump"
done
for f in vmdkx vhdx diskx; do
  run_worker nbdkit --filter="$f" null --dump-plugin > /dev/null
done
run_worker xdisk-copy --help | grep -q '^Usage: xdisk-copy'
run_worker | grep -q '^Usage: xdisk-copy'

# ---- A VHDX differencing chain, mounted read-only -------------------------
random_bytes 101 6M > "$tmp/base.raw"
truncate -s 16M "$tmp/base.raw"
qemu-img convert -f raw -O vhdx -o subformat=dynamic "$tmp/base.raw" "$in/base.vhdx"
qemu-img convert -f vhdx -O raw "$in/base.vhdx" "$tmp/chain.raw"
nbdkit -U - "$(plugin vhdx)" file="$in/child.vhdx" create=true \
  create-parent="$in/base.vhdx" \
  --run 'qemu-io -f raw -c "write -P 0x5a 1M 1M" -c "write -P 0xa5 15M 4k" \
           -c "write -z 3M 1M" "$uri"' > /dev/null
qemu-io -f raw -c 'write -P 0x5a 1M 1M' -c 'write -P 0xa5 15M 4k' \
  -c 'write -z 3M 1M' "$tmp/chain.raw" > /dev/null
chmod -R a+rX "$in"
run_worker xdisk-copy /in/child.vhdx /out/chain.raw
cmp "$tmp/chain.raw" "$out/chain.raw"

# ---- The same chain over SSH, the key and host key from files ---------------
# sshd must run as root here, as in test-remote-ssh.sh: where it cannot,
# only this part is left out.
if [ "$(id -u)" = 0 ] && [ -x /usr/sbin/sshd ] && [ -d /run/sshd ]; then
  start_sshd
  cp "$ssh_identity" "$secrets/identity"
  cp "$ssh_known_hosts" "$secrets/known_hosts"
  chmod 0444 "$secrets/identity" "$secrets/known_hosts"
  run_worker xdisk-copy --identity /run/secrets/xdisk/identity \
    --known-hosts /run/secrets/xdisk/known_hosts \
    "ssh://root@127.0.0.1:$ssh_port$in/child.vhdx" /out/ssh.raw
  cmp "$tmp/chain.raw" "$out/ssh.raw"
  # An unknown host key is refused.
  : > "$secrets/no_known_hosts"
  chmod 0444 "$secrets/no_known_hosts"
  if run_worker xdisk-copy --identity /run/secrets/xdisk/identity \
       --known-hosts /run/secrets/xdisk/no_known_hosts \
       "ssh://root@127.0.0.1:$ssh_port$in/child.vhdx" /out/nokey.raw; then
    false
  fi
else
  echo "$0: the ssh:// part is left out: sshd cannot run here"
fi

# ---- A streamOptimized VMDK from a web server on the host ------------------
www=$tmp/www
mkdir "$www"
random_bytes 102 5M > "$tmp/so.raw"
truncate -s 40M "$tmp/so.raw"
qemu-io -f raw -c 'write -P 0x33 30M 2M' "$tmp/so.raw" > /dev/null
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized \
  "$tmp/so.raw" "$www/disk.vmdk"
qemu-img convert -f vmdk -O raw "$www/disk.vmdk" "$tmp/so.expected"
start_lighttpd "$www"
run_worker xdisk-copy --progress "http://127.0.0.1:$http_port/disk.vmdk" \
  /out/so.raw 2> "$tmp/so.err"
cat "$tmp/so.err"
cmp "$tmp/so.expected" "$out/so.raw"
# One line per step of 5% (the last one at 100%), then the summary.
grep -q '^xdisk-copy: progress 100% (40.00 MiB of 40.00 MiB, [0-9]* s)$' "$tmp/so.err"
grep -q '^xdisk-copy: copied http://127.0.0.1:[0-9]*/disk.vmdk to /out/so.raw' "$tmp/so.err"
# Into an existing, larger target file: truncated to the disk.
truncate -s 64M "$out/so.raw"
run_worker xdisk-copy "http://127.0.0.1:$http_port/disk.vmdk" /out/so.raw
cmp "$tmp/so.expected" "$out/so.raw"

# ---- A datastore file behind a login: credentials from files ---------------
password='Pw-c0ntainer-Test'
printf 'root\n' > "$secrets/user"
printf %s "$password" > "$secrets/password"
chmod 0444 "$secrets/user" "$secrets/password"
mkdir -p "$tmp/ds/vm"
cp "$www/disk.vmdk" "$tmp/ds/vm/disk.vmdk"
start_esxi --datastore "ds1=$tmp/ds" --user root --password-file "$secrets/password"
ds_url="http://127.0.0.1:$esxi_port/folder/vm/disk.vmdk?dcPath=ha-datacenter&dsName=ds1"
run_worker xdisk-copy --progress --user-file /run/secrets/xdisk/user \
  --password-file /run/secrets/xdisk/password "$ds_url" /out/ds.raw \
  2> "$tmp/ds.err"
cat "$tmp/ds.err"
cmp "$tmp/so.expected" "$out/ds.raw"
# No password on a command line or in what the worker printed.
refute_grep "$password" "$tmp/ds.err"
run_worker xdisk-copy --dry-run --user-file /run/secrets/xdisk/user \
  --password-file /run/secrets/xdisk/password "$ds_url" /out/x.raw > "$tmp/dry"
refute_grep "$password" "$tmp/dry"
grep -q 'password=+/run/secrets/xdisk/password' "$tmp/dry"
# A wrong password: a clear failure, no data.
printf wrong > "$secrets/bad"
chmod 0444 "$secrets/bad"
if run_worker xdisk-copy --user root --password-file /run/secrets/xdisk/bad \
     "$ds_url" /out/bad.raw 2> "$tmp/bad.err"; then
  false
else
  test $? = 1
fi
cat "$tmp/bad.err"
grep -q 'xdisk-copy: copying .* failed' "$tmp/bad.err"
stop_esxi

# ---- The second disk of an OVA, by --disk ------------------------------------
random_bytes 104 2M > "$tmp/ova1.raw"
random_bytes 105 3M > "$tmp/ova2.raw"
truncate -s 8M "$tmp/ova1.raw" "$tmp/ova2.raw"
( cd "$tmp"
  qemu-img convert -f raw -O vmdk -o subformat=streamOptimized ova1.raw one.vmdk
  qemu-img convert -f raw -O vmdk -o subformat=streamOptimized ova2.raw two.vmdk
  make_ovf app.ovf $(( 8 * M )) one.vmdk two.vmdk
  tar --format=ustar -cf "$in/app.ova" app.ovf one.vmdk two.vmdk )
chmod a+r "$in/app.ova"
run_worker xdisk-copy --disk two.vmdk /in/app.ova /out/two.raw
cmp "$tmp/ova2.raw" "$out/two.raw"
run_worker xdisk-copy /in/app.ova /out/one.raw
cmp "$tmp/ova1.raw" "$out/one.raw"

# ---- An XVA -----------------------------------------------------------------
random_bytes 103 3M > "$tmp/xva.raw"
truncate -s 12M "$tmp/xva.raw"
python3 "$srcdir/xva-gen.py" "$in/vm.xva" --checksum sha1 \
  "disk0:11111111-2222-3333-4444-555555555555:$(( 12 * M )):$tmp/xva.raw"
chmod a+r "$in/vm.xva"
run_worker xdisk-copy --param verify=true /in/vm.xva /out/xva.raw
cmp "$tmp/xva.raw" "$out/xva.raw"

# ---- A damaged image: exit status 1 and the plugin's error ------------------
head -c 100000 "$in/base.vhdx" > "$in/cut.vhdx"
chmod a+r "$in/cut.vhdx"
if run_worker xdisk-copy /in/cut.vhdx /out/cut.raw 2> "$tmp/cut.err"; then
  false
else
  test $? = 1
fi
cat "$tmp/cut.err"
grep -q 'cut.vhdx' "$tmp/cut.err"
grep -q 'xdisk-copy: copying /in/cut.vhdx failed' "$tmp/cut.err"
