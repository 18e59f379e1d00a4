#!/usr/bin/env bash
# Slow, by hand, not in CI or make check: a small bootable Debian guest
# (debootstrap bookworm minbase + kernel + grub-pc + a unit that prints
# a marker on ttyS0 and powers off) as a VMDK (qemu-img, streamOptimized),
# a VHDX (qemu-img) and a VHDX differencing child (written through the
# xdisk vhdx plugin over that VHDX, holding only the blocks in which a
# changed guest differs), each converted by contrib/v2v/xdisk-v2v with
# virt-v2v -o local, and each result booted with qemu-system-x86_64 on a
# serial console: the test waits for the marker (the child's own marker
# proves its blocks, not only its parent's, were converted).
#
# Run as root (debootstrap) from the tree, after tests/build:
#   tests/slow/test-v2v-boot.sh [BUILDDIR]      (BUILDDIR default: _build)
# Needs: debootstrap and a Debian mirror (XDISK_V2V_MIRROR, default
# http://deb.debian.org/debian), virt-v2v, guestfish (libguestfs-tools),
# a kernel in /boot for libguestfs (linux-image-amd64), qemu-system-x86,
# qemu-utils, nbdkit, nbdcopy, nbdinfo.  The debootstrapped tree is kept
# in XDISK_V2V_CACHE (default /var/tmp/xdisk-v2v-cache) for the next run.
# KVM is used where qemu's -cpu max starts under it; elsewhere (a nested
# KVM refusing an MSR, as on the machine this was written on, where
# -cpu qemu64 starts under KVM but the guest then spins without output)
# libguestfs is told force_tcg and the guests boot with TCG.
# Prints how long each step took; exit 0 when every guest booted.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
top_srcdir=$(cd "$here/.." && pwd)
top_builddir=$(cd "${1:-$top_srcdir/_build}" && pwd)
srcdir=$here
export top_srcdir top_builddir srcdir
source "$srcdir/functions.sh"
set -x

cache=${XDISK_V2V_CACHE:-/var/tmp/xdisk-v2v-cache}
mirror=${XDISK_V2V_MIRROR:-http://deb.debian.org/debian}
marker=XDISK-V2V-BOOTED

[ "$(id -u)" = 0 ] || skip_allowed "debootstrap needs root"
for t in debootstrap virt-v2v guestfish qemu-system-x86_64 qemu-img qemu-io \
         nbdkit nbdcopy nbdinfo; do
  requires command -v "$t"
done
requires test -f "$(plugin diskx)"
requires test -f "$(plugin vhdx)"
compgen -G '/boot/vmlinuz-*' >/dev/null ||
  skip_allowed "no kernel in /boot: libguestfs's supermin needs one (linux-image-amd64)"
make_tmpdir
export XDISK_PLUGIN LIBGUESTFS_BACKEND=direct
XDISK_PLUGIN=$(plugin diskx)

# step NAME COMMAND...: run COMMAND, note how long it took.
step ()
{
  local name=$1 start end status=0
  shift
  start=$(date +%s.%N)
  "$@" || status=$?
  end=$(date +%s.%N)
  printf '%-28s %7.1f s%s\n' "$name" "$(awk "BEGIN { print $end - $start }")" \
    "$([ $status = 0 ] || echo "  (failed: $status)")" >> "$tmp/times"
  return $status
}

# KVM: qemu's -cpu max (libguestfs's choice) must start, else force_tcg.
kvm_probe ()
{
  local out
  [ -w /dev/kvm ] || return 1
  out=$(echo '{"execute":"qmp_capabilities"}{"execute":"quit"}' |
    timeout 30 qemu-system-x86_64 -display none -nodefaults -machine accel=kvm \
      -cpu "$1" -qmp stdio 2>&1) || return 1
  grep -q '"return"' <<< "$out" && ! grep -qi 'error\|assert' <<< "$out"
}
if kvm_probe max; then
  boot_accel=(-machine accel=kvm -cpu max)
else
  export LIBGUESTFS_BACKEND_SETTINGS=force_tcg
  boot_accel=(-machine accel=tcg)
fi
echo "libguestfs: ${LIBGUESTFS_BACKEND_SETTINGS:-kvm}; boot: ${boot_accel[*]}"

# The guest's tree, debootstrapped once into the cache.
rootfs ()
{
  [ -s "$cache/bookworm-guest.tar" ] && return 0
  mkdir -p "$cache"
  rm -rf "$cache/root.tmp"
  debootstrap --variant=minbase \
    --include=linux-image-amd64,grub-pc,systemd-sysv,udev,initramfs-tools \
    bookworm "$cache/root.tmp" "$mirror"
  tar -C "$cache/root.tmp" -cf "$cache/bookworm-guest.tar.tmp" .
  mv "$cache/bookworm-guest.tar.tmp" "$cache/bookworm-guest.tar"
  rm -rf "$cache/root.tmp"
}

# overlay DIR WHAT: the guest's own files (fstab, grub, the marker unit,
# /etc/xdisk-marker holding WHAT) under DIR.
overlay ()
{
  local d=$1
  mkdir -p "$d/etc/default" "$d/etc/systemd/system/multi-user.target.wants" \
    "$d/usr/local/sbin"
  echo "LABEL=xdiskroot / ext4 errors=remount-ro 0 1" > "$d/etc/fstab"
  echo xdisk-guest > "$d/etc/hostname"
  printf '%s\n' 'GRUB_DEFAULT=0' 'GRUB_TIMEOUT=0' 'GRUB_DISTRIBUTOR=Debian' \
    'GRUB_CMDLINE_LINUX_DEFAULT=""' 'GRUB_CMDLINE_LINUX="console=ttyS0"' \
    'GRUB_TERMINAL=console' > "$d/etc/default/grub"
  printf '#!/bin/sh\necho "%s $(cat /etc/xdisk-marker)" > /dev/ttyS0\n' \
    "$marker" > "$d/usr/local/sbin/xdisk-marker"
  chmod 755 "$d/usr/local/sbin/xdisk-marker"
  cat > "$d/etc/systemd/system/xdisk-marker.service" <<EOF
[Unit]
Description=Print the xdisk marker on ttyS0 and power off

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/xdisk-marker
ExecStartPost=/bin/systemctl --no-block poweroff

[Install]
WantedBy=multi-user.target
EOF
  ln -sf ../xdisk-marker.service \
    "$d/etc/systemd/system/multi-user.target.wants/xdisk-marker.service"
  echo "$2" > "$d/etc/xdisk-marker"
}

# make_disk RAW: a 2 GiB raw disk, MBR, one ext4 partition holding the
# guest, grub-pc installed (by the guest's own grub-install, run by
# libguestfs).
make_disk ()
{
  local raw=$1
  rm -rf "$tmp/overlay"
  overlay "$tmp/overlay" base
  tar -C "$tmp/overlay" -cf "$tmp/overlay.tar" .
  truncate -s 2G "$raw"
  guestfish -a "$raw" <<EOF
run
part-init /dev/sda mbr
part-add /dev/sda p 2048 -1
part-set-bootable /dev/sda 1 true
mkfs ext4 /dev/sda1 label:xdiskroot
mount /dev/sda1 /
tar-in $cache/bookworm-guest.tar /
tar-in $tmp/overlay.tar /
command "grub-install --target=i386-pc /dev/sda"
command "update-grub"
EOF
}

# make_child: child.raw (the guest with /etc/xdisk-marker changed and a
# file added), and child.vhdx over disk.vhdx holding only the 64 KiB
# chunks in which child.raw differs from disk.raw; checked by reading it
# back through the vhdx plugin.
make_child ()
{
  cp --sparse=always "$tmp/disk.raw" "$tmp/child.raw"
  guestfish -a "$tmp/child.raw" -m /dev/sda1 <<EOF
write /etc/xdisk-marker "vhdx-child\n"
upload /usr/bin/qemu-img /usr/local/bin/qemu-img-copy
EOF
  python3 - "$tmp/disk.raw" "$tmp/child.raw" "$tmp/chunks" > "$tmp/ops" <<'EOF'
import os, sys
a, b, d = sys.argv[1:]
os.mkdir(d)
C = 65536
ranges = []
with open(a, "rb") as fa, open(b, "rb") as fb:
    off = 0
    while True:
        x, y = fa.read(C), fb.read(C)
        if not y:
            break
        if x != y:
            if ranges and ranges[-1][1] == off and ranges[-1][1] - ranges[-1][0] < 8 << 20:
                ranges[-1][1] = off + len(y)
            else:
                ranges.append([off, off + len(y)])
        off += len(y)
with open(b, "rb") as fb:
    for i, (s, e) in enumerate(ranges):
        fb.seek(s)
        with open("%s/%d" % (d, i), "wb") as f:
            f.write(fb.read(e - s))
        print("write -s %s/%d %d %d" % (d, i, s, e - s))
print("%d ranges, %d bytes" % (len(ranges), sum(e - s for s, e in ranges)), file=sys.stderr)
EOF
  local cmds=() line
  while read -r line; do cmds+=(-c "$line"); done < "$tmp/ops"
  nbdkit -U - "$(plugin vhdx)" file="$tmp/child.vhdx" create=true \
    create-parent="$tmp/disk.vhdx" \
    --run "qemu-io -f raw $(printf '%q ' "${cmds[@]}") \$uri" >/dev/null
  nbdkit -U - "$(plugin vhdx)" file="$tmp/child.vhdx" \
    --run "nbdcopy \$uri '$tmp/child-back.raw'"
  cmp "$tmp/child.raw" "$tmp/child-back.raw"
  rm -f "$tmp/child-back.raw"
  ls -l "$tmp/disk.vhdx" "$tmp/child.vhdx"
}

# convert NAME IMAGE: xdisk-v2v IMAGE -- -o local -os out/NAME.
convert ()
{
  mkdir -p "$tmp/out/$1"
  "$top_srcdir/contrib/v2v/xdisk-v2v" --name "$1" --memory 1024 --vcpus 1 "$2" \
    -- -o local -os "$tmp/out/$1" -of raw
}

# boot NAME WHAT: boot out/NAME, wait for "MARKER WHAT" on ttyS0.
boot ()
{
  local disk=$tmp/out/$1/$1-sda
  test -f "$disk" || return 1
  timeout 900 qemu-system-x86_64 "${boot_accel[@]}" -m 1024 -nodefaults \
    -display none -no-reboot -serial "file:$tmp/$1.console" \
    -drive "file=$disk,format=raw,if=virtio" || :
  tail -5 "$tmp/$1.console"
  grep -a -q "$marker $2" "$tmp/$1.console"
}

step "debootstrap (or cache)" rootfs
step "guest disk (guestfish)" make_disk "$tmp/disk.raw"
step "vmdk (qemu-img)" qemu-img convert -f raw -O vmdk -o subformat=streamOptimized \
  "$tmp/disk.raw" "$tmp/disk.vmdk"
step "vhdx (qemu-img)" qemu-img convert -f raw -O vhdx "$tmp/disk.raw" "$tmp/disk.vhdx"
step "vhdx child (vhdx plugin)" make_child
rm -f "$tmp/child.raw"

result=0
for g in vmdk:disk.vmdk:base vhdx:disk.vhdx:base child:child.vhdx:vhdx-child; do
  IFS=: read -r name image what <<< "$g"
  if step "convert $name (virt-v2v)" convert "$name" "$tmp/$image" &&
     step "boot $name" boot "$name" "$what"; then
    echo "boot $name: booted" >> "$tmp/times"
  else
    echo "boot $name: FAILED" >> "$tmp/times"
    result=1
  fi
  rm -rf "$tmp/out/$name"
done
set +x
echo "== $0 on $(uname -n), $(nproc) CPUs, $(date -u +%F)"
cat "$tmp/times"
exit $result
