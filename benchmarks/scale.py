"""Scale-out benchmarks for deconvkit.scale (results in docs/benchmarks_scale.md, exact commands there).

``--overlap``
    How much overlap each method needs: tiles with an overlap of ``factor`` PSF extents per side against
    the whole-array :func:`deconvkit.deconvolve` with the same (explicit) parameters; the largest
    difference more than two PSF extents away from the outer border, float32, 2-D and 3-D, two noise
    levels. The smallest factor under 1e-4 in every case sets ``OVERLAP_FACTORS``.
``--overhead``
    Tiled (2 x 2 tiles, one core) against the whole-array call on images that fit in memory, several
    sizes (``--size 512,1024,2048``): the same call (each chooses its own parameters) and the same
    problem (the tiles' parameters given to both).
``--stack``
    A 3-D float32 stack at least 4x larger than the memory given to each worker of a
    ``distributed.LocalCluster`` (``memory_limit``), Zarr in, Zarr out, with 1 and 2 workers: wall time,
    throughput, peak RSS per worker (sampled by the workers' own memory monitor), bytes per voxel.
``--scaling``
    1 vs 2 workers on the threads scheduler and on a ``LocalCluster`` of single-threaded workers, the
    four configurations in rotated rounds (``--repeats``): median, range, speed-up, CPU seconds used and
    the load average before and after. Self-contained, about 2-3 minutes on an idle 2-core machine:
    ``OMP_NUM_THREADS=1 DECONVKIT_WORKERS=1 python benchmarks/scale.py --scaling``.
``--allocator``
    Why a LocalCluster worker is slower than the threads scheduler on tiles of a few MB: dask's nanny
    sets ``MALLOC_TRIM_THRESHOLD_``, which fixes glibc's mmap threshold at 128 kB.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import tempfile
import time

import numpy as np
import scipy.ndimage

import deconvkit
from deconvkit.psf import gaussian

TOLERANCE = 1e-4
FACTORS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


def texture(shape, seed=0, smooth=1.0):
    """A sharp random texture in [0, 1] (blobs and edges at several scales)."""
    rng = np.random.default_rng(seed)
    image = scipy.ndimage.gaussian_filter(rng.random(shape), smooth)
    image += (scipy.ndimage.gaussian_filter(rng.random(shape), 4 * smooth) > 0.5) * 0.5
    image -= image.min()
    return (image / image.max()).astype(np.float32)


def observed(shape, psf, noise, seed=0):
    rng = np.random.default_rng(seed + 1)
    blurred = deconvkit.blur(texture(shape, seed), psf)
    return (blurred + noise * rng.standard_normal(shape)).astype(np.float32)


def overlap_sweep(quick=False):
    import dask.array as da

    from deconvkit.scale import _map_tiles
    from deconvkit.scale._params import decide_parameters
    from deconvkit.scale._tiling import overlap_depth

    cases = [("2-D 192x192, gaussian sigma 1.5", (192, 192), gaussian(1.5), (64, 64)),
             ("2-D 288x288, gaussian sigma 3", (288, 288), gaussian(3.0), (96, 96)),
             ("3-D 56x96x96, gaussian sigma 1", (56, 96, 96), gaussian(1.0, ndim=3), (28, 48, 48))]
    noises = (0.01,) if quick else (0.01, 0.002)
    methods = ("wiener", "richardson_lucy", "tv")
    needed = {m: 0.0 for m in methods}
    print(f"max |tiled - whole| more than 2 PSF extents from the outer border; overlap factors {FACTORS}")
    for name, shape, psf, chunks in cases:
        for noise in noises:
            data = observed(shape, psf, noise)
            lazy = da.from_array(data, chunks=chunks)
            for method in methods:
                tile_method, params, sigma, decided = decide_parameters(lazy, psf.astype(np.float32), method,
                                                                        {}, None, None)
                whole = deconvkit.deconvolve(data, psf, method=tile_method, boundary=decided["boundary"],
                                             noise_sigma=sigma, **params)
                band = tuple(2 * k for k in psf.shape)
                inner = tuple(slice(b, n - b) for b, n in zip(band, shape))
                errors = []
                for factor in FACTORS:
                    depth = tuple(min(d, n) for d, n in
                                  zip(overlap_depth(tile_method, psf.shape, factor), shape))
                    tiled = _map_tiles(lazy, depth, psf.astype(np.float32), tile_method, decided["boundary"],
                                       sigma, decided["offset"], np.dtype(np.float32), params)
                    tiled = tiled.compute(scheduler="synchronous")
                    errors.append(float(np.abs(tiled - whole)[inner].max()))
                ok = [f for f, e in zip(FACTORS, errors) if e < TOLERANCE]
                first = ok[0] if ok and all(e < TOLERANCE for e in errors[FACTORS.index(ok[0]):]) else math.inf
                needed[method] = max(needed[method], first)
                shown = ", ".join(f"{e:.1e}" for e in errors)
                extra = f" iterations={params.get('iterations')}" if "iterations" in params else ""
                print(f"{name}, noise {noise}: {method:<16} [{shown}] -> factor {first}{extra}", flush=True)
    print("smallest factor under 1e-4 in every case:", needed)
    return needed


def overhead(sizes=(1024,), method="tv", tiles_per_axis=2, repeats=1, params=None):
    """Whole-array vs tiled on images that fit, both on one core (the synchronous scheduler), so the
    difference is the tiling's own cost. Two comparisons per size:

    * **the same call** (what a user pays): ``deconvkit.deconvolve(data, psf, method)`` chooses its
      automatic parameters (noise level, NSR, TV weight, RL iterations) on the whole image;
      ``scale.deconvolve`` chooses them once on the central sample and then solves the tiles;
    * **the same problem** (the tiling alone): the whole-array call given the tiles' explicit
      parameters, against the tile phase only (the tiled time without the decision on the sample).

    ``tiles_per_axis`` tiles along each axis (4 tiles of ``size / 2`` by default). Every timed call
    starts with an empty OTF cache; with ``repeats`` > 1 the order alternates and the best is kept.
    Returns one row per size."""
    from deconvkit import scale
    from deconvkit.fft import otf_cache

    psf = gaussian(2.0)
    params = dict(params or {})
    rows = []
    small = observed((128, 128), psf, 0.01)  # imports and first calls, outside the timing
    deconvkit.deconvolve(small, psf, method=method, **params)
    scale.deconvolve(small, psf, method=method, chunks=(64, 64), **params).compute(scheduler="synchronous")
    for size in sizes:
        data = observed((size, size), psf, 0.01)
        chunk = -(-size // tiles_per_axis)
        best = {}

        def keep(name, seconds):
            best[name] = min(best.get(name, math.inf), seconds)

        for repeat in range(repeats):
            for first in (("whole", "tiled") if repeat % 2 == 0 else ("tiled", "whole")):
                otf_cache._store.clear()
                started = time.perf_counter()
                if first == "whole":
                    _, whole_info = deconvkit.deconvolve(data, psf, method=method, return_info=True, **params)
                    keep("whole_auto", time.perf_counter() - started)
                else:
                    lazy, info = scale.deconvolve(data, psf, method=method, chunks=(chunk, chunk),
                                                  return_info=True, scheduler="synchronous", **params)
                    decided = time.perf_counter() - started
                    lazy.compute(scheduler="synchronous")
                    keep("tiled_auto", time.perf_counter() - started)
                    keep("decide", decided)
                    keep("tiles", time.perf_counter() - started - decided)
            otf_cache._store.clear()
            started = time.perf_counter()
            deconvkit.deconvolve(data, psf, method=info.method, boundary=info.boundary,
                                 noise_sigma=info.noise_sigma, **info.params)
            keep("whole_fixed", time.perf_counter() - started)
        extra = math.prod(min(chunk + 2 * d, size) for d in info.depth) / chunk**2 - 1
        same_call = best["tiled_auto"] / best["whole_auto"] - 1
        same_problem = best["tiles"] / best["whole_fixed"] - 1
        shown = {k: whole_info.get(k) for k in ("nsr", "lam", "iterations") if whole_info.get(k) is not None}
        chosen = {k: info.params.get(k) for k in shown}
        print(f"{method} {size}x{size}, {info.tiles} tiles of {info.chunks} + {info.depth} (an interior tile "
              f"solves {extra:+.0%} voxels); load {os.getloadavg()[0]:.1f}\n"
              f"  same call:    whole {best['whole_auto']:7.2f} s (chooses on the whole image)   tiled "
              f"{best['tiled_auto']:7.2f} s (choice on the sample {best['decide']:.2f} s + tiles "
              f"{best['tiles']:.2f} s)   overhead {same_call:+.0%}\n"
              f"  same problem: whole {best['whole_fixed']:7.2f} s (tiles' parameters given)  tiles "
              f"{best['tiles']:7.2f} s   overhead {same_problem:+.0%}\n"
              f"  the whole call's own choice {best['whole_auto'] - best['whole_fixed']:.2f} s against the "
              f"sample's {best['decide']:.2f} s; chosen whole {_short(shown)} sample {_short(chosen)}",
              flush=True)
        rows.append(dict(best, size=size, same_call=same_call, same_problem=same_problem))
        del data
    return rows


def _short(values):
    return "{" + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items()) + "}"


def sample_choice(size=1024, repeats=2):
    """The parameter choice on the sample (``decide_parameters``) with the sample's solve cut short (the
    default) and run in full, alternating, for the methods where it is cut: seconds and the weight."""
    import dask.array as da

    from deconvkit.scale import _params

    psf = gaussian(2.0).astype(np.float32)
    data = da.from_array(observed((size, size), psf, 0.01))
    short = _params._short_sample
    for method in ("tv", "hyper_laplacian"):
        for _ in range(repeats):
            for label, rule in (("full sample solve", lambda m, p: {}), ("cut to one iteration", short)):
                _params._short_sample = rule
                try:
                    started = time.perf_counter()
                    _, params, _, _ = _params.decide_parameters(data, psf, method, {}, None, None)
                    elapsed = time.perf_counter() - started
                finally:
                    _params._short_sample = short
                print(f"{method} {size}^2, {label:<21}: {elapsed:.2f} s, lam {params['lam']:.6g} "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)


def stack(shape, memory_limit, method, workers_list=(1, 2), threads=1, keep=False, params=None):
    """The stack benchmark. The nanny's pause/terminate thresholds are switched off: an idle worker
    process (Python, NumPy, SciPy, Dask, zarr, deconvkit) already holds about 120 MB, more than the
    data memory this benchmark gives it, and would be paused before its first tile. ``memory_limit``
    is then what deconvkit.scale sizes the tiles from (60% of it), and the peak RSS *above the idle
    worker's* is reported against it."""
    import dask
    import dask.array as da
    import zarr
    from distributed import Client, LocalCluster

    from deconvkit import scale
    from deconvkit.memory import parse_bytes

    limit = parse_bytes(memory_limit)
    psf = gaussian(0.5, ndim=3)
    root = tempfile.mkdtemp(prefix="deconvkit-scale-bench-")
    source = os.path.join(root, "input.zarr")
    # written slab by slab: the stack is never whole in this process either
    # input chunks smaller than the tiles: zarr decodes every chunk a tile's region touches, so chunks
    # much larger than the tiles would cost more memory than the tiles themselves (docs/scale.md)
    step = min(shape[0], 40)
    z = zarr.open_array(source, mode="w", shape=shape, chunks=(step, 64, 64), dtype="float32")
    rng = np.random.default_rng(0)
    for start in range(0, shape[0], step):
        stop = min(start + step, shape[0])
        slab = texture((stop - start,) + tuple(shape[1:]), seed=start)
        slab = scipy.ndimage.gaussian_filter(slab, 0.5)
        z[start:stop] = slab + 0.01 * rng.standard_normal(slab.shape).astype(np.float32)
    nbytes = math.prod(shape) * 4
    print(f"stack {shape} float32 = {nbytes / 1e6:.0f} MB; worker memory_limit {limit / 1e6:.0f} MB "
          f"({nbytes / limit:.1f}x); method {method} {params or ''}; PSF {psf.shape}", flush=True)
    rows = []
    quiet = {"distributed.worker.memory.target": False, "distributed.worker.memory.spill": False,
             "distributed.worker.memory.pause": False, "distributed.worker.memory.terminate": False}
    for workers in workers_list:
        output = os.path.join(root, f"output-{workers}.zarr")
        with dask.config.set(quiet), LocalCluster(n_workers=workers, threads_per_worker=threads,
                                                  memory_limit=limit, processes=True,
                                                  dashboard_address=None) as cluster, Client(cluster) as client:
            client.run(_warm_up, method)
            baseline = client.run(_rss)
            peaks = dict(baseline)
            flag = {"stop": False}
            import threading

            def sample():
                while not flag["stop"]:
                    try:
                        for address, rss in client.run(_rss).items():
                            peaks[address] = max(peaks.get(address, 0), rss)
                    except Exception:  # noqa: BLE001 - a sample lost at shutdown
                        pass
                    time.sleep(0.2)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            started = time.perf_counter()
            done = []
            _, info = scale.deconvolve(source, psf, method=method, output=output, scheduler=client,
                                       return_info=True, progress=lambda d, t: done.append(d), **(params or {}))
            elapsed = time.perf_counter() - started
            flag["stop"] = True
            sampler.join()
        result = da.from_zarr(output)
        assert result.shape == tuple(shape)
        above = max(peaks[a] - baseline[a] for a in baseline)
        total = max(peaks.values())
        tile_voxels = math.prod(c + 2 * d for c, d in zip(info.chunks, info.depth))
        row = {"workers": workers, "seconds": elapsed, "mvox_s": math.prod(shape) / elapsed / 1e6,
               "peak_above_idle_mb": above / 1e6, "peak_rss_mb": total / 1e6, "tiles": info.tiles}
        rows.append(row)
        print(f"{workers} worker(s) x {threads} thread: {elapsed:.1f} s, {row['mvox_s']:.2f} Mvoxel/s; "
              f"peak RSS per worker {total / 1e6:.0f} MB = idle {max(baseline.values()) / 1e6:.0f} MB + "
              f"{above / 1e6:.0f} MB for data (limit {limit / 1e6:.0f} MB, tile budget "
              f"{info.memory_budget / 1e6:.0f} MB); {info.tiles} tiles of {info.chunks} + overlap {info.depth}; "
              f"data RSS / tile voxel (margin included) {above / tile_voxels:.0f} B; progress reported "
              f"{len(done)}x", flush=True)
    if len(rows) > 1:
        fewest, most = min(rows, key=lambda r: r["workers"]), max(rows, key=lambda r: r["workers"])
        print(f"{most['workers']} workers vs {fewest['workers']}: {fewest['seconds'] / most['seconds']:.2f}x")
    if not keep:
        shutil.rmtree(root, ignore_errors=True)
    return rows


def scaling(shape=(40, 512, 512), method="richardson_lucy", chunks=(40, 128, 128), repeats=3, params=None):
    """Throughput with 1 and 2 workers: the threads scheduler (``num_workers``) and a ``LocalCluster`` of
    1 or 2 single-threaded worker processes (dask's default worker settings), the same stack, tiles and
    explicit parameters every run, Zarr to Zarr. Self-contained (the stack is made in a temporary
    folder and removed). The four configurations run in turn for ``repeats`` rounds, the order rotated
    each round, so a change in the machine's load falls on all of them. Reported per configuration:
    median wall time and range, throughput, speed-up of 2 workers over 1, and the CPU seconds the
    working processes used (user + system): on an idle machine CPU / wall approaches the worker count;
    on a shared one it shows how much of a core each run actually got (the cluster's CPU is its worker
    processes'; the scheduler runs in this process and is not counted)."""
    import dask
    import zarr
    from distributed import Client, LocalCluster

    from deconvkit import scale

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load_before = os.getloadavg()
    psf = gaussian(0.5, ndim=3)
    root = tempfile.mkdtemp(prefix="deconvkit-scale-scaling-")
    source = os.path.join(root, "input.zarr")
    z = zarr.open_array(source, mode="w", shape=shape, chunks=(min(shape[0], 40), 128, 128), dtype="float32")
    rng = np.random.default_rng(0)
    for start in range(0, shape[0], 40):
        slab = texture((min(40, shape[0] - start),) + tuple(shape[1:]), seed=start)
        z[start:start + slab.shape[0]] = slab + 0.01 * rng.standard_normal(slab.shape).astype(np.float32)
    # parameters decided once, outside the timing: every run solves the same explicit problem
    _, info = scale.deconvolve(source, psf, method=method, chunks=chunks, return_info=True,
                               scheduler="synchronous", **(params or {}))
    fixed = dict(info.params, noise_sigma=info.noise_sigma, boundary=info.boundary)
    voxels = math.prod(shape)
    print(f"stack {shape} float32 ({voxels * 4 / 1e6:.0f} MB), {info.method} {_short(info.params)}, "
          f"{info.tiles} tiles of {info.chunks} + overlap {info.depth}, Zarr to Zarr; {repeats} rounds; "
          f"{cores} cores; load average before {_loads(load_before)}", flush=True)
    if cores < 2:
        print("warning: fewer than 2 cores available: a second worker cannot run in parallel", flush=True)
    configs = [("threads", 1), ("threads", 2), ("cluster", 1), ("cluster", 2)]
    times = {c: [] for c in configs}
    cpu = {c: [] for c in configs}
    for round_ in range(repeats):
        order = configs[round_ % 4:] + configs[:round_ % 4]
        for kind, workers in order:
            output = os.path.join(root, f"out-{kind}-{workers}.zarr")
            load = os.getloadavg()[0]
            if kind == "threads":
                with dask.config.set(num_workers=workers):
                    used = _cpu_seconds()
                    started = time.perf_counter()
                    scale.deconvolve(source, psf, method=info.method, chunks=chunks, output=output,
                                     overwrite=True, scheduler="threads", **fixed)
                    elapsed = time.perf_counter() - started
                    used = _cpu_seconds() - used
            else:
                with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, Client(cluster) as client:
                    client.run(_warm_up, info.method)  # start-up and first imports are not timed
                    used = sum(client.run(_cpu_seconds).values())
                    started = time.perf_counter()
                    scale.deconvolve(source, psf, method=info.method, chunks=chunks, output=output,
                                     overwrite=True, scheduler=client, **fixed)
                    elapsed = time.perf_counter() - started
                    used = sum(client.run(_cpu_seconds).values()) - used
            times[(kind, workers)].append(elapsed)
            cpu[(kind, workers)].append(used)
            print(f"  round {round_ + 1}: {kind:<7} {workers} worker(s): {elapsed:6.1f} s, CPU {used:6.1f} s "
                  f"(load before {load:.1f})", flush=True)
    load_after = os.getloadavg()
    print(f"\n{'scheduler':<22} {'workers':>7} {'median s':>9} {'range s':>13} {'Mvoxel/s':>9} {'speed-up':>9} "
          f"{'CPU s':>6} {'CPU/wall':>8}")
    labels = {"threads": "threads (num_workers)", "cluster": "LocalCluster processes"}
    for kind, workers in configs:
        runs = times[(kind, workers)]
        median = float(np.median(runs))
        speed = float(np.median(times[(kind, 1)])) / median
        used = float(np.median(cpu[(kind, workers)]))
        print(f"{labels[kind]:<22} {workers:>7} {median:>9.1f} {min(runs):>6.1f}-{max(runs):<6.1f} "
              f"{voxels / median / 1e6:>9.2f} {speed:>8.2f}x {used:>6.1f} {used / median:>8.2f}")
    print(f"load average before {_loads(load_before)}, after {_loads(load_after)} ({cores} cores)")
    if max(load_before[0], load_after[0]) > 0.5 * cores:
        print("note: the machine was busy (load average above half the cores): the speed-up of a second "
              "worker is not meaningful here; run on an idle machine")
    shutil.rmtree(root, ignore_errors=True)
    return times, cpu


def _loads(values):
    return "/".join(f"{v:.1f}" for v in values) + " (1/5/15 min)"


def _cpu_seconds():
    """User + system CPU seconds of this process so far (its threads included)."""
    import psutil

    used = psutil.Process().cpu_times()
    return used.user + used.system


def allocator(shape=(40, 256, 256), chunks=(40, 64, 64), iterations=10):
    """One LocalCluster worker with dask's default worker environment (``MALLOC_TRIM_THRESHOLD_=65536``)
    and with it removed, against the threads scheduler: wall time, the worker's user and system CPU
    seconds, and its RSS before and at the peak (``VmHWM``), two runs each."""
    import dask
    import zarr
    from distributed import Client, LocalCluster

    from deconvkit import scale

    psf = gaussian(0.5, ndim=3)
    root = tempfile.mkdtemp(prefix="deconvkit-scale-alloc-")
    source = os.path.join(root, "input.zarr")
    z = zarr.open_array(source, mode="w", shape=shape, chunks=(shape[0], 128, 128), dtype="float32")
    z[:] = texture(shape) + 0.01 * np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    _, info = scale.deconvolve(source, psf, method="richardson_lucy", chunks=chunks, return_info=True,
                               iterations=iterations, scheduler="synchronous")
    fixed = dict(info.params, noise_sigma=info.noise_sigma, boundary=info.boundary)
    print(f"stack {shape}, richardson_lucy {iterations} it., {info.tiles} tiles of {info.chunks} + {info.depth}; "
          f"load {os.getloadavg()[0]:.1f}", flush=True)
    base_env = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
    without = {k: v for k, v in base_env.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    for label, env in (("dask default worker env", base_env), ("without MALLOC_TRIM_THRESHOLD_", without),
                       ("+ MALLOC_MMAP_THRESHOLD_=32MB", dict(base_env, MALLOC_MMAP_THRESHOLD_=33554432))):
        # the nanny also writes its pre-spawn environment into this process's os.environ and leaves it
        # there, so a later cluster's workers would inherit the first one's MALLOC_TRIM_THRESHOLD_
        for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
            os.environ.pop(name, None)
        with dask.config.set({"distributed.nanny.pre-spawn-environ": env}), \
                LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
                Client(cluster) as client:
            client.run(_warm_up, "richardson_lucy")
            seen = next(iter(client.run(lambda: {k: v for k, v in os.environ.items()
                                                 if k.startswith("MALLOC")}).values()))
            print(f"  {label}: worker environment {seen}", flush=True)
            for run in range(2):
                before = next(iter(client.run(_cpu_and_memory).values()))
                started = time.perf_counter()
                scale.deconvolve(source, psf, method="richardson_lucy", chunks=chunks, overwrite=True,
                                 output=os.path.join(root, "out.zarr"), scheduler=client, **fixed)
                elapsed = time.perf_counter() - started
                after = next(iter(client.run(_cpu_and_memory).values()))
                print(f"  {label:<32} run {run + 1}: {elapsed:5.1f} s, worker user {after[0] - before[0]:.2f} s "
                      f"system {after[1] - before[1]:.2f} s; RSS {before[3]:.0f} MB before, peak {after[2]:.0f} MB "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
    for run in range(2):
        with dask.config.set(num_workers=1):
            before = _cpu_and_memory()
            started = time.perf_counter()
            scale.deconvolve(source, psf, method="richardson_lucy", chunks=chunks, overwrite=True,
                             output=os.path.join(root, "out.zarr"), scheduler="threads", **fixed)
            elapsed = time.perf_counter() - started
            after = _cpu_and_memory()
        print(f"  {'threads scheduler, 1 worker':<32} run {run + 1}: {elapsed:5.1f} s, process user "
              f"{after[0] - before[0]:.2f} s system {after[1] - before[1]:.2f} s", flush=True)
    shutil.rmtree(root, ignore_errors=True)


def _cpu_and_memory():
    """(user s, system s, peak RSS MB, RSS MB) of this process."""
    import psutil

    process = psutil.Process()
    used = process.cpu_times()
    with open("/proc/self/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return (used.user, used.system, int(fields["VmHWM"].split()[0]) / 1024, process.memory_info().rss / 1e6)


def _warm_up(method="wiener"):
    """Import and run once what a tile task needs (the method's solver, a Zarr read and write), so the
    idle baseline holds the libraries and only data is counted above it."""
    import zarr

    import deconvkit.scale  # noqa: F401
    from deconvkit.psf import gaussian as g

    data = np.random.default_rng(0).random((16, 16, 16)).astype(np.float32)
    params = {"nsr": 0.01} if method == "wiener" else {"iterations": 2}
    deconvkit.deconvolve(data, g(0.6, ndim=3), method=method, noise_sigma=0.01, **params)
    folder = tempfile.mkdtemp(prefix="deconvkit-warm-")
    store = zarr.open_array(os.path.join(folder, "w.zarr"), mode="w", shape=data.shape, chunks=(8, 8, 8),
                            dtype="float32")
    store[:] = data
    np.asarray(zarr.open_array(os.path.join(folder, "w.zarr"), mode="r")[:8])
    shutil.rmtree(folder, ignore_errors=True)
    return True


def _rss():
    import psutil

    return psutil.Process().memory_info().rss


def main():
    parser = argparse.ArgumentParser(description="deconvkit.scale benchmarks")
    parser.add_argument("--overlap", action="store_true", help="overlap needed per method")
    parser.add_argument("--quick", action="store_true", help="--overlap: one noise level")
    parser.add_argument("--overhead", action="store_true", help="tiled vs whole-array on a fitting input")
    parser.add_argument("--size", default="1024", help="--overhead: image sides, comma-separated")
    parser.add_argument("--tiles-per-axis", type=int, default=2, help="--overhead: tiles along each axis")
    parser.add_argument("--stack", action="store_true", help="larger-than-worker-memory stack, zarr to zarr")
    parser.add_argument("--shape", help="--stack (default 40,1024,1024) / --scaling (default 40,512,512): Z,Y,X")
    parser.add_argument("--memory-limit", default="40MB", help="--stack: memory_limit per worker")
    parser.add_argument("--method", help="--stack / --overhead (default wiener), --scaling (richardson_lucy)")
    parser.add_argument("--iterations", type=int, help="iterations of an iterative method (--scaling: default 10)")
    parser.add_argument("--workers", default="1,2", help="--stack: worker counts to time")
    parser.add_argument("--scaling", action="store_true", help="1 vs 2 workers, threads and LocalCluster")
    parser.add_argument("--chunks", default="40,128,128", help="--scaling: tile size")
    parser.add_argument("--repeats", type=int, help="--scaling: rounds (default 3); --overhead: best of (1)")
    parser.add_argument("--sample-choice", action="store_true",
                        help="the choice on the sample with its solve cut short and in full")
    parser.add_argument("--allocator", action="store_true",
                        help="LocalCluster worker with and without dask's MALLOC_TRIM_THRESHOLD_")
    args = parser.parse_args()
    if not (args.overlap or args.overhead or args.stack or args.scaling or args.allocator or args.sample_choice):
        parser.error("choose --overlap, --overhead, --stack, --scaling, --sample-choice and/or --allocator")
    iterations = {"iterations": args.iterations} if args.iterations else None
    if args.scaling:
        scaling(tuple(int(v) for v in (args.shape or "40,512,512").split(",")), args.method or "richardson_lucy",
                tuple(int(v) for v in args.chunks.split(",")), args.repeats or 3,
                params=iterations or {"iterations": 10})
    if args.allocator:
        allocator()
    if args.sample_choice:
        sample_choice()
    if args.overlap:
        overlap_sweep(args.quick)
    if args.overhead:
        overhead(tuple(int(v) for v in args.size.split(",")), args.method or "wiener", args.tiles_per_axis,
                 args.repeats or 1, params=iterations)
    if args.stack:
        stack(tuple(int(v) for v in (args.shape or "40,1024,1024").split(",")), args.memory_limit,
              args.method or "wiener", tuple(int(v) for v in args.workers.split(",")), params=iterations)


if __name__ == "__main__":
    main()
