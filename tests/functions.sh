# xdisk test helpers, sourced by every shell test:
#
#   source "$srcdir/functions.sh"
#   set -e -x
#
# Environment (set by tests/Makefile.am): top_builddir, top_srcdir,
# srcdir, XDISK_SHARED (the ../shared directory, which may be absent).

# Exit 77 (automake: SKIP) unless COMMAND... succeeds.
requires ()
{
  if ! "$@" >/dev/null 2>&1; then
    echo "$0: test skipped because '$*' failed"
    exit 77
  fi
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

# nbdkit -U - ARGS... --run CMD, without the fork (see above).
_nbdkit_serve_and_run ()
{
  local cmd=$1 dir pid dog r=0 s=0 i
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
    kill -TERM "$(cat "$dir/pid")" 2>/dev/null || :
    # Its exit can still hang in p11-kit's destructor after an error
    # message earlier in the run (the leak check has run by then):
    # give it 30 s, then end it without counting that against the test.
    for (( i = 0; i < 300; i++ )); do
      _running "$pid" || break
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
  if [ ! -e "$src" ]; then
    echo "$0: test skipped because $src is not present"
    exit 77
  fi
  case "$src" in
    *.gz)  gzip -dc "$src" > "$dest" ;;
    *.bz2) bzip2 -dc "$src" > "$dest" ;;
    *)     cp "$src" "$dest" ;;
  esac
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
  qemu-img map -f "$fmt" --output=json "$img" | jq -r "$_merge_map" \
    > "$tmp/map.qemu"
  nbdkit -U - -r "$(plugin "$p")" file="$img" "$@" \
    --run "qemu-img map -f raw --output=json \"\$uri\"" |
    jq -r "$_merge_map" > "$tmp/map.plugin"
  diff -u "$tmp/map.qemu" "$tmp/map.plugin"
}

# SHA-256 of what PLUGIN serves for IMG.
served_sha256 ()
{
  local p=$1 img=$2
  shift 2
  nbdkit -U - -r "$(plugin "$p")" file="$img" "$@" \
    --run 'nbdcopy --synchronous "$uri" - | sha256sum' | cut -d' ' -f1
}

# Check that opening IMG with PLUGIN fails and that the error contains
# the extended regular expression PATTERN.
expect_open_error ()
{
  local p=$1 img=$2 pattern=$3
  shift 3
  if nbdkit -U - -r "$(plugin "$p")" file="$img" "$@" --run 'true' \
       2> "$tmp/err"; then
    echo "$0: opening $img unexpectedly succeeded"
    return 1
  fi
  cat "$tmp/err"
  if ! grep -Eq -- "$pattern" "$tmp/err"; then
    echo "$0: expected an error matching: $pattern"
    return 1
  fi
  # A crash is never a clean refusal.
  if grep -Eq 'Segmentation|Aborted|AddressSanitizer|core dumped' "$tmp/err"
  then
    echo "$0: the plugin crashed"
    return 1
  fi
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
  qemu-img map -f "$fmt" --output=json "$img" | jq -r "$_merge_map" \
    > "$tmp/map.qemu"
  nbdkit -U - -r "$(plugin "$p")" file="$img" "$@" \
    --run 'qemu-img map -f raw --output=json "$uri"' |
    jq -r "$_merge_map" > "$tmp/map.plugin"
  # qemu zero => plugin zero: every plugin run overlapping a qemu zero
  # run is zero.
  awk 'NR == FNR { if ($3 == "true") { zs[++n] = $1; ze[n] = $1 + $2 }; next }
       $3 == "false" { for (i = 1; i <= n; i++)
                         if ($1 < ze[i] && zs[i] < $1 + $2) {
                           print "qemu says zero, plugin data: " $0; bad = 1 } }
       END { exit bad }' "$tmp/map.qemu" "$tmp/map.plugin"
  # plugin zero => the bytes are zero.
  qemu-img convert -f "$fmt" -O raw "$img" "$tmp/map.raw"
  while read start length zero; do
    [ "$zero" = true ] || continue
    dd if="$tmp/map.raw" iflag=skip_bytes,count_bytes skip=$start \
       count=$length status=none | cmp -s - <(head -c $length /dev/zero) ||
      { echo "plugin says zero at $start+$length, data there"; return 1; }
  done < "$tmp/map.plugin"
  rm -f "$tmp/map.raw"
}
