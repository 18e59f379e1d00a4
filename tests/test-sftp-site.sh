#!/usr/bin/env bash
# The SFTP site (common/remote/sftp.c) against OpenSSH's sshd on
# 127.0.0.1, through sftp-read (no nbdkit): bytes compared with
# sha256sum over one and several sessions; host keys (unknown, changed,
# the fingerprint said, verify-remote-host=false); a refused key and a
# refused password that is never printed; a missing file; a listing; a
# connection dropped between reads (reconnected, or an error with no
# retries left); a file that ends before its size.  Then a server that
# answers short READs (python3-asyncssh): the rest is asked for again;
# one that lies about sizes; one that takes a password (as a password,
# or keyboard-interactive).
source "$srcdir/functions.sh"
set -e -x

source "$srcdir/ssh-functions.sh"
requires_sshd
requires sha256sum --version
read=$top_builddir/tests/sftp-read
requires test -x "$read"
make_tmpdir
start_sshd

# A file that is not a whole number of READs (and spans several parts
# of a split read), and one of 1 byte.
d=$tmp/data
mkdir "$d"
head -c $(( 13 * 1048576 + 12345 )) /dev/urandom > "$d/disk one.img"
printf x > "$d/tiny"
url="ssh://root@127.0.0.1:$ssh_port$d/disk%20one.img"
keys=(--known-hosts "$ssh_known_hosts" --identity "$ssh_identity")
want=$(sha256sum < "$d/disk one.img")

# fails STATUS LOG COMMAND...: COMMAND exits with STATUS; its stderr in LOG.
fails ()
{
  local want=$1 log=$2 st=0
  shift 2
  "$@" 2> "$log" || st=$?
  cat "$log"
  [ $st = $want ]
}

# Whole file: one session with small reads, 4 with reads split over them.
for opt in "--connections 1 --block 100000" "--connections 4 --block 8388608" \
           "--connections 3 --block 3000000"; do
  rm -f "$tmp/out"
  $read "${keys[@]}" $opt "$url" "$tmp/out"
  [ "$(sha256sum < "$tmp/out")" = "$want" ]
done
$read "${keys[@]}" "ssh://root@127.0.0.1:$ssh_port$d/tiny" "$tmp/out"
cmp "$tmp/out" "$d/tiny"

# An unknown host key: refused, naming the host and its fingerprint as
# ssh-keygen computes it, and the two ways out.
fp=$(ssh-keygen -l -E sha256 -f "$ssh_dir/host_key.pub" | cut -d' ' -f2)
fails 2 "$tmp/err" $read --known-hosts "$ssh_no_known_hosts" \
  --identity "$ssh_identity" "$url" "$tmp/out"
grep -F "host key of 127.0.0.1 (ssh-ed25519 $fp) is not in the known hosts" \
  "$tmp/err"
grep -F "known-hosts=FILE" "$tmp/err"
grep -F "verify-remote-host=false" "$tmp/err"
# ... and works without the check.
$read --no-verify --known-hosts "$ssh_no_known_hosts" \
  --identity "$ssh_identity" "$url" "$tmp/out"
[ "$(sha256sum < "$tmp/out")" = "$want" ]

# A host key that changed: the known-hosts file holds another key.
echo "[127.0.0.1]:$ssh_port $(cut -d' ' -f1,2 "$ssh_wrong_identity.pub")" \
  > "$tmp/changed_hosts"
fails 2 "$tmp/err" $read --known-hosts "$tmp/changed_hosts" \
  --identity "$ssh_identity" "$url" "$tmp/out"
grep -F "host key of 127.0.0.1 (ssh-ed25519 $fp) has CHANGED" "$tmp/err"

# A key the server does not accept.
fails 2 "$tmp/err" $read --known-hosts "$ssh_known_hosts" \
  --identity "$ssh_wrong_identity" "$url" "$tmp/out"
grep -F "the server refused user root" "$tmp/err"

# A missing file: ENOENT, said with the URL.
fails 3 "$tmp/err" $read "${keys[@]}" \
  "ssh://root@127.0.0.1:$ssh_port$d/nosuch.vmdk" "$tmp/out"
grep -F "ssh://127.0.0.1:$ssh_port$d/nosuch.vmdk: open: no such file" "$tmp/err"
grep -F "errno ENOENT" "$tmp/err"

# Listing: regular files only, percent-encoded, sorted; compared with
# Python's quoting of what ls finds.
mkdir "$d/sub dir"
ln -s tiny "$d/link"
: > "$d/c#%?.raw"
: > "$d/$(printf 'caf\303\251')"
$read "${keys[@]}" --list "$url" > "$tmp/list"
( cd "$d" && find . -maxdepth 1 -type f -printf '%f\n' ) |
  D="$d" python3 -c 'import os, sys, urllib.parse
d = os.environ["D"]
names = [urllib.parse.quote(os.fsencode(l[:-1]), safe="")
         for l in sys.stdin.buffer.read().decode("utf-8", "surrogateescape").splitlines(True)]
print("\n".join(sorted(d + "/" + n for n in names)))' > "$tmp/list.want"
diff -u "$tmp/list.want" "$tmp/list"

# The connection dropped between two reads (its sshd process killed):
# reconnected and the read done again; with no retries, an error.
kill_sessions="kill \$(cat /proc/$ssh_pid/task/$ssh_pid/children)"
# (lsan-sftp-reconnect.supp: the dead connection's handle is forgotten.)
reconnect_lsan="suppressions=$srcdir/lsan-sftp-reconnect.supp:print_suppressions=0"
LSAN_OPTIONS="$reconnect_lsan" \
  $read "${keys[@]}" --connections 1 --block 1048576 --at 5000000 \
  --run "$kill_sessions" --debug "$url" "$tmp/out" 2> "$tmp/err"
grep -F "the connection dropped" "$tmp/err"
[ "$(sha256sum < "$tmp/out")" = "$want" ]
LSAN_OPTIONS="$reconnect_lsan" \
  fails 4 "$tmp/err" $read "${keys[@]}" --connections 1 --retries 0 \
  --block 1048576 --at 5000000 --run "$kill_sessions" "$url" "$tmp/out"
grep -F "disk%20one.img: reading data at offset 5242880" "$tmp/err"

# The file shrinks after it was opened: the end comes before the size
# the client was told: an error, not zeros or stale bytes.
cp "$d/disk one.img" "$d/shrinks"
fails 4 "$tmp/err" $read "${keys[@]}" --block 1048576 --at 3000000 \
  --run "truncate -s 3500000 '$d/shrinks'" --debug \
  "ssh://root@127.0.0.1:$ssh_port$d/shrinks" "$tmp/out"
grep "the server says end of file at offset 3[0-9]*" "$tmp/err"
grep -F "shrinks: reading data at offset 3145728: Input/output error" "$tmp/err"

# A password is tried after the keys and never printed, even in debug
# output: a second sshd that allows passwords (no user here has a
# password we know: root's is refused, which is what is checked).
start_sshd "PasswordAuthentication yes"
secret="xdisk-Secret-$$-pw"
echo "$secret" > "$tmp/pw"
fails 2 "$tmp/err" $read --known-hosts "$ssh_known_hosts" \
  --identity "$ssh_wrong_identity" --password-file "$tmp/pw" --debug \
  "ssh://root@127.0.0.1:$ssh_port$d/tiny" "$tmp/out"
grep -F "the server refused user root (tried: public key $ssh_wrong_identity, password)" \
  "$tmp/err"
grep -F "Failed password for root" "$ssh_dir/sshd.log"
! grep -F "$secret" "$tmp/err"

# A server that answers at most 10000 bytes per READ, and one that says
# every file is 100000 bytes longer than it is.
if ! /usr/bin/python3 -c 'import asyncssh' 2>/dev/null; then
  missing "python3-asyncssh is not installed"
  exit 0
fi
start_short_server ()
{
  rm -f "$tmp/short.port"
  /usr/bin/python3 -W ignore "$srcdir/sftp-short-server.py" "$ssh_dir/host_key" \
    "$ssh_dir/authorized_keys" 10000 "$tmp/short.port" "$@" \
    2>> "$tmp/short.log" &
  short_pid=$!
  cleanup_fn kill $short_pid
  for (( i = 0; i < 200; i++ )); do
    [ -s "$tmp/short.port" ] && break
    kill -0 $short_pid
    sleep 0.1
  done
  short_port=$(cat "$tmp/short.port")
  echo "[127.0.0.1]:$short_port $(cut -d' ' -f1,2 "$ssh_dir/host_key.pub")" \
    > "$tmp/short_hosts"
}
start_short_server
for opt in "--connections 1 --block 1000000" "--connections 4"; do
  $read --known-hosts "$tmp/short_hosts" --identity "$ssh_identity" $opt \
    "ssh://root@127.0.0.1:$short_port$d/disk%20one.img" "$tmp/out"
  [ "$(sha256sum < "$tmp/out")" = "$want" ]
done
kill $short_pid
start_short_server 100000
fails 4 "$tmp/err" $read --known-hosts "$tmp/short_hosts" \
  --identity "$ssh_identity" --block 4194304 \
  "ssh://root@127.0.0.1:$short_port$d/disk%20one.img" "$tmp/out"
grep -F "disk%20one.img: reading data at offset 12582912: Input/output error" \
  "$tmp/err"

# A server that takes only a password (then only keyboard-interactive,
# as ESXi asks for it): password= logs in and the file reads whole; a
# wrong one is refused; neither is printed, even in debug output.
kill $short_pid
want=$(sha256sum < "$d/shrinks")
echo "not-$secret" > "$tmp/wrong-pw"
for auth in password kbdint; do
  export XDISK_TEST_PASSWORD=$secret XDISK_TEST_AUTH=$auth
  start_short_server
  unset XDISK_TEST_PASSWORD XDISK_TEST_AUTH
  short_url="ssh://root@127.0.0.1:$short_port$d/shrinks"
  $read --known-hosts "$tmp/short_hosts" --identity "$ssh_wrong_identity" \
    --password-file "$tmp/pw" --debug "$short_url" "$tmp/out" 2> "$tmp/err"
  [ "$(sha256sum < "$tmp/out")" = "$want" ]
  ! grep -F "$secret" "$tmp/err"
  fails 2 "$tmp/err" $read --known-hosts "$tmp/short_hosts" \
    --identity "$ssh_wrong_identity" --password-file "$tmp/wrong-pw" --debug \
    "$short_url" "$tmp/out"
  grep -F "the server refused user root (tried: public key $ssh_wrong_identity, password)" \
    "$tmp/err"
  ! grep -F "$secret" "$tmp/err"
  kill $short_pid
done
