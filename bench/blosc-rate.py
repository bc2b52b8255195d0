#!/usr/bin/python3
"""Native Blosc on the bench's field, for bench/encoding.ts: the same bytes, read from a file.

    /usr/bin/python3 bench/blosc-rate.py FILE THREADS REPS [TYPESIZE]

Needs python3-blosc (Debian), whose extension links the system libblosc.so.1. The timed calls go
to that library through ctypes, into buffers allocated once, as cr's encoder writes into staging
it allocates once: blosc.compress() would allocate (and fault in) a new output of the field's
size on every call, which times the allocator rather than Blosc. The whole field is one Blosc
buffer, split into blocks that Blosc's THREADS threads compress in parallel.

Prints one JSON object per configuration: wall-clock medians (MB/s) and the process's CPU time
per MiB (ms, median), for compression and decompression, and the ratio. Exit status 3 and a
message on stderr when python3-blosc is missing.
"""
import ctypes
import json
import statistics
import sys
import time

try:
    import blosc
except ImportError:
    sys.stderr.write('not installed: apt-get install python3-blosc\n')
    sys.exit(3)

MIB = 1 << 20
CONFIGS = [
    # (label, compressor, blocksize in bytes or 0 for Blosc's own choice)
    ('zstd-1, shuffle, 1 MiB blocks', b'zstd', MIB),
    ('zstd-1, shuffle, default blocks', b'zstd', 0),
    ('lz4-1, shuffle, default blocks', b'lz4', 0),
]
BLOSC_MAX_OVERHEAD = 16
SHUFFLE = 1
CLEVEL = 1


def main():
    path, threads, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    typesize = int(sys.argv[4]) if len(sys.argv) > 4 else 8  # the element size its shuffle assumes
    lib = ctypes.CDLL('libblosc.so.1')
    lib.blosc_init()
    lib.blosc_compress_ctx.restype = ctypes.c_int
    lib.blosc_compress_ctx.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_size_t,
                                       ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                       ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    lib.blosc_decompress_ctx.restype = ctypes.c_int
    lib.blosc_decompress_ctx.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    with open(path, 'rb') as f:
        data = f.read()
    n = len(data)
    src = ctypes.create_string_buffer(data, n)
    del data
    dst = ctypes.create_string_buffer(n + BLOSC_MAX_OVERHEAD)
    back = ctypes.create_string_buffer(n)
    for label, cname, blocksize in CONFIGS:
        enc_wall, enc_cpu, dec_wall, dec_cpu = [], [], [], []
        stored = 0
        # The first pass warms the buffers and Blosc's threads and is not counted.
        for rep in range(reps + 1):
            w0, c0 = time.perf_counter(), time.process_time()
            stored = lib.blosc_compress_ctx(CLEVEL, SHUFFLE, typesize, n, src, dst, n + BLOSC_MAX_OVERHEAD,
                                            cname, blocksize, threads)
            w1, c1 = time.perf_counter(), time.process_time()
            got = lib.blosc_decompress_ctx(dst, back, n, threads)
            w2, c2 = time.perf_counter(), time.process_time()
            if stored <= 0 or got != n:
                raise SystemExit(f'blosc failed: {label}: compress {stored}, decompress {got}')
            if rep > 0:
                enc_wall.append(w1 - w0)
                enc_cpu.append(c1 - c0)
                dec_wall.append(w2 - w1)
                dec_cpu.append(c2 - c1)
        if ctypes.string_at(back, n) != ctypes.string_at(src, n):
            raise SystemExit(f'blosc failed: {label}: decompressed bytes differ')
        print(json.dumps({
            'label': label,
            'encodeMBps': n / 1e6 / statistics.median(enc_wall),
            'encodeCpuMsPerMiB': statistics.median(enc_cpu) * 1000 / (n / MIB),
            'decodeMBps': n / 1e6 / statistics.median(dec_wall),
            'decodeCpuMsPerMiB': statistics.median(dec_cpu) * 1000 / (n / MIB),
            'ratio': n / stored,
            'version': blosc.blosclib_version.split(' ')[0],
        }), flush=True)


main()
