#!/usr/bin/env python3
"""Write a XenServer-style XVA export for the xdisk tests.

  xva-gen.py OUT.xva [options] NAME:UUID:SIZE:RAWFILE...

Each disk (VDI) is RAWFILE's contents, SIZE bytes (RAWFILE may be
shorter: the rest is zeros).  The layout follows xapi's exporter
(stream_vdi.ml): 1 MiB chunk files Ref:N/%08d, each followed by its
checksum member; chunks of zeros are left out but for the first and the
last.  Options make the awkward cases:

  --checksum sha1|xxhash   .checksum (SHA-1) or .xxhash (XXH64) members
  --format ustar|gnu|pax   tar form (default gnu)
  --keepalive K            an empty chunk file before the K-th chunk
                           written (repeatable), as the exporter writes
                           when it has been idle
  --no-tail                leave out the zero chunks at the end, the
                           last one included (a zero tail)
  --bad-checksum K         a wrong checksum for the K-th chunk written
  --all-chunks             write zero chunks too
  --legacy                 <appliance version="0.1">, gzip'd 1e9 chunks
"""

import argparse
import hashlib
import io
import struct
import sys
import tarfile
import zlib

CHUNK = 1 << 20
M64 = (1 << 64) - 1
P1, P2, P3, P4, P5 = (11400714785074694791, 14029467366897019727,
                      1609587929392839161, 9650029242287828579,
                      2870177450012600261)


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def xxh64(data, seed=0):
    """XXH64, written from the algorithm's description."""
    n = len(data)
    i = 0

    def rnd(acc, lane):
        acc = (acc + lane * P2) & M64
        return (rotl(acc, 31) * P1) & M64

    if n >= 32:
        v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed,
             (seed - P1) & M64]
        while i + 32 <= n:
            lanes = struct.unpack_from('<4Q', data, i)
            v = [rnd(v[k], lanes[k]) for k in range(4)]
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) +
             rotl(v[3], 18)) & M64
        for k in range(4):
            h = ((h ^ rnd(0, v[k])) * P1 + P4) & M64
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        (lane,) = struct.unpack_from('<Q', data, i)
        h = (rotl(h ^ rnd(0, lane), 27) * P1 + P4) & M64
        i += 8
    if i + 4 <= n:
        (lane,) = struct.unpack_from('<I', data, i)
        h = (rotl(h ^ ((lane * P1) & M64), 23) * P2 + P3) & M64
        i += 4
    while i < n:
        h = (rotl(h ^ ((data[i] * P5) & M64), 11) * P1) & M64
        i += 1
    h ^= h >> 33
    h = (h * P2) & M64
    h ^= h >> 29
    h = (h * P3) & M64
    h ^= h >> 32
    return h


def member(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def xml_member(name, value):
    return ('<member><name>%s</name><value>%s</value></member>'
            % (name, value))


def ova_xml(vm, disks):
    objs = ['<value><struct>%s%s%s</struct></value>' % (
        xml_member('class', 'VM'), xml_member('id', 'Ref:0'),
        xml_member('snapshot', '<struct>%s</struct>'
                   % xml_member('name_label', vm)))]
    for k, d in enumerate(disks):
        snap = ''.join([xml_member('uuid', d['uuid']),
                        xml_member('name_label', d['name']),
                        xml_member('virtual_size', str(d['size']))])
        objs.append('<value><struct>%s%s%s</struct></value>' % (
            xml_member('class', 'VDI'), xml_member('id', d['ref']),
            xml_member('snapshot', '<struct>%s</struct>' % snap)))
    return ('<value><struct>%s%s</struct></value>' % (
        xml_member('version', '<struct>%s</struct>'
                   % xml_member('export_vsn', '2')),
        xml_member('objects', '<array><data>%s</data></array>'
                   % ''.join(objs)))).encode()


def write_disk(tar, d, opts):
    data = open(d['file'], 'rb').read()[:d['size']]
    size = d['size']
    nchunks = (size + CHUNK - 1) // CHUNK
    last = nchunks - 1
    if opts.no_tail:
        while last > 0 and not any(data[last * CHUNK:(last + 1) * CHUNK]):
            last -= 1
        last_forced = False
    else:
        last_forced = True
    num = 0
    written = 0
    for i in range(nchunks):
        buf = data[i * CHUNK:(i + 1) * CHUNK]
        this = min(CHUNK, size - i * CHUNK)
        buf = buf + bytes(this - len(buf))
        first_or_last = i == 0 or (i == nchunks - 1 and last_forced)
        if opts.no_tail and i > last:
            break
        if not (first_or_last or opts.all_chunks or any(buf)):
            num += 1
            continue
        if written in opts.keepalive:
            write_chunk(tar, d, num, b'', opts, False)
            num += 1
        write_chunk(tar, d, num, buf, opts, written in opts.bad_checksum)
        written += 1
        num += 1


def write_chunk(tar, d, num, buf, opts, bad):
    name = '%s/%08d' % (d['ref'], num)
    member(tar, name, buf)
    if opts.checksum == 'xxhash':
        csum = ('%016X' % xxh64(buf)).encode()
        ext = '.xxhash'
    else:
        csum = hashlib.sha1(buf).hexdigest().encode()
        ext = '.checksum'
    if bad:
        csum = (b'0' if csum[:1] != b'0' else b'1') + csum[1:]
    member(tar, name + ext, csum)


def write_legacy(tar, vm, disks):
    vdis = ''.join('<vdi name="%s" size="%d" source="file://%s" '
                   'type="dir-gzipped-chunks" variety="system"/>'
                   % (d['name'], d['size'], d['ref']) for d in disks)
    member(tar, 'ova.xml', ('<?xml version="1.0"?><appliance version="0.1">'
                            '<vm name="vm"><label>%s</label>%s</vm>'
                            '</appliance>' % (vm, vdis)).encode())
    step = 1000000000
    for d in disks:
        with open(d['file'], 'rb') as f:
            for k, off in enumerate(range(0, max(d['size'], 1), step)):
                n = min(step, d['size'] - off)
                c = zlib.compressobj(1, zlib.DEFLATED, 31)
                out = []
                left = n
                while left > 0:
                    piece = f.read(min(left, 1 << 24))
                    piece += bytes(min(left, 1 << 24) - len(piece))
                    out.append(c.compress(piece))
                    left -= len(piece)
                out.append(c.flush())
                member(tar, '%s/chunk-%09d.gz' % (d['ref'], k), b''.join(out))


def gzip_bytes(b):
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(b) + c.flush()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('out')
    ap.add_argument('disks', nargs='+')
    ap.add_argument('--checksum', default='sha1', choices=['sha1', 'xxhash'])
    ap.add_argument('--format', default='gnu', choices=['ustar', 'gnu', 'pax'])
    ap.add_argument('--keepalive', type=int, action='append', default=[])
    ap.add_argument('--bad-checksum', type=int, action='append', default=[])
    ap.add_argument('--no-tail', action='store_true')
    ap.add_argument('--all-chunks', action='store_true')
    ap.add_argument('--legacy', action='store_true')
    ap.add_argument('--vm', default='test vm')
    opts = ap.parse_args()
    disks = []
    for k, spec in enumerate(opts.disks):
        name, uuid, size, path = spec.split(':', 3)
        disks.append({'name': name, 'uuid': uuid, 'size': int(size),
                      'file': path,
                      'ref': 'sd%s' % chr(ord('a') + k) if opts.legacy
                      else 'Ref:%d' % (10 + 3 * k)})
    fmt = {'ustar': tarfile.USTAR_FORMAT, 'gnu': tarfile.GNU_FORMAT,
           'pax': tarfile.PAX_FORMAT}[opts.format]
    with tarfile.open(opts.out, 'w', format=fmt) as tar:
        if opts.legacy:
            write_legacy(tar, opts.vm, disks)
        else:
            member(tar, 'ova.xml', ova_xml(opts.vm, disks))
            for d in disks:
                write_disk(tar, d, opts)


if __name__ == '__main__':
    sys.exit(main())
