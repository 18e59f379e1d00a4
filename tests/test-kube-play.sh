#!/usr/bin/env bash
# The Jobs of contrib/kubernetes played with `podman kube play`, the
# nearest thing to a cluster these machines have (make check-container,
# not make check).  tests/k8s-pod-from-job.py turns each Job's own pod
# template into a Pod; a PVC is a podman named volume (its claimName),
# the Secret a directory of files (podman 4.3 cannot stand in for one,
# see k8s-pod-from-job.py).  Two streamOptimized VMDKs are served by
# lighttpd on 127.0.0.1 behind Basic auth (the user and password the
# "Secret" holds), and
#  - job-filesystem.yaml's pod copies one to its PVC as disk.img;
#  - job-indexed.yaml's pods for indexes 0 and 1 copy the two disks a
#    ConfigMap (podman kube play --configmap) lists to NAME.img on one
#    shared volume, and index 2, which the list lacks, fails;
#  - job-block.yaml's pod copies one onto a loop device full of other
#    bytes that stands for the block PVC (owned by uid 10001, as the
#    runtime's device_ownership_from_security_context makes it);
# each pod must exit 0, run as uid 10001 with a read-only root and print
# progress lines, and each copy must hold what qemu-img decodes from the
# VMDK.  Without a loop device the block part is skipped (exit 77)
# after the others passed.
source "$srcdir/functions.sh"
source "$srcdir/remote-functions.sh"
source "$srcdir/container-functions.sh"
set -euo pipefail

requires python3 -c 'import yaml'
requires qemu-img --version
requires_podman
make_tmpdir
container_build

k8s=$top_srcdir/contrib/kubernetes
gen=$srcdir/k8s-pod-from-job.py
# Volumes and pods of this run only: podman's names are global.
pfx=xdisk-kp-$$
# The volumes: a PVC is named after its (prefixed) claimName, an
# emptyDir after its (prefixed) volume name, a ConfigMap after its
# (prefixed) name.
for v in xdisk-target xdisk-fleet tmp xdisk-disks; do
  cleanup_fn podman volume rm -f "$pfx-$v"
done

# Two disks: real-looking data with holes, in streamOptimized VMDKs.
mkdir "$tmp/www"
make_disk ()
{
  local seed=$1 size=$2 name=$3
  random_bytes "$seed" 3M > "$tmp/$name.raw"
  truncate -s "$size" "$tmp/$name.raw"
  printf 'the end of %s' "$name" |
    dd of="$tmp/$name.raw" bs=1 seek=$(( ${size%M} * 1048576 - 512 )) \
       conv=notrunc status=none
  qemu-img convert -f raw -O vmdk -o subformat=streamOptimized \
    "$tmp/$name.raw" "$tmp/www/$name.vmdk"
  # The independent decoding every copy is compared with.
  qemu-img convert -f vmdk -O raw "$tmp/www/$name.vmdk" "$tmp/$name.expected"
}
make_disk 31 24M a
make_disk 32 10M b

user=xdisk-k8s
password=pw-$$-kube
start_lighttpd "$tmp/www" "$user" "$password"
# The Secret's keys as files, as kubelet mounts them.
mkdir -m 0755 "$tmp/secret"
printf '%s' "$user" > "$tmp/secret/user"
printf '%s' "$password" > "$tmp/secret/password"
chmod 0644 "$tmp/secret/user" "$tmp/secret/password"

# play NAME POD.yaml [KUBE-PLAY-OPTIONS...]: play the Pod, wait for its
# container (generously bounded: a stuck pod must not hang the suite),
# show its log to $tmp/NAME.log, remove the pod (its emptyDir goes with
# it, its PVC stays), and fail unless it exited 0 having printed
# progress.
play ()
{
  local name=$1 yaml=$2 status
  shift 2
  cleanup_fn podman pod rm -f "$name"
  podman kube play "$@" "$yaml"
  if ! timeout $(( 600 * timeout_scale )) podman wait "$name-xdisk"; then
    echo "$0: pod $name did not end"
    podman logs "$name-xdisk" || :
    return 1
  fi
  podman logs "$name-xdisk" > "$tmp/$name.log" 2>&1
  cat "$tmp/$name.log"
  status=$(podman inspect --format \
    '{{.State.ExitCode}} {{.Config.User}} {{.HostConfig.ReadonlyRootfs}}' \
    "$name-xdisk")
  podman pod rm -f "$name" > /dev/null
  if [ "$status" != "0 10001:10001 true" ]; then
    echo "$0: pod $name: exit status, user, read-only root: $status"
    return 1
  fi
  grep -q '^xdisk-copy: progress 100% ' "$tmp/$name.log" ||
    { echo "$0: pod $name: no progress line for 100%"; return 1; }
}

# same_disk FILE EXPECTED: FILE (in a volume) holds EXPECTED's bytes and
# was written by the container's user.
same_disk ()
{
  cmp "$1" "$2"
  [ "$(stat -c %u "$1")" = 10001 ] ||
    { echo "$0: $1 is owned by uid $(stat -c %u "$1"), not 10001"; return 1; }
}

volume_dir ()
{
  podman volume inspect --format '{{.Mountpoint}}' "$pfx-$1"
}

# The single-disk Job, filesystem mode.
python3 "$gen" "$k8s/job-filesystem.yaml" --name "$pfx-one" \
  --image "$container_image" --host-network --volume-prefix "$pfx" \
  --secret-dir "$tmp/secret" \
  --env "XDISK_SOURCE=http://127.0.0.1:$http_port/a.vmdk" > "$tmp/one.yaml"
cat "$tmp/one.yaml"
play "$pfx-one" "$tmp/one.yaml"
dir=$(volume_dir xdisk-target)
same_disk "$dir/disk.img" "$tmp/a.expected"

# The Indexed Job, indexes 0 and 1, over a ConfigMap of two lines (the
# second with an option), both writing to one shared volume.
python3 - "$http_port" "$pfx" > "$tmp/disks.yaml" <<'PY'
import sys, yaml
url = "http://127.0.0.1:%s/" % sys.argv[1]
yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": sys.argv[2] + "-xdisk-disks"},
                "data": {"disks": "alpha %sa.vmdk\nbeta %sb.vmdk --format vmdk\n"
                         % (url, url)}}, sys.stdout)
PY
for i in 0 1; do
  python3 "$gen" "$k8s/job-indexed.yaml" --name "$pfx-ix$i" --index "$i" \
    --image "$container_image" --host-network --volume-prefix "$pfx" \
    --secret-dir "$tmp/secret" > "$tmp/ix$i.yaml"
  play "$pfx-ix$i" "$tmp/ix$i.yaml" --configmap "$tmp/disks.yaml"
done
# Each index took its own line.
for i in 0 1; do
  name=$( [ $i = 0 ] && echo alpha || echo beta )
  grep -q "^xdisk: index $i: $name from " "$tmp/$pfx-ix$i.log" ||
    { echo "$0: index $i did not copy $name"; exit 1; }
done
dir=$(volume_dir xdisk-fleet)
same_disk "$dir/alpha.img" "$tmp/a.expected"
same_disk "$dir/beta.img" "$tmp/b.expected"

# Index 2 has no line in the list: the pod must fail, saying so.
python3 "$gen" "$k8s/job-indexed.yaml" --name "$pfx-ix2" --index 2 \
  --image "$container_image" --host-network --volume-prefix "$pfx" \
  --secret-dir "$tmp/secret" > "$tmp/ix2.yaml"
if play "$pfx-ix2" "$tmp/ix2.yaml" --configmap "$tmp/disks.yaml"; then
  echo "$0: index 2 of a list of 2 succeeded"
  exit 1
fi
grep -q 'has 2 lines, none for index 2' "$tmp/$pfx-ix2.log" ||
  { echo "$0: index 2 failed without saying why"; exit 1; }
echo "$0: the Job and the Indexed Job copied every byte"

# The block Job, on a loop device that holds other bytes first.
random_bytes 33 24M > "$tmp/block.img"
if ! dev=$(losetup -f --show "$tmp/block.img" 2>"$tmp/losetup.err"); then
  skip_allowed "the block Job needs a loop device: $(cat "$tmp/losetup.err")"
fi
cleanup_fn losetup -d "$dev"
# What device_ownership_from_security_context does; undone at exit.
cleanup_fn chmod "$(stat -c %a "$dev")" "$dev"
cleanup_fn chown "$(stat -c %u:%g "$dev")" "$dev"
chown 10001:10001 "$dev"
python3 "$gen" "$k8s/job-block.yaml" --name "$pfx-block" \
  --image "$container_image" --host-network --volume-prefix "$pfx" \
  --secret-dir "$tmp/secret" --block-device "xdisk-target-block=$dev" \
  --env "XDISK_SOURCE=http://127.0.0.1:$http_port/a.vmdk" > "$tmp/block.yaml"
cat "$tmp/block.yaml"
play "$pfx-block" "$tmp/block.yaml"
cmp "$dev" "$tmp/a.expected"
echo "$0: the block Job copied every byte"
