"""Decodes FILE (HEIC through pillow-heif's libheif and libde265, AVIF through Pillow's own
libavif and dav1d) RUNS times in one process, and prints two medians in milliseconds: the
decode alone, and the decode plus attachd's default pair (a 256 px WebP q80 and a 1280 px JPEG
q85, both inside their box, Lanczos), made from the one decode as a Pillow user writes it.
The first run warms up and is discarded.

    python pillow_decode.py FILE RUNS
"""

import io
import statistics
import sys
import time

import pillow_heif
from PIL import Image

# One thread, as the sandbox has: libheif's own decoding threads off.
pillow_heif.options.DECODE_THREADS = 1
pillow_heif.register_heif_opener()


def decode(path):
    image = Image.open(path)
    image.load()
    return image


def pair(image):
    for side, fmt, quality in ((256, "WEBP", 80), (1280, "JPEG", 85)):
        variant = image.convert("RGB").copy()
        variant.thumbnail((side, side), Image.Resampling.LANCZOS)
        variant.save(io.BytesIO(), fmt, quality=quality)


def main():
    path, runs = sys.argv[1], int(sys.argv[2])
    decode(path)
    decodes, pairs = [], []
    for _ in range(runs):
        start = time.perf_counter()
        image = decode(path)
        decodes.append(time.perf_counter() - start)
        pair(image)
        pairs.append(time.perf_counter() - start)
    print(f"{statistics.median(decodes) * 1000:.2f} {statistics.median(pairs) * 1000:.2f}")


main()
