#!/usr/bin/env bash
# contrib/v2v/xdisk-v2v without the slow conversion: virt-v2v is a
# stand-in (XDISK_VIRT_V2V) that parses the libvirt XML it is given as
# virt-v2v 2.2's -i libvirtxml does (python3 xml.etree), checks each
# <disk> (type network, protocol nbd, host named exactly localhost, a
# port on which an nbdkit serving that image listens: found through
# /proc/net/tcp*, not through the XML), and copies each disk with
# nbdcopy into -os DIR, where the test compares it with an independent
# decoding: a VMDK and a VHDX with qemu-img's, a VHDX differencing child
# (qemu cannot open those) with the same writes applied to a raw copy
# of its parent.  Also: --print-xml, virt-v2v's exit status passed
# through, no nbdkit left after any run, a bad image refused before
# virt-v2v runs.
source "$srcdir/functions.sh"
set -e -x
requires_plugin diskx
requires_plugin vhdx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires nbdinfo --version
requires python3 -c 'import xml.etree.ElementTree'
make_tmpdir
RANDOM=21

v2v=$top_srcdir/contrib/v2v/xdisk-v2v
export XDISK_PLUGIN
XDISK_PLUGIN=$(plugin diskx)
M=$(( 1 << 20 ))

# In the sanitizer build nbdkit runs as functions.sh's nbdkit_cmd says.
if [ -n "${XDISK_NBDKIT_PRELOAD-}" ]; then
  printf '#!/bin/bash\nexec %s "$@"\n' "$(printf '%q ' "${nbdkit_cmd[@]}")" \
    > "$tmp/nbdkit"
  chmod +x "$tmp/nbdkit"
  export XDISK_NBDKIT=$tmp/nbdkit
fi

# The stand-in virt-v2v.  Environment: EXPECT_NAME, EXPECT_MEMORY (KiB),
# EXPECT_VCPUS, EXPECT_IMAGES (the nbdkit parameter naming each image,
# file=ABSOLUTE-PATH or url=URL, one a line, in order),
# V2V_EXIT (its exit status after the copies), V2V_RAN (a file it
# creates), V2V_PIDS (where it writes the pids of the nbdkits it found).
cat > "$tmp/fake-v2v" <<'EOF'
#!/usr/bin/env python3
import os, subprocess, sys
import xml.etree.ElementTree as ET

def fail(msg):
    print("fake-v2v: " + msg, file=sys.stderr)
    sys.exit(97)

open(os.environ["V2V_RAN"], "w").close()
a = sys.argv[1:]
if a[:2] != ["-i", "libvirtxml"] or len(a) < 3:
    fail("arguments do not start with -i libvirtxml XML: %r" % a)
xml, rest = a[2], a[3:]
if rest[:2] != ["-o", "local"] or rest[2:3] != ["-os"] or len(rest) != 4:
    fail("expected -o local -os DIR after the XML, got %r" % rest)
outdir = rest[3]
dom = ET.parse(xml).getroot()
if dom.tag != "domain" or not dom.get("type"):
    fail("no <domain type=...>")
if dom.findtext("name") != os.environ["EXPECT_NAME"]:
    fail("name %r" % dom.findtext("name"))
if dom.findtext("memory") != os.environ["EXPECT_MEMORY"]:
    fail("memory %r" % dom.findtext("memory"))
if dom.findtext("vcpu") != os.environ["EXPECT_VCPUS"]:
    fail("vcpu %r" % dom.findtext("vcpu"))
if dom.findtext("os/type") != "hvm":
    fail("os type %r" % dom.findtext("os/type"))

def listeners(port):
    """pids of the processes listening on TCP port PORT."""
    inodes = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(f).read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            c = line.split()
            if c[3] == "0A" and int(c[1].rsplit(":", 1)[1], 16) == port:
                inodes.add("socket:[%s]" % c[9])
    pids = set()
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir("/proc/%s/fd" % p)
            if any(os.readlink("/proc/%s/fd/%s" % (p, fd)) in inodes for fd in fds):
                pids.add(int(p))
        except OSError:
            pass
    return pids

images = os.environ["EXPECT_IMAGES"].split("\n")
disks = dom.findall("devices/disk[@device='disk']")
if len(disks) != len(images):
    fail("%d disks for %d images" % (len(disks), len(images)))
found = []
for i, (d, image) in enumerate(zip(disks, images)):
    dev = "sd" + "abcdefghijklmnopqrstuvwxyz"[i]
    if d.get("type") != "network":
        fail("disk %d: type %r" % (i, d.get("type")))
    if d.find("driver") is None or d.find("driver").get("type") != "raw":
        fail("disk %d: driver type is not raw" % i)
    if d.find("source") is None or d.find("source").get("protocol") != "nbd":
        fail("disk %d: source protocol is not nbd" % i)
    host = d.find("source/host")
    if host is None or host.get("name") != "localhost":
        fail("disk %d: host name is not exactly localhost" % i)
    port = int(host.get("port"))
    if not 0 < port < 65536:
        fail("disk %d: port %d" % (i, port))
    if d.find("target").get("dev") != dev or d.find("target").get("bus") != "scsi":
        fail("disk %d: target %r" % (i, d.find("target").attrib))
    pids = listeners(port)
    if len(pids) != 1:
        fail("disk %d: port %d: %d listeners" % (i, port, len(pids)))
    pid = pids.pop()
    cmd = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")
    if not any(b"nbdkit" in w for w in cmd) or \
       image.encode() not in cmd:
        fail("disk %d: port %d is not served by nbdkit %s: %r" % (i, port, image, cmd))
    found.append(pid)
    subprocess.run(["nbdcopy", "nbd://localhost:%d" % port,
                    "%s/%s-%s" % (outdir, dom.findtext("name"), dev)], check=True)
with open(os.environ["V2V_PIDS"], "w") as f:
    f.write("".join("%d\n" % p for p in found))
sys.exit(int(os.environ.get("V2V_EXIT", "0")))
EOF
chmod +x "$tmp/fake-v2v"
export XDISK_VIRT_V2V=$tmp/fake-v2v V2V_RAN=$tmp/ran V2V_PIDS=$tmp/pids

# no_nbdkit_left: no process serving a file of this test remains.
no_nbdkit_left ()
{
  local p
  if [ -s "$tmp/pids" ]; then
    while read -r p; do
      test ! -e "/proc/$p"
    done < "$tmp/pids"
  fi
  # (A bare "! cmd" never fails under set -e: hence the ifs.)
  if pgrep -f -- "nbdkit.*file=$tmp/" >&2; then return 1; fi
  if [ -n "${base-}" ] && pgrep -f -- "nbdkit.*url=$base/" >&2; then
    return 1
  fi
}

# A raw disk of 40 MiB: data in places, holes elsewhere.
truncate -s $(( 40 * M )) "$tmp/disk.raw"
for i in 1 2 3 4 5; do
  # Drawn here, not in the pipeline: a subshell reseeds $RANDOM.
  off=$(( (RANDOM * 32768 + RANDOM) % (37 * M) / 512 * 512 ))
  seed=$RANDOM len=$(( (RANDOM % 2000) * 1000 + 1 ))
  random_bytes $seed $len |
    dd of="$tmp/disk.raw" bs=64K oflag=seek_bytes seek=$off conv=notrunc status=none
done

# A VMDK and a VHDX made by qemu-img; the expectation its decoding.
qemu-img convert -f raw -O vmdk "$tmp/disk.raw" "$tmp/disk.vmdk"
qemu-img convert -f raw -O vhdx "$tmp/disk.raw" "$tmp/disk.vhdx"
qemu-img convert -O raw "$tmp/disk.vmdk" "$tmp/expect-vmdk.raw"
qemu-img convert -O raw "$tmp/disk.vhdx" "$tmp/expect-vhdx.raw"

# A differencing child of the VHDX, made and written by the vhdx plugin;
# the expectation the same writes applied by qemu-io to a raw copy.
ops=()
for i in $(seq 30); do
  off=$(( (RANDOM * 32768 + RANDOM) % (38 * M) ))
  ops+=(-c "write -P $(( RANDOM % 255 + 1 )) $off $(( RANDOM % 300000 + 1 ))")
done
ops+=(-c "write -z $(( 5 * M )) $(( 3 * M ))")
nbdkit -U - "$(plugin vhdx)" file="$tmp/child.vhdx" create=true \
  create-parent="$tmp/disk.vhdx" \
  --run "qemu-io -f raw $(printf '%q ' "${ops[@]}") \$uri" >/dev/null
cp "$tmp/expect-vhdx.raw" "$tmp/expect-child.raw"
qemu-io -f raw "${ops[@]}" "$tmp/expect-child.raw" >/dev/null
if cmp -s "$tmp/expect-child.raw" "$tmp/expect-vhdx.raw"; then
  echo "$0: the child's writes changed nothing"
  false
fi

export EXPECT_NAME="w&b <1>" EXPECT_MEMORY=$(( 512 * 1024 )) EXPECT_VCPUS=3
export EXPECT_IMAGES="file=$tmp/disk.vmdk
file=$tmp/disk.vhdx
file=$tmp/child.vhdx"
imgs=("$tmp/disk.vmdk" "$tmp/disk.vhdx" "$tmp/child.vhdx")
opts=(--name "$EXPECT_NAME" --memory 512 --vcpus 3)

# --print-xml: well-formed, the three disks on three ports; nothing left.
"$v2v" "${opts[@]}" --print-xml "${imgs[@]}" > "$tmp/print.xml"
python3 - "$tmp/print.xml" <<'EOF'
import sys, xml.etree.ElementTree as ET
d = ET.parse(sys.argv[1]).getroot()
assert d.findtext("name") == "w&b <1>", d.findtext("name")
hosts = d.findall("devices/disk[@device='disk']/source[@protocol='nbd']/host")
assert [h.get("name") for h in hosts] == ["localhost"] * 3, hosts
assert len({h.get("port") for h in hosts}) == 3
EOF
test ! -e "$tmp/ran"
no_nbdkit_left

# The conversion: each disk as the stand-in copied it.
mkdir "$tmp/out" "$tmp/out-url"
"$v2v" "${opts[@]}" "${imgs[@]}" -- -o local -os "$tmp/out"
test -e "$tmp/ran"
test "$(wc -l < "$tmp/pids")" = 3
no_nbdkit_left
cmp "$tmp/expect-vmdk.raw" "$tmp/out/$EXPECT_NAME-sda"
cmp "$tmp/expect-vhdx.raw" "$tmp/out/$EXPECT_NAME-sdb"
cmp "$tmp/expect-child.raw" "$tmp/out/$EXPECT_NAME-sdc"

# Images on a web server (url=): the child's parent read from there too.
if nbdkit "$XDISK_PLUGIN" --dump-plugin | grep -q '^xdisk_libcurl=no$' ||
   ! command -v lighttpd >/dev/null; then
  missing "lighttpd, or the diskx plugin with libcurl (url=)"
else
  source "$srcdir/remote-functions.sh"
  start_lighttpd "$tmp"
  base=http://127.0.0.1:$http_port
  EXPECT_IMAGES="url=$base/disk.vmdk
url=$base/child.vhdx" "$v2v" "${opts[@]}" "$base/disk.vmdk" "$base/child.vhdx" \
    -- -o local -os "$tmp/out-url"
  no_nbdkit_left
  cmp "$tmp/expect-vmdk.raw" "$tmp/out-url/$EXPECT_NAME-sda"
  cmp "$tmp/expect-child.raw" "$tmp/out-url/$EXPECT_NAME-sdb"
fi

# virt-v2v's exit status is xdisk-v2v's.
rm -f "$tmp/ran" "$tmp/pids"
status=0
V2V_EXIT=3 "$v2v" "${opts[@]}" "${imgs[@]}" -- -o local -os "$tmp/out" || status=$?
test "$status" = 3
test -e "$tmp/ran"
no_nbdkit_left

# A bad image (a truncated VHDX) is refused before virt-v2v runs, and
# the servers already started for the others are stopped.
head -c $(( 300 * 1024 )) "$tmp/disk.vhdx" > "$tmp/bad.vhdx"
rm -f "$tmp/ran" "$tmp/pids"
status=0
"$v2v" "${opts[@]}" "$tmp/disk.vmdk" "$tmp/bad.vhdx" -- -o local -os "$tmp/out" \
  2> "$tmp/err" || status=$?
cat "$tmp/err"
test "$status" = 1
grep -q "IMAGE '$tmp/bad.vhdx'" "$tmp/err"
test ! -e "$tmp/ran"
no_nbdkit_left
# ... as is a file that does not exist, and a missing virt-v2v argument.
status=0
"$v2v" "$tmp/nosuch.vhdx" -- -o local -os "$tmp/out" 2> "$tmp/err" || status=$?
test "$status" = 1
grep -q "nosuch.vhdx': no such file" "$tmp/err"
status=0
"$v2v" "$tmp/disk.vmdk" 2> "$tmp/err" || status=$?
test "$status" = 1
grep -q "no virt-v2v arguments" "$tmp/err"
status=0
"$v2v" "$tmp/disk.vmdk" -- -i disk -o local -os "$tmp/out" 2> "$tmp/err" || status=$?
test "$status" = 1
grep -q "virt-v2v argument '-i'" "$tmp/err"
test ! -e "$tmp/ran"
