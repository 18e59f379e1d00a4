#!/usr/bin/env bash
# verify=true beyond the first line of the manifest: an OVA of three
# disks (one of them chunked) whose manifest lists the descriptor first,
# then each file, in SHA-1, SHA-256 and SHA-512 and in both styles.  A
# wrong digest on any one line refuses the disk of that line (naming
# it) and no other; a wrong digest of the .ovf refuses every disk; a
# digest cut short is no digest.  Each disk served is compared byte for
# byte with the file it came from.
source "$srcdir/functions.sh"
source "$srcdir/ova-functions.sh"
set -e -x

requires_plugin diskx
requires qemu-img --version
requires qemu-io --version
requires nbdcopy --version
requires tar --version
make_tmpdir
cd "$tmp"

size=$(( 4 << 20 ))
for i in 0 1 2; do
  truncate -s $size d$i.raw
  qemu-io -f raw -c "write -P $(( 0x41 + i )) $(( i * 65536 )) 1M" d$i.raw >/dev/null
done
qemu-img convert -f raw -O vmdk -o subformat=streamOptimized d0.raw d0.vmdk
qemu-img convert -f raw -O vpc -o subformat=dynamic,force_size=on d1.raw d1.vhd
cp d2.raw d2.img
split -b 1500000 -d -a 9 d2.img d2.img.
make_ovf app.ovf $size d0.vmdk d1.vhd 'd2.img:ovf:chunkSize="1500000"'
files=(app.ovf d0.vmdk d1.vhd d2.img.0*)

# ova NAME MANIFEST: the appliance with MANIFEST as its .mf.
ova ()
{
  cp "$2" app.mf
  tar -cf "$1" app.ovf app.mf d0.vmdk d1.vhd d2.img.0*
}

# serves OVA DISK: verify=true serves DISK, and it reads as dDISK.raw.
serves ()
{
  serve_to_raw diskx "$1" out.raw disk=$2 verify=true
  cmp out.raw d$2.raw
}

# wrong MANIFEST LINE: MANIFEST with the last hex digit of the digest
# on LINE changed (test-ova.sh changes the first).
wrong ()
{
  perl -pe 'if ($. == '$2') { s/([0-9a-f])$/$1 eq "0" ? "1" : "0"/e }' "$1"
}

# Every style and digest: all three disks served.
mf_sha512 () { local f; for f; do echo "SHA512($f)= $(sha512sum < "$f" | cut -d' ' -f1)"; done; }
make_mf_ovftool "${files[@]}" > sha256.mf
make_mf_vbox "${files[@]}" > sha1.mf
mf_sha512 "${files[@]}" > sha512.mf
for mf in sha256 sha1 sha512; do
  ova good-$mf.ova $mf.mf
  for d in 0 1 2; do serves good-$mf.ova $d; done
done

# A wrong digest on line N (2: d0.vmdk, 3: d1.vhd, 4 and 5: chunks of
# d2.img): that disk refused, naming the file, the others served.
for mf in sha256 sha1; do
  for line in 2 3 4 5; do
    wrong $mf.mf $line > bad.mf
    ova bad.ova bad.mf
    file=${files[line - 1]}
    case $file in d2.img.*) bad=2 ;; *) bad=${file:1:1} ;; esac
    for d in 0 1 2; do
      if [ $d = $bad ]; then
        expect_open_error diskx bad.ova "\"$file\" does not match the manifest" \
          disk=$d verify=true
      else
        serves bad.ova $d
      fi
    done
    # Without verify=true, the bad disk is served as it is.
    serve_to_raw diskx bad.ova out.raw disk=$bad
    cmp out.raw d$bad.raw
  done
done

# A wrong digest of the descriptor (line 1): no disk is served.
for mf in sha256 sha1 sha512; do
  wrong $mf.mf 1 > bad.mf
  ova badovf.ova bad.mf
  for d in 0 1 2; do
    expect_open_error diskx badovf.ova '"app.ovf" does not match the manifest' \
      disk=$d verify=true
  done
done

# A digest one hex digit short (line 3) is not a digest of d1.vhd.
sed '3s/.$//' sha256.mf > short.mf
ova short.ova short.mf
expect_open_error diskx short.ova 'manifest has no digest for "d1.vhd"' \
  disk=1 verify=true
serves short.ova 2
