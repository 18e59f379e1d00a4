#!/usr/bin/env bash
# qcow2 images from ../shared/corpus (skips without it), served bytes
# checked against the SHA-256 digests in SOURCES.md: zlib and zstd
# compression, internal snapshots, a backing chain, an external data
# file, extended L2 entries over a backing file.
source "$srcdir/functions.sh"
set -e -x

requires_plugin qcow2x
requires nbdcopy --version
requires nbdinfo --version
requires_corpus qcow2
make_tmpdir

# corpus_xz REL DEST: like corpus_file, for the .xz files.
corpus_xz ()
{
  requires xz --version
  xz -dc "$XDISK_SHARED/corpus/$1" > "$2"
}

# FILE SIZE DIGEST [PARAMS]: served size and SHA-256.
check_digest ()
{
  local img=$1 size=$2 digest=$3
  shift 3
  test "$(nbdkit -U - -r "$(plugin qcow2x)" file="$img" "$@" \
            --run 'nbdinfo --size "$uri"')" -eq "$size"
  test "$(served_sha256 qcow2x "$img" "$@")" = "$digest"
}

basic=3c86a52ad19ebbe34acffb812d276817ddca56522eb72de2b984d70ffb20582f

corpus_file qcow2/dissect-basic.qcow2.gz "$tmp/basic.qcow2"
check_digest "$tmp/basic.qcow2" 536870912 $basic

corpus_file qcow2/dissect-basic-zstd.qcow2.gz "$tmp/zstd.qcow2"
if nbdkit "$(plugin qcow2x)" --dump-plugin |
     grep -q '^qcow2x_compression=.*zstd'; then
  check_digest "$tmp/zstd.qcow2" 536870912 $basic
else
  # Built without libzstd: the reads fail, saying why.
  expect_failure "$tmp/err" \
    nbdkit -U - -r "$(plugin qcow2x)" file="$tmp/zstd.qcow2" \
      --run 'nbdcopy --synchronous "$uri" null:'
  grep 'built without libzstd' "$tmp/err"
fi

corpus_file qcow2/dissect-snapshot.qcow2.gz "$tmp/snap.qcow2"
check_digest "$tmp/snap.qcow2" 536870912 \
  9acca8e8c22201155389f65abbf6bc9723edc7384ead80503839f49dcc56d767
nbdkit -U - -r "$(plugin qcow2x)" file="$tmp/snap.qcow2" \
  --run 'nbdinfo "$uri"' > "$tmp/info"
grep "2 internal snapshots:.*\"you can't see me\".*\"confused\"" "$tmp/info"
# Each snapshot, by id and by name, as qemu-img 7.2 decodes it
# (qemu-img convert -l SNAPSHOT).
snap1=dcaa5c00cf9dd477e4f866cc492007d28800938c634db39710f6634afef69aee
snap2=0b3429b0a152c45d87f4e1068b9030c47490da4f29089bf8152d526944e771a7
test "$(served_sha256 qcow2x "$tmp/snap.qcow2" snapshot=1)" = $snap1
test "$(served_sha256 qcow2x "$tmp/snap.qcow2" snapshot="you can't see me")" = $snap1
test "$(served_sha256 qcow2x "$tmp/snap.qcow2" snapshot=2)" = $snap2
test "$(served_sha256 qcow2x "$tmp/snap.qcow2" snapshot=confused)" = $snap2

mkdir "$tmp/chain"
for i in 1 2 3; do
  corpus_file qcow2/dissect-backing-chain/backing-chain-$i.qcow2.gz \
    "$tmp/chain/backing-chain-$i.qcow2"
done
check_digest "$tmp/chain/backing-chain-1.qcow2" 536870912 \
  186334af67c1acb54b08ded0b6a419571000755d4c810c8b768a30281e2ab074
check_digest "$tmp/chain/backing-chain-2.qcow2" 536870912 \
  8e2e850f2a31828f6f053f70f1fbfa71a42ce0571c6d8cd2a7ca0e21e1db8341
check_digest "$tmp/chain/backing-chain-3.qcow2" 536870912 \
  4a57a3a5c273c7c1144743ecafc7b23181f6e23c8abad104493a63a3599bd276

mkdir "$tmp/df"
corpus_file qcow2/dissect-data-file/data-file.qcow2.gz "$tmp/df/data-file.qcow2"
corpus_file qcow2/dissect-data-file/data-file.bin.gz "$tmp/df/data-file.bin"
check_digest "$tmp/df/data-file.qcow2" 536870912 $basic

mkdir "$tmp/ext"
corpus_xz qcow2/qemu-extended-l2/base.qcow2.xz "$tmp/ext/base.qcow2"
corpus_xz qcow2/qemu-extended-l2/extended-l2.qcow2.xz \
  "$tmp/ext/extended-l2.qcow2"
check_digest "$tmp/ext/base.qcow2" 4194304 \
  9f0d861b9f1f3b4187f921fe1f48d8552e27c3fe43098900016986ce0b73a910
check_digest "$tmp/ext/extended-l2.qcow2" 4194304 \
  63da11673b72c241f4fd4dfec3824d00dabab8b428e88229ba1b19e2a1fa0edf
