"""FFT engines on deconvkit's real transform sizes: pocketfft (``scipy.fft``), ducc0, pyFFTW, torch CPU.

What is timed is one *pair*, the unit every solver iteration is made of: a real FFT over the trailing axes
of a ``(C, *domain)`` array (a colour image's channels, or a batch of one) followed by the inverse real FFT
back to ``domain``. The domains are what :func:`deconvkit.fft.fast_shape` gives for the cases of issue 12:

* ``photo``:  3 x 3072 x 4050 -- a 3000x4000 colour photo with a 27x27 PSF (``fast_shape((3026, 4026))``)
* ``2k``:     1 x 2160 x 2160 -- 2048^2 with a 27x27 PSF (2074 -> 2160: ``fast_shape`` uses 2,3,5-smooth
  sizes only, so the 2100 of the issue's first measurement never occurs in a solver)
* ``1k``:     1 x 1080 x 1080 -- 1024^2 with a 27x27 PSF
* ``levin``:  1 x 288 x 288   -- Levin's 255 px captures with a 27x27 PSF
* ``stack``:  1 x 72 x 1080 x 1080 -- a 64x1024x1024 stack with a 9x9x9 PSF (3-D transform)

Contenders (each with ``--threads`` 1 and 2; thread count passed to the library explicitly):

* ``scipy``       ``scipy.fft.rfftn(x, axes=ax, workers=n)``; ``scipy.fft.irfftn(X, s=dom, axes=ax, workers=n)``
* ``scipy_ow``    the same, inverse with ``overwrite_x=True`` (how deconvkit's solvers call it on a temporary)
* ``ducc``        ``ducc0.fft.r2c(x, axes=ax, nthreads=n)``;
                  ``ducc0.fft.c2r(X, axes=ax, lastsize=dom[-1], forward=False, inorm=2, nthreads=n)``
* ``ducc_out``    the same into preallocated ``out=`` arrays, inverse with ``allow_overwriting_input=True``
* ``fftw``        pyFFTW: ``pyfftw.FFTW`` plans (``FFTW_MEASURE``, wisdom kept) on their own aligned buffers,
                  executed with ``plan()`` (the inverse normalised by FFTW's ``__call__``); the floor of
                  what an engine built on cached plans can reach (input copied into the plan's buffer)
* ``fftw_b``      ``pyfftw.builders.rfftn/irfftn`` objects (cached, ``FFTW_MEASURE``) called on the
                  caller's array, output copied out: a drop-in that returns fresh arrays as the backend must
* ``torch``       ``torch.fft.rfftn/irfftn`` on ``torch.from_numpy`` views (deconvkit's ``fft="torch"``)
* ``dk_scipy``, ``dk_ducc``  deconvkit's own ``NumpyBackend(fft=...).rfftn`` then ``.irfftn(overwrite=True)``
                  (the wired path, as ``PeriodicConvolution.convolve`` calls it)
* ``dk_ducc_out`` the same on ducc with reused ``out=`` buffers (``convolve(out=, spectrum_buffer=)``)

Every contender runs on the same input. Runs alternate (one pair of each contender per round, the order
rotated every round) and the median of the rounds is reported, so a neighbour's load hits all contenders
alike; the 1-minute load average is printed before and after each size. Accuracy: the maximum error of
the spectrum and of the round trip, relative to the maximum magnitude of scipy's float64 result on the
same input, for every contender and for scipy itself at the dtype under test.

``--thread-cutoff N ...`` instead times, on N x N float32 domains, each engine with one and with two
threads interleaved in the same rounds (the ratio behind ``deconvkit.backends.numpy.SERIAL_BELOW``).

Usage::

    OMP_NUM_THREADS=1 python benchmarks/fft_engines.py --sizes levin 1k --threads 1 2 --dtypes float32
    python benchmarks/fft_engines.py --json out.json     # every size, both dtypes, 1 and 2 threads
    python benchmarks/fft_engines.py --thread-cutoff 288 384 512 720 1080
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import platform
import statistics
import sys
import time

import numpy as np
import scipy
import scipy.fft

from deconvkit.fft import fast_shape

try:
    import ducc0
except ImportError:  # pragma: no cover - optional peer
    ducc0 = None
try:
    import pyfftw
except ImportError:  # pragma: no cover - optional peer
    pyfftw = None
try:
    import torch
except ImportError:  # pragma: no cover - optional peer
    torch = None

# (leading axis C, image shape, PSF shape): the domain is fast_shape(image + psf - 1), as in
# deconvkit.boundaries.plan_domain("unknown") and operators.convolution(boundary="zero"/"reflect").
CASES = {
    "photo": (3, (3000, 4000), (27, 27)),
    "2k": (1, (2048, 2048), (27, 27)),
    "1k": (1, (1024, 1024), (27, 27)),
    "levin": (1, (255, 255), (27, 27)),
    "stack": (1, (64, 1024, 1024), (9, 9, 9)),
}
ENGINES = ("scipy", "scipy_ow", "ducc", "ducc_out", "fftw", "fftw_b", "torch", "dk_scipy", "dk_ducc",
           "dk_ducc_out")


def case_shape(name):
    channels, image, psf = CASES[name]
    domain = fast_shape([n + k - 1 for n, k in zip(image, psf)])
    return (channels, *domain)


def load1() -> float:
    return os.getloadavg()[0]


def make_pairs(x, threads, plan_limit, engines=ENGINES):
    """One closure per available engine computing ``irfftn(rfftn(x))``; returns ``(pairs, plan_seconds)``.

    Each closure returns ``(spectrum, roundtrip)``; for the buffer-reusing engines these are the buffers
    themselves (callers that keep them must copy).
    """
    ndim = x.ndim - 1
    axes = tuple(range(-ndim, 0))
    dom = x.shape[1:]
    n = threads
    cdtype = np.complex64 if x.dtype == np.float32 else np.complex128
    spec_shape = x.shape[:-1] + (x.shape[-1] // 2 + 1,)
    pairs, plan_s = {}, {}

    def scipy_pair():
        X = scipy.fft.rfftn(x, axes=axes, workers=n)
        return X, scipy.fft.irfftn(X, s=dom, axes=axes, workers=n)

    def scipy_ow_pair():
        X = scipy.fft.rfftn(x, axes=axes, workers=n)
        # overwrite_x destroys X: return a copy of nothing, the spectrum is checked by the plain scipy pair
        return None, scipy.fft.irfftn(X, s=dom, axes=axes, workers=n, overwrite_x=True)

    pairs["scipy"] = scipy_pair
    pairs["scipy_ow"] = scipy_ow_pair

    if ducc0 is not None and {"ducc", "ducc_out"} & set(engines):
        def ducc_pair():
            X = ducc0.fft.r2c(x, axes=axes, nthreads=n)
            return X, ducc0.fft.c2r(X, axes=axes, lastsize=dom[-1], forward=False, inorm=2, nthreads=n)

        Xbuf = np.empty(spec_shape, cdtype)
        ybuf = np.empty(x.shape, x.dtype)

        def ducc_out_pair():
            ducc0.fft.r2c(x, axes=axes, out=Xbuf, nthreads=n)
            spec = Xbuf.copy() if check_mode[0] else None  # the inverse overwrites Xbuf
            ducc0.fft.c2r(Xbuf, axes=axes, lastsize=dom[-1], forward=False, inorm=2, out=ybuf, nthreads=n,
                          allow_overwriting_input=True)
            return spec, ybuf

        pairs["ducc"] = ducc_pair
        pairs["ducc_out"] = ducc_out_pair

    if pyfftw is not None and "fftw" in engines:
        t0 = time.perf_counter()
        a_in = pyfftw.empty_aligned(x.shape, x.dtype)
        a_spec = pyfftw.empty_aligned(spec_shape, cdtype)
        a_out = pyfftw.empty_aligned(x.shape, x.dtype)
        fwd = pyfftw.FFTW(a_in, a_spec, axes=axes, direction="FFTW_FORWARD", flags=("FFTW_MEASURE",),
                          threads=n, planning_timelimit=plan_limit)
        bwd = pyfftw.FFTW(a_spec, a_out, axes=axes, direction="FFTW_BACKWARD",
                          flags=("FFTW_MEASURE", "FFTW_DESTROY_INPUT"), threads=n,
                          planning_timelimit=plan_limit)
        plan_s["fftw"] = time.perf_counter() - t0

        def fftw_pair():
            a_in[...] = x  # the caller's array is not the plan's buffer: one copy in, as a backend pays
            fwd()
            spec = a_spec.copy() if check_mode[0] else None
            bwd()  # __call__ with no argument: execute, then normalise by 1/N (normalise_idft=True)
            return spec, a_out

        pairs["fftw"] = fftw_pair

    # planned only when asked for: without a time limit, FFTW_MEASURE on the 3-D stack can take minutes
    if pyfftw is not None and "fftw_b" in engines:
        t0 = time.perf_counter()
        b_fwd = pyfftw.builders.rfftn(x, axes=axes, threads=n, planner_effort="FFTW_MEASURE")
        b_bwd = pyfftw.builders.irfftn(b_fwd.output_array, s=dom, axes=axes, threads=n,
                                       planner_effort="FFTW_MEASURE")
        # no planning_timelimit in the builders: they reuse the wisdom of the `fftw` plans when those ran
        plan_s["fftw_b"] = time.perf_counter() - t0

        def fftw_b_pair():
            X = b_fwd(x).copy()  # the builder returns its own output buffer: a fresh array costs a copy
            spec = X.copy() if check_mode[0] else None
            # the call destroys X (FFTW's multi-dimensional c2r works in place; the builder does not
            # protect the caller's array): fine for a temporary only
            return spec, b_bwd(X).copy()

        pairs["fftw_b"] = fftw_b_pair

    if torch is not None and "torch" in engines:
        def torch_pair():
            if torch.get_num_threads() != n:
                torch.set_num_threads(n)
            X = torch.fft.rfftn(torch.from_numpy(x), dim=axes)
            return X.numpy(), torch.fft.irfftn(X, s=dom, dim=axes).numpy()

        pairs["torch"] = torch_pair

    if {"dk_scipy", "dk_ducc", "dk_ducc_out"} & set(engines):
        from deconvkit.backends import NumpyBackend, ducc_available

        def wired(engine, buffers):
            backend = NumpyBackend(workers=n, fft=engine)
            spec_buf = np.empty(spec_shape, cdtype) if buffers else None
            out_buf = np.empty(x.shape, x.dtype) if buffers else None

            def pair():
                X = backend.rfftn(x, dom, out=spec_buf)
                spec = X.copy() if check_mode[0] else None  # the inverse may overwrite X
                return spec, backend.irfftn(X, dom, out=out_buf, overwrite=True)
            return pair

        pairs["dk_scipy"] = wired("scipy", False)
        if ducc_available():
            pairs["dk_ducc"] = wired("ducc", False)
            pairs["dk_ducc_out"] = wired("ducc", True)
    return pairs, plan_s


check_mode = [False]  # True while results are being checked (the buffer engines then copy their spectrum)


def rel_err(a, ref):
    return float(np.max(np.abs(a - ref)) / np.max(np.abs(ref)))


def measure(name, dtype, threads, rounds, plan_limit, engines):
    shape = case_shape(name)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    x64 = x.astype(np.float64)
    axes = tuple(range(-(x.ndim - 1), 0))
    ref_spec = scipy.fft.rfftn(x64, axes=axes, workers=threads)
    ref_back = x64  # irfftn(rfftn(x)) == x exactly in exact arithmetic
    del x64

    pairs, plan_s = make_pairs(x, threads, plan_limit, engines)
    pairs = {k: v for k, v in pairs.items() if k in engines}
    errors = {}
    check_mode[0] = True
    for eng, pair in pairs.items():
        spec, back = pair()  # also the warm-up (plans, twiddles, first-touch of the buffers)
        errors[eng] = {
            "spectrum": None if spec is None else rel_err(spec, ref_spec),
            "roundtrip": rel_err(back, ref_back),
        }
        del spec, back
    check_mode[0] = False
    del ref_spec
    gc.collect()

    load_before = load1()
    times = {eng: [] for eng in pairs}
    order = list(pairs)
    for r in range(rounds):
        for eng in order[r % len(order):] + order[:r % len(order)]:
            t0 = time.perf_counter()
            out = pairs[eng]()
            times[eng].append(time.perf_counter() - t0)
            del out
    load_after = load1()
    med = {eng: statistics.median(t) for eng, t in times.items()}
    result = {
        "case": name, "shape": list(shape), "dtype": np.dtype(dtype).name, "threads": threads,
        "rounds": rounds, "load_before": load_before, "load_after": load_after,
        "median_s": med, "min_s": {e: min(t) for e, t in times.items()},
        "ratio_vs_scipy": {e: med[e] / med["scipy"] for e in med} if "scipy" in med else {},
        "plan_s": plan_s, "errors": errors,
    }
    del pairs, x
    gc.collect()
    return result


def print_result(res, file=sys.stdout):
    shape = "x".join(map(str, res["shape"]))
    print(f"\n{res['case']} ({shape}) {res['dtype']} threads={res['threads']} rounds={res['rounds']} "
          f"load1 {res['load_before']:.2f}->{res['load_after']:.2f}", file=file)
    print(f"  {'engine':10s} {'median ms':>10s} {'min ms':>9s} {'vs scipy':>9s} {'spec err':>9s} "
          f"{'trip err':>9s}  plan s", file=file)
    for eng, t in res["median_s"].items():
        err = res["errors"][eng]
        spec = "-" if err["spectrum"] is None else f"{err['spectrum']:.1e}"
        plan = res["plan_s"].get(eng)
        print(f"  {eng:10s} {1e3 * t:10.1f} {1e3 * res['min_s'][eng]:9.1f} "
              f"{res['ratio_vs_scipy'].get(eng, float('nan')):9.2f} {spec:>9s} {err['roundtrip']:9.1e}"
              f"  {'' if plan is None else f'{plan:.1f}'}", file=file)
    file.flush()


def markdown(results, file=sys.stdout):
    """One markdown table: a row per (case, dtype, threads), median ms and ratio to scipy per engine."""
    engines = [e for e in ENGINES if any(e in r["median_s"] for r in results)]
    print("| case | dtype | thr | load1 | " + " | ".join(engines) + " | max rel err (trip) |", file=file)
    print("|---|---|---|---|" + "---|" * len(engines) + "---|", file=file)
    for r in results:
        cells = []
        for e in engines:
            t = r["median_s"].get(e)
            cells.append("-" if t is None else f"{1e3 * t:.0f} ({r['ratio_vs_scipy'][e]:.2f})"
                         if t >= 0.0095 else f"{1e3 * t:.2f} ({r['ratio_vs_scipy'][e]:.2f})")
        worst = max(v["roundtrip"] for v in r["errors"].values())
        shape = "x".join(map(str, r["shape"]))
        print(f"| {r['case']} {shape} | {r['dtype'][5:]} | {r['threads']} | "
              f"{r['load_before']:.0f}-{r['load_after']:.0f} | " + " | ".join(cells) + f" | {worst:.1e} |",
              file=file)


def thread_cutoff(sides, rounds, engines=("scipy", "ducc")):
    """Median time of a pair at 1 and 2 threads, interleaved per round, on ``side x side`` float32 domains."""
    results = []
    for side in sides:
        x = np.random.default_rng(0).standard_normal((1, side, side)).astype(np.float32)
        contenders = {}
        for threads in (1, 2):
            pairs, _ = make_pairs(x, threads, 1.0, [e for e in engines if e in ("scipy", "ducc")])
            contenders.update({(e, threads): pairs[e] for e in engines if e in pairs})
        for pair in contenders.values():
            pair()  # warm-up
        load_before = load1()
        times = {key: [] for key in contenders}
        order = list(contenders)
        for r in range(rounds):
            for key in order[r % len(order):] + order[:r % len(order)]:
                t0 = time.perf_counter()
                contenders[key]()
                times[key].append(time.perf_counter() - t0)
        med = {key: statistics.median(t) for key, t in times.items()}
        row = {"side": side, "rounds": rounds, "load_before": load_before, "load_after": load1(),
               "median_ms": {f"{e}/{t}": 1e3 * v for (e, t), v in med.items()},
               "two_over_one": {e: med[(e, 2)] / med[(e, 1)] for e in engines if (e, 1) in med}}
        print(json.dumps(row), flush=True)
        results.append(row)
    return results


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"])
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    p.add_argument("--rounds", type=int, default=None,
                   help="alternating rounds per setting (default: 41 levin, 15 1k/2k, 5 photo, 3 stack)")
    p.add_argument("--plan-limit", type=float, default=120.0,
                   help="FFTW_MEASURE planning time limit in seconds per plan (pyFFTW planning_timelimit)")
    p.add_argument("--wisdom", default=None, help="pyFFTW wisdom file (pickle) to load before and save after")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    p.add_argument("--markdown", nargs="+", default=None, metavar="JSON",
                   help="print the results stored in these --json files as one markdown table, run nothing")
    p.add_argument("--thread-cutoff", nargs="+", type=int, default=None, metavar="N",
                   help="time 1 against 2 threads on N x N float32 domains (interleaved), run nothing else")
    args = p.parse_args(argv)
    if args.thread_cutoff:
        results = thread_cutoff(args.thread_cutoff, args.rounds or 31)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"thread_cutoff": results}, fh, indent=1)
        return results
    if args.markdown:
        results = []
        for path in args.markdown:
            with open(path) as fh:
                results += json.load(fh)["results"]
        markdown(results)
        return results

    if pyfftw is not None and args.wisdom and os.path.exists(args.wisdom):
        with open(args.wisdom, "rb") as fh:
            pyfftw.import_wisdom(pickle.load(fh))
    versions = {
        "python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
        "ducc0": getattr(ducc0, "__version__", None), "pyfftw": getattr(pyfftw, "__version__", None),
        "torch": getattr(torch, "__version__", None), "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
    }
    print("versions:", versions)
    print("env OMP_NUM_THREADS =", os.environ.get("OMP_NUM_THREADS"), "| command:", " ".join(sys.argv))
    results = []
    for name in args.sizes:
        rounds = args.rounds or {"levin": 41, "1k": 15, "2k": 15, "photo": 5, "stack": 3}[name]
        for dtype in args.dtypes:
            for threads in args.threads:
                res = measure(name, dtype, threads, rounds, args.plan_limit, args.engines)
                print_result(res)
                results.append(res)
                if args.json:  # rewritten after every setting so a long run leaves partial results
                    with open(args.json, "w") as fh:
                        json.dump({"versions": versions, "argv": sys.argv, "results": results}, fh, indent=1)
    if pyfftw is not None and args.wisdom:
        with open(args.wisdom, "wb") as fh:  # a tuple of bytes (double, single, long double wisdom)
            pickle.dump(pyfftw.export_wisdom(), fh)
    return results


if __name__ == "__main__":
    main()
