# xdisk test helpers, sourced by every shell test:
#
#   source "$srcdir/functions.sh"
#   set -e -x
#
# Environment (set by tests/Makefile.am): top_builddir, top_srcdir,
# srcdir, XDISK_SHARED (the ../shared directory, which may be absent).

# What a failure needs to be repeated.
echo "$0: MALLOC_PERTURB_=${MALLOC_PERTURB_-} XDISK_NO_SKIP=${XDISK_NO_SKIP-}" \
  "XDISK_TIMEOUT_SCALE=${XDISK_TIMEOUT_SCALE-}"

# Skips.  On a machine that tests/setup-debian has set up, every tool a
# test requires is installed, so there tests/run-suite and
# tests/run-sanitizers set XDISK_NO_SKIP=1: then a missing requirement
# is an error (exit 99, automake's ERROR), not a skip nobody reads.
# The skips that are right even there go through skip_allowed, and
# these are all of them (the allow-list):
#  - ../shared (the corpus) absent: corpus_file, requires_corpus;
#  - the sanitizer build's known nbdkit 1.32 hangs at exit (see
#    below): test-vdi-write-crash.sh, the end of
#    test-vmdk-stream-write.sh.

# missing WHAT: WHAT the test needs is not there.  An error under
# XDISK_NO_SKIP=1; else says so and returns (the caller skips).
missing ()
{
  if [ "${XDISK_NO_SKIP-}" = 1 ]; then
    echo "$0: ERROR: $1 (XDISK_NO_SKIP=1: tests/setup-debian installs it)"
    exit 99
  fi
  echo "$0: skipped: $1"
}

# skip_allowed WHY: exit 77 (automake: SKIP), even under XDISK_NO_SKIP.
skip_allowed ()
{
  echo "$0: test skipped: $1"
  exit 77
}

# Exit 77 (automake: SKIP) unless COMMAND... succeeds (99 under
# XDISK_NO_SKIP=1).
requires ()
{
  if ! "$@" >/dev/null 2>&1; then
    missing "'$*' failed"
    exit 77
  fi
}

# requires_corpus PATH: PATH under ../shared/corpus must exist.  Skipped
# when ../shared is absent; with ../shared there, a missing file is a
# missing requirement.
requires_corpus ()
{
  [ -e "$XDISK_SHARED/corpus/$1" ] && return 0
  [ -d "$XDISK_SHARED/corpus" ] ||
    skip_allowed "$XDISK_SHARED/corpus is not present"
  missing "$XDISK_SHARED/corpus/$1 is not present"
  exit 77
}

# Run COMMAND... when the test exits, however it exits.
_cleanup_cmds=()
_run_cleanup ()
{
  local status=$? i
  for (( i = ${#_cleanup_cmds[@]} - 1; i >= 0; i-- )); do
    eval "${_cleanup_cmds[$i]}" || :
  done
  exit $status
}
trap _run_cleanup EXIT INT TERM
cleanup_fn ()
{
  local q
  printf -v q '%q ' "$@"
  _cleanup_cmds+=("$q")
}

# A scratch directory, removed at exit.  Sets $tmp.
make_tmpdir ()
{
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/xdisk-test.XXXXXX")
  cleanup_fn rm -rf "$tmp"
}

# The built plugin NAME, as a path nbdkit can dlopen.
plugin ()
{
  echo "$top_builddir/plugins/$1/.libs/nbdkit-$1-plugin.so"
}

# In a build configured with --enable-sanitizers, tests/Makefile.am sets
# XDISK_NBDKIT_PRELOAD to the ASan runtime: Debian's nbdkit is not built
# with ASan, and the runtime must come first in a process that loads an
# instrumented plugin.  It is preloaded through the dynamic loader's
# --preload option rather than LD_PRELOAD, so that nbdkit alone gets it:
# the --run commands (qemu-img hangs with ASan preloaded, its coroutines
# switch stacks) inherit nothing.  lsan-nbdkit.supp hides leaks glibc
# reports in nbdkit's own dlopen/dlclose of the plugin.  Under ASan,
# nbdkit 1.32 can hang in exit after an error message that used %m
# (glibc's locale lock is found corrupt in p11-kit's destructor; it
# happens with file=/nosuch alone), so each run is limited to 5 minutes.
# $nbdkit_cmd (an array) is the command that runs nbdkit, for use
# under programs such as timeout: timeout 10 "${nbdkit_cmd[@]}" ...
nbdkit_cmd=(nbdkit)
if [ -n "${XDISK_NBDKIT_PRELOAD-}" ]; then
  _real_nbdkit=$(command -v nbdkit) || :
  _ldso=$(ldd "$_real_nbdkit" 2>/dev/null | awk '$1 ~ /\/ld-linux/ { print $1 }')
  nbdkit_cmd=(timeout 300 env
    "LSAN_OPTIONS=suppressions=$srcdir/lsan-nbdkit.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
    "$_ldso" --preload "$XDISK_NBDKIT_PRELOAD" "$_real_nbdkit")
  # Under ASan, nbdkit 1.32 also hangs for good when its --run child
  # exits: nbdkit forks that child while another thread holds glibc's
  # setlocale lock, and the child's exit() then waits for it in
  # p11-kit's destructor (seen with gdb: __freelocale <- libp11-kit fini
  # <- exit).  So in this build the tests do what --run does without the
  # fork: serve on a socket of their own (-f -P), run the command with
  # $uri, $unixsocket and $nbd set, then stop the server with SIGTERM (its
  # exit, cleanup and leak check run as usual).  Other forms run as they
  # are.  A watchdog kills the server, and everything in its process
  # group, after XDISK_NBDKIT_WATCHDOG seconds (default 300), so that a
  # hang fails one test instead of stopping the suite.
  nbdkit ()
  {
    local args=() cmd= run=false stdin_sock=false
    while [ $# -gt 0 ]; do
      case "$1" in
        --run) cmd=$2; run=true; shift 2; continue ;;
        --run=*) cmd=${1#--run=}; run=true; shift; continue ;;
        -U) if [ "${2-}" = - ]; then stdin_sock=true; shift 2; continue; fi ;;
      esac
      args+=("$1")
      shift
    done
    if $run && $stdin_sock; then
      _nbdkit_serve_and_run "$cmd" "${args[@]}"
    else
      $stdin_sock && args=(-U - "${args[@]}")
      $run && args+=(--run "$cmd")
      _nbdkit_watched "${args[@]}"
    fi
  }
fi

# Run nbdkit ARGS... in a process group of its own under the watchdog.
_nbdkit_watched ()
{
  local pid dog r=0
  setsid -w "${nbdkit_cmd[@]}" "$@" <&0 &
  pid=$!
  _nbdkit_watchdog "$pid"
  dog=$!
  wait "$pid" || r=$?
  kill "$dog" 2>/dev/null || :
  wait "$dog" 2>/dev/null || :
  return $r
}

# Kill process group PGID after XDISK_NBDKIT_WATCHDOG seconds, in the
# background ($! is the watchdog).  Its output goes to a file, not to
# the caller's stdout: a command substitution must not wait for it.
_nbdkit_watchdog ()
{
  ( sleep "${XDISK_NBDKIT_WATCHDOG:-300}"
    echo "$0: nbdkit still running after ${XDISK_NBDKIT_WATCHDOG:-300} s: killed" >&2
    kill -KILL -- "-$1" ) 2>>"${TMPDIR:-/tmp}/xdisk-watchdog.log" >/dev/null &
}

# True while process PID runs (not gone, not a zombie waiting for us).
_running ()
{
  local stat
  read -r _ _ stat _ 2>/dev/null < "/proc/$1/stat" && [ "$stat" != Z ]
}

# True if process PID is deadlocked: one thread left, asleep on a futex
# (no other thread of its own can wake it; the exit hang above looks
# so).  False where the kernel does not say (wchan hidden).
_deadlocked ()
{
  local tasks wchan
  tasks=(/proc/"$1"/task/*)
  [ ${#tasks[@]} -eq 1 ] && [ -e "${tasks[0]}" ] || return 1
  # (The file has no newline: read fails at its end, wchan still set.)
  wchan=
  read -r wchan 2>/dev/null < "/proc/$1/wchan" || :
  case "$wchan" in futex*) return 0 ;; *) return 1 ;; esac
}

# nbdkit -U - ARGS... --run CMD, without the fork (see above).
_nbdkit_serve_and_run ()
{
  local cmd=$1 dir pid dog r=0 s=0 i server hung
  shift
  dir=$(mktemp -d "${TMPDIR:-/tmp}/xdisk-nbdkit.XXXXXX")
  setsid -w "${nbdkit_cmd[@]}" -f -U "$dir/sock" -P "$dir/pid" "$@" \
    </dev/null &
  pid=$!
  _nbdkit_watchdog "$pid"
  dog=$!
  # Up to a minute for the server to come up (or to fail, as a test of
  # a bad image expects).
  for (( i = 0; i < 600; i++ )); do
    [ -s "$dir/pid" ] && [ -S "$dir/sock" ] && break
    _running "$pid" || break
    sleep 0.1
  done
  if [ -s "$dir/pid" ] && [ -S "$dir/sock" ]; then
    uri="nbd+unix:///?socket=$dir/sock" unixsocket="$dir/sock" \
      nbd="nbd:unix:$dir/sock" sh -c "$cmd" <&0 || r=$?
    server=$(cat "$dir/pid")
    kill -TERM "$server" 2>/dev/null || :
    # Its exit can still hang in p11-kit's destructor after an error
    # message earlier in the run (the leak check has run by then):
    # give it 10 s (a clean exit took 0.4 s here at a load of 5 on 2
    # CPUs), or 1 s once it is seen deadlocked, then end it without
    # counting that against the test.  (Waiting 30 s for each cost CI
    # 8 minutes.)
    hung=0
    for (( i = 0; i < 100; i++ )); do
      _running "$pid" || break
      if _deadlocked "$server"; then
        (( ++hung < 10 )) || break
      else
        hung=0
      fi
      sleep 0.1
    done
    if _running "$pid"; then
      echo "$0: nbdkit hung in exit (p11-kit, see functions.sh): killed" >&2
      kill -KILL -- "-$pid" 2>/dev/null || :
      wait "$pid" 2>/dev/null || :
    else
      wait "$pid" || s=$?
    fi
  else
    wait "$pid" || r=$?
    [ $r -ne 0 ] || r=1
  fi
  kill "$dog" 2>/dev/null || :
  wait "$dog" 2>/dev/null || :
  rm -rf "$dir"
  # The server's own failure (a crash, a sanitizer error) counts too.
  [ $r -ne 0 ] || r=$s
  return $r
}

# Every timeout a test waits for a condition is multiplied by
# XDISK_TIMEOUT_SCALE (default 1; tests/run-sanitizers sets a larger
# one: the sanitizer build on a loaded machine is several times slower).
timeout_scale=${XDISK_TIMEOUT_SCALE:-1}

# wait_for SECONDS WHAT COMMAND...: run COMMAND every 10 ms until it
# succeeds (status 0), instead of sleeping for a guessed time.  Fails,
# saying it was waiting for WHAT, after SECONDS (times the scale), or at
# once when COMMAND returns 2 (what it waits for can no longer happen).
wait_for ()
{
  local secs=$1 what=$2 end r xtrace=false
  shift 2
  case $- in *x*) xtrace=true; { set +x; } 2>/dev/null ;; esac
  end=$(( SECONDS + secs * timeout_scale ))
  while :; do
    r=0
    "$@" || r=$?
    [ $r -eq 0 ] && break
    if [ $r -eq 2 ] || [ $SECONDS -ge $end ]; then
      echo "$0: gave up waiting for $what ($* returned $r)"
      break
    fi
    sleep 0.01
  done
  if $xtrace; then set -x; fi
  return $r
}

requires_plugin ()
{
  requires test -f "$(plugin "$1")"
  requires nbdkit --version
}

# Decompress corpus file REL (relative to ../shared/corpus, ending in
# .gz, .bz2 or nothing) to DEST; skip the test if the corpus is absent.
corpus_file ()
{
  local src="$XDISK_SHARED/corpus/$1" dest=$2
  requires_corpus "$1"
  case "$src" in
    *.gz)  gzip -dc "$src" > "$dest" ;;
    *.bz2) bzip2 -dc "$src" > "$dest" ;;
    *)     cp "$src" "$dest" ;;
  esac
}

# random_bytes SEED SIZE: SIZE (a number, or with a K or M suffix)
# pseudo-random bytes from SEED on stdout: test data that every run
# makes the same, unlike /dev/urandom's.
random_bytes ()
{
  python3 -c '
import random, sys
n = sys.argv[2]
n = int(n[:-1]) << {"K": 10, "M": 20}[n[-1]] if n[-1] in "KM" else int(n)
out = sys.stdout.buffer
r = random.Random(int(sys.argv[1]))
while n > 0:
    k = min(n, 1 << 20)
    out.write(r.randbytes(k))
    n -= k
' "$1" "$2"
}

# Raw bytes served by PLUGIN for image IMG (plus extra params) to OUT.
serve_to_raw ()
{
  local p=$1 img=$2 out=$3
  shift 3
  nbdkit -U - -r "$(plugin "$p")" file="$img" "$@" \
    --run "nbdcopy --synchronous \"\$uri\" \"$out\""
}

# Check that PLUGIN serves IMG byte for byte as qemu-img decodes it
# with format FMT (qemu's name: vmdk, vpc, vhdx, ...).
compare_with_qemu ()
{
  local p=$1 img=$2 fmt=$3
  shift 3
  nbdkit -U - -r "$(plugin "$p")" file="$img" "$@" \
    --run "qemu-img compare -q -f $fmt -F raw \"$img\" \"\$uri\""
}

# Check that the extents PLUGIN reports for IMG agree with qemu-img map
# on whether each byte reads as zero.  qemu and nbdkit split ranges
# differently, so both maps are reduced to (start, length, zero) runs of
# merged neighbours before comparing.
_merge_map='[.[] | {start, length, zero: (.zero or (.data|not))}]
  | reduce .[] as $e ([];
      if length > 0 and (.[-1].zero == $e.zero)
         and (.[-1].start + .[-1].length == $e.start)
      then .[-1].length += $e.length else . + [$e] end)
  | .[] | "\(.start) \(.length) \(.zero)"'
compare_map_with_qemu ()
{
  local p=$1 img=$2 fmt=$3
  shift 3
  _maps_qemu_and_plugin "$p" "$img" "$fmt" "$@" || return 1
  diff -u "$tmp/map.qemu" "$tmp/map.plugin"
}

# The merged maps of IMG by qemu-img (format FMT) and by PLUGIN (plus
# extra params) in $tmp/map.qemu and $tmp/map.plugin.  Each step's
# status is checked (a pipeline's is only its last command's), and an
# empty map is an error: every disk has at least one run.
_maps_qemu_and_plugin ()
{
  local p=$1 img=$2 fmt=$3 status=0
  shift 3
  qemu-img map -f "$fmt" --output=json "$img" > "$tmp/map.json" || return 1
  jq -r "$_merge_map" "$tmp/map.json" > "$tmp/map.qemu" || return 1
  nbdkit -U - -r "$(plugin "$p")" file="$img" "$@" \
    --run 'qemu-img map -f raw --output=json "$uri"' > "$tmp/map.json" ||
    status=$?
  if [ $status -ne 0 ]; then
    echo "$0: $p: mapping $img failed (exit status $status)"
    return 1
  fi
  jq -r "$_merge_map" "$tmp/map.json" > "$tmp/map.plugin" || return 1
  if [ ! -s "$tmp/map.qemu" ] || [ ! -s "$tmp/map.plugin" ]; then
    echo "$0: an empty map of $img"
    return 1
  fi
}

# SHA-256 of what PLUGIN serves for IMG.
served_sha256 ()
{
  local p=$1 img=$2
  shift 2
  nbdkit -U - -r "$(plugin "$p")" file="$img" "$@" \
    --run 'nbdcopy --synchronous "$uri" - | sha256sum' | cut -d' ' -f1
}

# Fail unless STATUS, the exit status of WHAT, is that of a process
# that ended by itself.  128 and above is a process killed by a signal:
# nbdkit itself (a crash in a plugin), or the --run client (nbdkit
# passes its 128+N on).  This is the only way to see a crash: the shell
# prints "Segmentation fault" on the test's own stderr, never in a file
# the command's stderr went to.  ERRFILE, when given, must hold no
# sanitizer report (ASan turns a SIGSEGV into a report and exit 1).
check_not_crashed ()
{
  local status=$1 what=$2 err=${3-}
  if [ "$status" -ge 128 ]; then
    echo "$0: $what died from a signal (exit status $status)"
    return 1
  fi
  if [ -n "$err" ] &&
     grep -Eq 'AddressSanitizer|LeakSanitizer|runtime error:|stack smashing' \
       "$err"; then
    echo "$0: $what: sanitizer report in $err"
    return 1
  fi
}

# Run COMMAND..., which must fail cleanly: an exit status from 1 to 127
# and no sanitizer report.  Its stderr goes to ERRFILE and is printed
# (on stderr again).
#   expect_failure "$tmp/err" nbdkit -U - ... --run true
expect_failure ()
{
  local err=$1 status=0
  shift
  "$@" 2> "$err" || status=$?
  cat "$err" >&2
  if [ "$status" -eq 0 ]; then
    echo "$0: $* unexpectedly succeeded"
    return 1
  fi
  check_not_crashed "$status" "$1" "$err"
}

# Fail if FILE... holds a line matching the extended regular expression
# PATTERN, ignoring case.  (Not `! grep`: set -e ignores a negated
# command, except as the last command of a function.)
refute_grep ()
{
  local pattern=$1
  shift
  if grep -Ei -- "$pattern" "$@"; then
    echo "$0: unexpected match of $pattern in $*"
    return 1
  fi
}

# expect_confined PLUGIN IMG PATH [PARAM...]: opening IMG is refused by
# the path policy, with an error naming PATH (a fixed string) and
# allow-external-files.
expect_confined ()
{
  local p=$1 img=$2 path=$3
  shift 3
  expect_open_error "$p" "$img" 'allow-external-files' "$@"
  grep -qF -- "$path" "$tmp/err" ||
    { echo "$0: the error does not name $path"; return 1; }
}

# Check that opening IMG with PLUGIN fails, without a crash, and that the
# error contains the extended regular expression PATTERN.
expect_open_error ()
{
  local p=$1 img=$2 pattern=$3
  shift 3
  expect_failure "$tmp/err" \
    nbdkit -U - -r "$(plugin "$p")" file="$img" "$@" --run 'true' ||
    return 1
  if ! grep -Eq -- "$pattern" "$tmp/err"; then
    echo "$0: expected an error matching: $pattern"
    return 1
  fi
}

# write_past_full PLUGIN IMG LIMIT_KIB N [PARAM...]: with the files the
# plugin writes limited to LIMIT_KIB KiB (ulimit -f: EFBIG, as a full
# disk), write N MiB to IMG through PLUGIN, one request per MiB, MiB k
# filled with the byte k % 255 + 1.  The run must fail cleanly, saying
# the file is too large, after at least one acknowledged request and
# before the last; then IMG must open and every acknowledged MiB read
# back.  Sets full_acked to the number acknowledged.  The error
# messages are in $tmp/full.err.
write_past_full ()
{
  local p=$1 img=$2 limit=$3 n=$4 k off writes=() reads=()
  shift 4
  for (( k = 0; k < n; k++ )); do
    writes+=(-c "write -P $(( k % 255 + 1 )) $(( k << 20 )) 1M")
  done
  ( trap '' XFSZ
    ulimit -f "$limit"
    expect_failure "$tmp/full.err" \
      nbdkit -U - "$(plugin "$p")" file="$img" "$@" \
      --run "qemu-io -f raw $(printf '%q ' "${writes[@]}") \"\$uri\"" \
      > "$tmp/full.out" ) || return 1
  grep -E 'File too large|No space' "$tmp/full.err" >/dev/null || return 1
  # qemu-io: "wrote 1048576/1048576 bytes at offset OFF" per request.
  for off in $(awk '/^wrote 1048576\/1048576 bytes at offset/ { print $NF }' \
                 "$tmp/full.out"); do
    reads+=(-c "read -P $(( (off >> 20) % 255 + 1 )) $off 1M")
  done
  full_acked=$(( ${#reads[@]} / 2 ))
  echo "write_past_full: $full_acked of $n MiB acknowledged"
  [ $full_acked -ge 1 ] && [ $full_acked -lt $n ] || return 1
  nbdkit -U - -r "$(plugin "$p")" file="$img" "$@" \
    --run "qemu-io -r -f raw $(printf '%q ' "${reads[@]}") \"\$uri\"" \
    > "$tmp/full.read" || return 1
  refute_grep 'verification failed|error' "$tmp/full.read"
  test "$(grep -c '^read 1048576/1048576' "$tmp/full.read")" -eq $full_acked
}

# Like compare_map_with_qemu, but allow PLUGIN to be more precise than
# qemu: every range qemu reports as zero or unallocated must be zero in
# PLUGIN's map, and every range PLUGIN reports as zero must read as zero
# in qemu's decoding of IMG (format FMT).  (qemu reports whole
# allocated VHD/VHDX blocks as data; a plugin may report the zero
# sectors inside them, e.g. from a VHD sector bitmap.)
compare_map_loosely ()
{
  local p=$1 img=$2 fmt=$3 start length
  shift 3
  _maps_qemu_and_plugin "$p" "$img" "$fmt" "$@" || return 1
  # qemu zero => plugin zero: every plugin run overlapping a qemu zero
  # run is zero.
  awk 'NR == FNR { if ($3 == "true") { zs[++n] = $1; ze[n] = $1 + $2 }; next }
       $3 == "false" { for (i = 1; i <= n; i++)
                         if ($1 < ze[i] && zs[i] < $1 + $2) {
                           print "qemu says zero, plugin data: " $0; bad = 1 } }
       END { exit bad }' "$tmp/map.qemu" "$tmp/map.plugin" || return 1
  # plugin zero => the bytes are zero.
  qemu-img convert -f "$fmt" -O raw "$img" "$tmp/map.raw" || return 1
  while read start length zero; do
    [ "$zero" = true ] || continue
    dd if="$tmp/map.raw" iflag=skip_bytes,count_bytes skip=$start \
       count=$length status=none | cmp -s - <(head -c $length /dev/zero) ||
      { echo "plugin says zero at $start+$length, data there"; return 1; }
  done < "$tmp/map.plugin"
  rm -f "$tmp/map.raw"
}
