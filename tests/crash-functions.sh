# Crash tests through nbdkit (sourced after functions.sh):
#
#   source "$srcdir/crash-functions.sh"
#   crash_kill_test PLUGIN IMAGE ITERATIONS CHECK [PARAM=VALUE...]
#
# Each iteration serves IMAGE writable with PLUGIN, runs tests/crash-
# client's random writes, zeros and flushes against it, kills nbdkit
# with SIGKILL after the client's Nth completed flush (and M requests
# more), checks that the client lost its connection, and then:
#  - serves the image again (it must open) and has crash-client verify
#    every sector: each holds what was written there before the last
#    completed flush, or something written after it, nothing else;
#  - runs CHECK IMAGE (a command: qemu-img check, tests/xdisk-check...)
#    which must succeed;
#  - keeps the disk's contents as the base of the next iteration.
# The random seeds come from the iteration number, so a failure can be
# repeated.  Sets crash_kills to the number of kills done.

crash_client="$top_builddir/tests/crash-client"
xdisk_check="$top_builddir/tests/xdisk-check"

requires_crash_client ()
{
  requires test -x "$crash_client"
}

# Serve IMAGE writable on the Unix socket SOCK in the background; set
# crash_pid to nbdkit's own pid (not a wrapper's: see nbdkit_cmd) and
# crash_server to the background job's.
_crash_serve ()
{
  local p=$1 img=$2 sock=$3
  shift 3
  rm -f "$sock" "$tmp/crash.pid"
  "${nbdkit_cmd[@]}" -f -U "$sock" -P "$tmp/crash.pid" "$(plugin "$p")" \
    file="$img" "$@" &
  crash_server=$!
  wait_for 60 "nbdkit to listen on $sock" \
    _crash_listening "$sock" "$crash_server"
  crash_pid=$(cat "$tmp/crash.pid")
}

_crash_listening ()
{
  [ -s "$tmp/crash.pid" ] && [ -S "$1" ] && return 0
  _running "$2" || return 2
  return 1
}

# _crash_logged PATTERN N LOG CLIENT: true once LOG has N lines matching
# PATTERN; 2 (give up) once the client process CLIENT is gone.
_crash_logged ()
{
  [ "$(grep -c "$1" "$3")" -ge "$2" ] && return 0
  _running "$4" || return 2
  return 1
}

crash_kill_test ()
{
  local p=$1 img=$2 iters=$3 check=$4 i flushes more status
  shift 4
  local sock="$tmp/crash.sock" base="$tmp/crash-base.raw"
  local log="$tmp/crash.log"

  crash_kills=0
  serve_to_raw "$p" "$img" "$base" "$@"
  for (( i = 1; i <= iters; i++ )); do
    : > "$log"
    _crash_serve "$p" "$img" "$sock" "$@"
    "$crash_client" run "$sock" "$i" 100000 64 "$log" &
    local client=$!
    # The kill comes after the client's Nth completed flush and then M
    # more requests sent (N from 1 to 60, about 8 requests each, M from
    # 0 to 8, both from the iteration number): a moment that varies
    # between iterations, never before a flush, and not earlier when
    # the machine is loaded.
    flushes=$(( 1 + (i * 37 + 5) % 60 )) more=$(( i * 5 % 9 ))
    wait_for 120 "flush $flushes of crash-client" \
      _crash_logged '^F' $flushes "$log" $client
    more=$(( $(grep -c '^I' "$log") + more ))
    wait_for 120 "request $more of crash-client" \
      _crash_logged '^I' $more "$log" $client
    kill -9 "$crash_pid"
    status=0
    wait "$client" || status=$?
    wait "$crash_server" || :          # killed: 137
    crash_kills=$(( crash_kills + 1 ))
    echo "kill $i: after $(grep -c '^F' "$log") flushes," \
      "$(grep -c '^I' "$log") requests"
    # crash-client exits 3 when a request fails on its connection (0
    # would be a run that ended before the kill, 2 an error of its own,
    # 128 and up a crash).
    if [ $status -ne 3 ]; then
      echo "$0: crash-client exited with status $status, not 3 (connection lost)"
      return 1
    fi

    nbdkit -U - "$(plugin "$p")" file="$img" "$@" \
      --run "'$crash_client' verify \"\$unixsocket\" $i '$log' '$base'"
    $check "$img"
    serve_to_raw "$p" "$img" "$base" "$@"
  done
}

# Several clients at once over multi-conn, each writing its own stripe
# of the disk, then every sector verified.
crash_concurrent_test ()
{
  local p=$1 img=$2 threads=$3 check=$4
  shift 4
  local base="$tmp/conc-base.raw" log="$tmp/conc.log"

  rm -f "$log"
  serve_to_raw "$p" "$img" "$base" "$@"
  nbdkit -U - "$(plugin "$p")" file="$img" "$@" \
    --run "'$crash_client' run \"\$unixsocket\" 4242 $(( threads * 300 )) 40 '$log' $threads"
  nbdkit -U - "$(plugin "$p")" file="$img" "$@" \
    --run "'$crash_client' verify \"\$unixsocket\" 4242 '$log' '$base'"
  $check "$img"
}
