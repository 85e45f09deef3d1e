"""Fuzz deconvkit.io.read_image: mutated PNG, JPEG, TIFF and NPY files must give an image or one InputError /
MemoryLimitError line, never another exception, a hang or a warning escaping.

A mutational fuzzer in the style of atheris/libFuzzer, kept dependency-free so it runs anywhere: it starts
from small valid files of every format and kind the readers handle (grey, RGB, RGBA, 16-bit, palette, CMYK,
planar and multi-page TIFF, compressed TIFF, NPY of several dtypes) and applies random mutations (byte
flips, truncation, insertion and deletion of runs, splicing two seeds, overwriting with "interesting"
integers such as 0xFFFFFFFF, which is how header fields claiming huge sizes arise). Each input is written to
a file (read_image takes paths) and read once. Inputs whose outcome is not allowed are saved under
``--crashes`` for reproduction.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/fuzz_readers.py --inputs 20000 --seed 1

prints the number of inputs tried and the outcome counts; exit status 1 if any input failed.
"""

from __future__ import annotations

import argparse
import collections
import io as pyio
import os
import random
import signal
import struct
import sys
import tempfile
import time
import traceback
import warnings

import numpy as np


def seeds() -> dict[str, bytes]:
    """Small valid files (name -> bytes) covering the reader paths."""
    import imageio.v3 as iio
    import tifffile
    from PIL import Image

    rng = np.random.default_rng(0)
    out = {}

    def tiff(data, **kwargs):
        buffer = pyio.BytesIO()
        tifffile.imwrite(buffer, data, **kwargs)
        return buffer.getvalue()

    def pillow(image, fmt, **kwargs):
        buffer = pyio.BytesIO()
        image.save(buffer, format=fmt, **kwargs)
        return buffer.getvalue()

    grey = rng.integers(0, 255, (16, 12), endpoint=True).astype(np.uint8)
    rgb = rng.integers(0, 255, (10, 9, 3), endpoint=True).astype(np.uint8)
    rgba = rng.integers(0, 255, (8, 7, 4), endpoint=True).astype(np.uint8)
    out["grey.png"] = iio.imwrite("<bytes>", grey, extension=".png")
    out["rgba.png"] = iio.imwrite("<bytes>", rgba, extension=".png")
    out["grey16.png"] = iio.imwrite("<bytes>", grey.astype(np.uint16) * 257, extension=".png")
    palette = Image.fromarray(grey % 4).convert("P")
    out["palette.png"] = pillow(palette, "PNG", transparency=0)
    out["rgb.jpg"] = iio.imwrite("<bytes>", rgb, extension=".jpg")
    out["cmyk.jpg"] = pillow(Image.fromarray(rgba, mode="CMYK"), "JPEG")
    out["grey16.tif"] = tiff(grey.astype(np.uint16) * 16)
    out["rgb.tif"] = tiff(rgb, photometric="rgb")
    out["planar.tif"] = tiff(np.moveaxis(rgb, -1, 0), photometric="rgb", planarconfig="separate")
    out["rgba.tif"] = tiff(rgba, photometric="rgb", extrasamples=["unassalpha"])
    out["stack.tif"] = tiff(np.stack([grey, grey[::-1]]))
    out["zlib.tif"] = tiff(grey, compression="zlib")
    out["float.tif"] = tiff(rng.random((6, 5)).astype(np.float32))
    colormap = np.zeros((3, 256), np.uint16)
    colormap[:, :4] = rng.integers(0, 65535, (3, 4))
    out["palette.tif"] = tiff(grey % 4, photometric="palette", colormap=colormap)
    out["cmyk.tif"] = tiff(rgba, photometric="separated")
    for dtype in ("uint8", "int64", "float64", "uint32"):
        buffer = pyio.BytesIO()
        np.save(buffer, rng.integers(0, 200, (5, 6)).astype(dtype))
        out[f"{dtype}.npy"] = buffer.getvalue()
    return out


INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


def mutate(data: bytes, corpus: list[bytes], rnd: random.Random) -> bytes:
    buf = bytearray(data)
    for _ in range(rnd.randint(1, 4)):
        choice = rnd.randrange(7)
        if not buf:
            buf = bytearray(rnd.randbytes(rnd.randint(1, 64)))
        position = rnd.randrange(len(buf))
        if choice == 0:  # flip bits
            buf[position] ^= 1 << rnd.randrange(8)
        elif choice == 1:  # random byte
            buf[position] = rnd.randrange(256)
        elif choice == 2:  # truncate
            del buf[rnd.randrange(len(buf)):]
        elif choice == 3:  # delete a run
            del buf[position:position + rnd.randint(1, 64)]
        elif choice == 4:  # insert a random run
            buf[position:position] = rnd.randbytes(rnd.randint(1, 64))
        elif choice == 5:  # overwrite with an interesting integer, as a header field would hold
            value = rnd.choice(INTERESTING)
            fmt = rnd.choice(["<H", ">H", "<I", ">I"])
            packed = struct.pack(fmt, value & (0xFFFF if "H" in fmt else 0xFFFFFFFF))
            buf[position:position + len(packed)] = packed
        else:  # splice with another seed
            other = rnd.choice(corpus)
            cut = rnd.randrange(len(other) + 1)
            buf = buf[:position] + bytearray(other[cut:])
    return bytes(buf)


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20000, help="number of inputs to try")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds allowed per input")
    parser.add_argument("--crashes", default="fuzz_crashes", help="folder for inputs that failed")
    args = parser.parse_args(argv)

    from deconvkit import InputError, MemoryLimitError, io

    corpus_named = seeds()
    names = sorted(corpus_named)
    corpus = [corpus_named[n] for n in names]
    rnd = random.Random(args.seed)
    outcomes = collections.Counter()
    failures = []
    started = time.perf_counter()
    signal.signal(signal.SIGALRM, _alarm)
    with tempfile.TemporaryDirectory() as folder:
        for index in range(args.inputs):
            name = rnd.choice(names)
            data = mutate(corpus_named[name], corpus, rnd) if index >= len(names) else corpus_named[name]
            # The extension is sometimes wrong: the readers go by content, and must say so when it differs.
            extension = os.path.splitext(name)[1] if rnd.random() < 0.8 else rnd.choice([".png", ".tif", ".bin"])
            path = os.path.join(folder, f"input{extension}")
            with open(path, "wb") as handle:
                handle.write(data)
            signal.setitimer(signal.ITIMER_REAL, args.timeout)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("error")  # a warning escaping to the user is a failure too
                    image, info = io.read_image(path)
                if not (image.size and np.isfinite(image).all() or info.dtype.kind == "f"):
                    raise AssertionError("integer image decoded to non-finite values")
                outcomes["image"] += 1
            except (InputError, MemoryLimitError) as exc:
                if "\n" in str(exc):
                    failures.append((index, name, data, f"multi-line message: {exc!r}"))
                outcomes[type(exc).__name__] += 1
            except Timeout:
                failures.append((index, name, data, f"took over {args.timeout} s"))
                outcomes["timeout"] += 1
            except BaseException as exc:  # anything else is what the fuzzer looks for
                if isinstance(exc, KeyboardInterrupt):
                    raise
                failures.append((index, name, data, "".join(traceback.format_exception_only(exc)).strip()))
                outcomes["other:" + type(exc).__name__] += 1
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    elapsed = time.perf_counter() - started
    print(f"inputs tried: {args.inputs} (seed {args.seed}, {len(names)} seed files) in {elapsed:.1f} s")
    for outcome, count in sorted(outcomes.items()):
        print(f"  {outcome}: {count}")
    if failures:
        os.makedirs(args.crashes, exist_ok=True)
        for index, name, data, why in failures[:50]:
            with open(os.path.join(args.crashes, f"{index}_{name}"), "wb") as handle:
                handle.write(data)
            print(f"FAILED input {index} (from {name}): {why}")
        print(f"{len(failures)} failures; inputs saved in {args.crashes}/")
        return 1
    print("no failures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
