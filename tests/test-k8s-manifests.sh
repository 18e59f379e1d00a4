#!/usr/bin/env bash
# The Kubernetes manifests of contrib/kubernetes, checked without a
# cluster: tests/k8s-check.py parses every YAML (python3-yaml) and checks
# the fields the example relies on; the Jobs' shell scripts must pass
# bash -n.  Then the checker's mutant test: each manifest broken in one
# place must be caught, with a message naming what broke.
source "$srcdir/functions.sh"
set -euo pipefail

requires python3 -c 'import yaml'
check=$srcdir/k8s-check.py
manifests=$top_srcdir/contrib/kubernetes
make_tmpdir

python3 "$check" "$manifests"

# The scripts the Jobs run (bash -c SCRIPT) are valid bash.
python3 - "$manifests" <<'PY'
import glob, subprocess, sys, yaml
n = 0
for f in sorted(glob.glob(sys.argv[1] + "/*.yaml")):
    for d in yaml.safe_load_all(open(f)):
        if d.get("kind") != "Job":
            continue
        for c in d["spec"]["template"]["spec"]["containers"]:
            assert c["command"][:2] == ["/bin/bash", "-c"], f
            subprocess.run(["bash", "-n", "-c", c["args"][0]], check=True)
            n += 1
assert n == 3, n
PY

# mutant FILE WORD OLD NEW [COUNT]: the manifests with OLD replaced by NEW
# in FILE (OLD must occur COUNT times, default 1) must fail the checker
# with a message containing WORD.
mutants=0
mutant ()
{
  local file=$1 word=$2 old=$3 new=$4 count=${5-1} out
  rm -rf "$tmp/m"
  cp -r "$manifests" "$tmp/m"
  python3 - "$tmp/m/$file" "$old" "$new" "$count" <<'PY'
import sys
path, old, new, count = sys.argv[1:]
s = open(path).read()
if s.count(old) != int(count):
    sys.exit("mutant: %r occurs %d times in %s, not %s" % (old, s.count(old), path, count))
open(path, "w").write(s.replace(old, new))
PY
  if out=$(python3 "$check" "$tmp/m" 2>&1); then
    echo "$0: mutant not caught: $file: $old -> $new"
    exit 1
  fi
  if ! grep -qF -- "$word" <<< "$out"; then
    echo "$0: mutant $file: $old -> $new: no '$word' in:"
    echo "$out"
    exit 1
  fi
  mutants=$((mutants + 1))
}

fs=job-filesystem.yaml
mutant $fs 'unknown apiVersion' 'apiVersion: batch/v1' 'apiVersion: batch/v2'
mutant $fs 'does not parse' '  backoffLimit: 2' $'\tbackoffLimit: 2'
mutant $fs 'backoffLimit not set' '  backoffLimit: 2' '  parallelism: 1'
mutant $fs restartPolicy 'restartPolicy: Never' 'restartPolicy: Always'
mutant $fs 'names no volume' $'- name: tmp\n              mountPath' \
  $'- name: scratch\n              mountPath'
mutant $fs 'is not mounted readOnly' 'readOnly: true' 'readOnly: false'
mutant $fs 'is not mounted at /run/secrets/xdisk' \
  'mountPath: /run/secrets/xdisk' 'mountPath: /var/run/xdisk'
mutant $fs 'is not in /run/secrets/xdisk' \
  '--password-file /run/secrets/xdisk/password' '--password-file /tmp/password'
mutant $fs 'no --user-file' '--user-file /run/secrets/xdisk/user' ''
mutant $fs 'holds a secret' $'- name: XDISK_OPTIONS\n              value: ""' \
  $'- name: XDISK_OPTIONS\n              valueFrom:\n                secretKeyRef: {name: xdisk-credentials, key: password}'
mutant $fs runAsNonRoot 'runAsNonRoot: true' 'runAsNonRoot: false' 2
mutant $fs runAsUser 'runAsUser: 10001' 'runAsUser: 0' 2
mutant $fs readOnlyRootFilesystem 'readOnlyRootFilesystem: true' \
  'readOnlyRootFilesystem: false'
mutant $fs 'no emptyDir at /tmp' 'emptyDir: {}' 'hostPath: {path: /var/tmp}'
mutant $fs 'resources.requests.memory' 'memory: 256Mi' 'ephemeral-storage: 1Gi'
mutant $fs 'writes nothing under /target' '"$XDISK_SOURCE" /target/disk.img' \
  '"$XDISK_SOURCE" /tmp/disk.img'
mutant $fs 'not defined in any manifest' 'claimName: xdisk-target' \
  'claimName: xdisk-target-old'
mutant job-block.yaml allowPrivilegeEscalation \
  'allowPrivilegeEscalation: false' 'allowPrivilegeEscalation: true'
mutant job-block.yaml 'same image' 'image: localhost/xdisk:latest' \
  'image: localhost/xdisk:1.0'
mutant pvc-block.yaml 'not volumeMode Block' 'volumeMode: Block' \
  'volumeMode: Filesystem'
mutant job-block.yaml 'no PVC as the volumeDevice' \
  'devicePath: /dev/xdisk-target' 'devicePath: /dev/sdz'
mutant job-block.yaml 'does not write /dev/xdisk-target' \
  '"$XDISK_SOURCE" /dev/xdisk-target' '"$XDISK_SOURCE" /dev/sdz'
ix=job-indexed.yaml
mutant $ix 'drop ALL' 'drop: ["ALL"]' 'drop: ["NET_RAW"]'
mutant $ix 'completions 4' 'completions: 3' 'completions: 4'
mutant configmap-disks.yaml 'lists 4 disks' \
  'mail01.vmx' $'mail01.vmx\n    mail01-b https://files.example.com/b.vhdx'
mutant configmap-disks.yaml 'NAME web01 again' 'db01-data https' 'web01 https'
mutant configmap-disks.yaml 'bad NAME' 'db01-data https' '.db01 https'
mutant configmap-disks.yaml 'passes --password-file' 'db01.vmx --disk scsi0:1' \
  'db01.vmx --password-file /tmp/pw'
mutant $ix 'parallelism 5 > completions 3' 'parallelism: 2' 'parallelism: 5'
mutant $ix 'resources.limits.cpu' 'cpu: "2"' 'ephemeral-storage: "2Gi"'
mutant $ix 'backoffLimitPerIndex' 'backoffLimit: 6' \
  $'backoffLimit: 6\n  backoffLimitPerIndex: 2'
mutant $ix 'JOB_COMPLETION_INDEX' 'n=$JOB_COMPLETION_INDEX' 'n=0'
mutant $ix 'ConfigMap xdisk-disks is not mounted' 'name: xdisk-disks' \
  'name: xdisk-list'
mutant pvc-fleet.yaml 'not ReadWriteMany' '["ReadWriteMany"]' \
  '["ReadWriteOnce"]'
mutant kubevirt-datavolume.yaml 'source.pvc.name' 'name: xdisk-target' \
  'name: xdisk-fleet'
mutant kubevirt-vm.yaml 'defined nowhere' 'name: xdisk-vm-root' \
  'name: xdisk-root'
mutant kubevirt-vm.yaml 'no disk uses volume' \
  $'disks:\n            - name: rootdisk' $'disks:\n            - name: bootdisk'
echo "$0: $mutants mutants caught"
