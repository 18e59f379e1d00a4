# Shared by the bench/ scripts (sourced): timing a command into a file
# of samples, and medians with the interquartile range.
# The caller sets $tmp (with a times/ directory) and $TIMEOUT.

# Run CMD... and append its wall time in seconds (or FAIL) to
# $tmp/times/KEY.  PRE, if set, is run first, untimed.
time_cmd ()                      # KEY CMD...
{
  local key="$1" t0 t1
  shift
  [ -n "${PRE:-}" ] && eval "$PRE"
  t0="$(date +%s.%N)"
  if ! timeout "${TIMEOUT:-900}" "$@" >"$tmp/last.log" 2>&1; then
    echo FAIL >>"$tmp/times/$key"
    sed -n 1,5p "$tmp/last.log" >&2
    return
  fi
  t1="$(date +%s.%N)"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' \
    >>"$tmp/times/$key"
}

stats ()                         # FILE -> "median q1 q3" or FAIL
{
  if [ ! -s "$1" ] || grep -q FAIL "$1"; then echo FAIL; return; fi
  sort -g "$1" | awk '
    function med(lo, hi,  n) { n = hi - lo + 1
      return n % 2 ? v[lo + (n - 1) / 2] : (v[lo + n / 2 - 1] + v[lo + n / 2]) / 2 }
    { v[NR] = $1 }
    END { h = int(NR / 2); if (NR == 1) print v[1], v[1], v[1]
          else print med(1, NR), med(1, h), med(NR - h + 1, NR) }'
}

# How many times as fast X is as Y (medians): above 1, X wins.
ratio ()                         # X Y
{
  awk -v x="$1" -v y="$2" 'BEGIN {
    if (x == "FAIL" || y == "FAIL" || x == "-" || y == "-" || x == 0) print "-"
    else printf "%.2f\n", y / x }'
}
