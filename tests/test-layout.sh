#!/usr/bin/env bash
# The shape common/ promises (common/Makefile.am): the read side never
# calls the write side.  libxdisk.la (every reader, the registry, the io
# layers) must not use a symbol that libxdiskwrite.la (the writers,
# creators, checkers and the tables composing them) defines, and no
# read-side file includes a writer's header.  The filters and the
# reader fuzzers link libxdisk.la alone, so a reader that called a
# writer would also stop them linking; this says which symbol.
source "$srcdir/functions.sh"
set -e

requires nm --version
read_lib=$top_builddir/common/.libs/libxdisk.a
write_lib=$top_builddir/common/.libs/libxdiskwrite.a
[ -f "$read_lib" ] && [ -f "$write_lib" ] || {
    echo "$0: $read_lib or $write_lib not built"; exit 1; }

# Each library's defined (global) and undefined symbols.
defined () { nm --defined-only -g "$1" | awk 'NF == 3 { print $3 }' | sort -u; }
undefined () { nm -u "$1" | awk '$1 == "U" { print $2 }' | sort -u; }

defined "$write_lib" > write-defined.$$
undefined "$read_lib" > read-undefined.$$
trap 'rm -f write-defined.$$ read-undefined.$$' EXIT
# The check must be able to see something: the write side defines the
# composed tables, and the read side uses the registry's readers.
grep -qx xd_format_vdi write-defined.$$
grep -qx xd_format_writable write-defined.$$

calls=$(comm -12 read-undefined.$$ write-defined.$$)
if [ -n "$calls" ]; then
    echo "$0: the read side (libxdisk.la) calls the write side:"
    echo "$calls"
    for sym in $calls; do
        nm -A -u "$read_lib" | awk -v s="$sym" '$NF == s { print "  used in " $1 }'
    done
    exit 1
fi

# Read-side sources: what each common/*/Makefile.inc adds to
# libxdisk_la_SOURCES (the assignment and its continuation lines).
read_side ()
{
    awk '/^libxdisk_la_SOURCES \+=/ { on = 1 }
         on { print; if ($0 !~ /\\$/) on = 0 }' "$1" |
        grep -o '%D%/[A-Za-z0-9_.-]*\.[ch]' | sed 's|%D%/||'
}
n=0
for dir in "$top_srcdir"/common/*/; do
    for f in $(read_side "$dir/Makefile.inc"); do
        n=$((n + 1))
        refute_grep '#include "[a-z0-9]+/(vdi|vhdx?|vmdk|qcow2)[a-z0-9-]*-(write|create|stream|check|pipe)\.h"' \
            "$dir$f"
    done
done
echo "read-side files checked: $n"
[ "$n" -gt 40 ]
