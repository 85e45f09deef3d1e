"""Load on the local web app, on loopback only: concurrent full-resolution jobs and 12 MP previews.

Starts ``python -m deconvkit serve`` in a child process on a free 127.0.0.1 port, then:

1. ``--clients`` clients (threads) at once each upload a ``--size`` x ``--size`` 16-bit PNG to
   ``POST /api/deblur`` (known motion PSF, ``--method``), poll the job and download the result. A client
   answered 503 waits the Retry-After time and tries again, at most ``--retries`` times; every request
   must end as a downloaded result or a 503 (anything else is counted as an error and fails the run).
   Reported: 503 answers, end-to-end latency percentiles (first submit to downloaded result), throughput,
   and the same job's time in-process (``deconvkit.deconvolve`` here, before the load) for the ratio of
   the server's wall time to ``clients x in-process / workers``.
2. A ``--photo`` megapixel RGB JPEG is uploaded once (``POST /api/images``), then ``--previews`` loupe
   previews (``method=auto``) at different places and a downscaled whole-image preview are timed: the
   latency a slider move sees.

The server's peak resident memory (VmHWM of the child process) is read from /proc at the end.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/web_load.py                    # 20 clients, 512^2, 12 MP photo
    python benchmarks/web_load.py --clients 5 --photo 2 --previews 5   # quick
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time

import numpy as np

MOTION = "motion:length=9,angle=30"


def percentiles(values):
    values = sorted(values)

    def pick(q):
        return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]

    return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": values[-1]}


def test_image(size):
    from skimage import data, transform

    import deconvkit
    from deconvkit import psf

    sharp = transform.resize(data.camera() / 255.0, (size, size))
    blurred = deconvkit.blur(sharp, psf.parse(MOTION))
    noisy = blurred + np.random.default_rng(0).normal(0, 0.005, blurred.shape)
    return np.clip(noisy, 0, 1)


def photo(megapixels):
    """A blurred RGB photo of about ``megapixels`` (4:3), as JPEG bytes."""
    from skimage import data, transform

    import deconvkit
    from deconvkit import psf

    rows = int(round(np.sqrt(megapixels * 1e6 * 3 / 4)))
    cols = int(round(rows * 4 / 3))
    sharp = transform.resize(data.astronaut() / 255.0, (rows, cols), order=1, anti_aliasing=False)
    blurred = deconvkit.blur(sharp.astype(np.float32), psf.parse("motion:length=15,angle=20"),
                             channel_axis=-1)
    from deconvkit import io

    return io.encode_image(np.clip(blurred, 0, 1), "jpeg", dtype="uint8"), (rows, cols)


def start_server(args):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "deconvkit", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(args.workers)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    import httpx

    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(base + "/api/methods", timeout=2)
            return server, base
        except httpx.TransportError:
            if server.poll() is not None:
                raise SystemExit("server failed to start: " + server.stderr.read()) from None
            time.sleep(0.1)
    raise SystemExit("server did not answer")


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def client(base, png, method, retries, out):
    import httpx

    started = time.perf_counter()
    refused = 0
    with httpx.Client(base_url=base, timeout=600) as http:
        for _ in range(retries + 1):
            response = http.post("/api/deblur", files={"image": ("x.png", png, "image/png")},
                                 data={"psf": MOTION, "method": method})
            if response.status_code == 503:
                refused += 1
                time.sleep(float(response.headers.get("retry-after", "1")))
                continue
            if response.status_code != 202:
                out.append({"error": f"{response.status_code} {response.text[:200]}", "refused": refused})
                return
            job_id = response.json()["job_id"]
            while True:
                status = http.get(f"/api/jobs/{job_id}", params={"wait": 5}).json()
                if status["status"] not in ("queued", "running"):
                    break
            if status["status"] != "done":
                out.append({"error": f"job {status['status']}: {status['error']}", "refused": refused})
                return
            result = http.get(f"/api/jobs/{job_id}/result")
            ok = result.status_code == 200 and result.content[:8] == b"\x89PNG\r\n\x1a\n"
            out.append({"latency": time.perf_counter() - started, "refused": refused,
                        **({} if ok else {"error": f"result {result.status_code}"})})
            return
    out.append({"gave_up": True, "refused": refused})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--method", default="tikhonov")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--retries", type=int, default=200, help="503 retries per client before giving up")
    parser.add_argument("--photo", type=float, default=12.0, help="megapixels of the preview test photo")
    parser.add_argument("--previews", type=int, default=10)
    parser.add_argument("--json", help="write the results here too")
    args = parser.parse_args(argv)

    import httpx

    import deconvkit
    from deconvkit import io, psf

    image = test_image(args.size)
    png = io.encode_image(image, "png", dtype="uint16")
    times = []
    for _ in range(3):
        t = time.perf_counter()
        deconvkit.deconvolve(image.astype(np.float32), psf.parse(MOTION), args.method)
        times.append(time.perf_counter() - t)
    in_process = statistics.median(times)

    server, base = start_server(args)
    report = {"clients": args.clients, "size": args.size, "method": args.method, "workers": args.workers,
              "in_process_s": in_process, "python": platform.python_version(), "cpus": os.cpu_count(),
              "omp_threads": os.environ.get("OMP_NUM_THREADS")}
    try:
        results: list = []
        threads = [threading.Thread(target=client, args=(base, png, args.method, args.retries, results))
                   for _ in range(args.clients)]
        wall = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - wall
        errors = [r["error"] for r in results if "error" in r]
        done = [r["latency"] for r in results if "latency" in r and "error" not in r]
        report.update(succeeded=len(done), errors=errors, gave_up=sum("gave_up" in r for r in results),
                      answers_503=sum(r["refused"] for r in results),
                      first_try=sum(r["refused"] == 0 and "latency" in r for r in results),
                      wall_s=wall, latency_s=percentiles(done) if done else None,
                      throughput_jobs_per_s=len(done) / wall,
                      wall_vs_ideal=wall / (args.clients * in_process / args.workers))
        report["rss_after_load_mib"] = peak_rss_mib(server.pid)

        jpeg, shape = photo(args.photo)
        with httpx.Client(base_url=base, timeout=600) as http:
            t = time.perf_counter()
            uploaded = http.post("/api/images", files={"image": ("photo.jpg", jpeg, "image/jpeg")})
            upload_s = time.perf_counter() - t
            uploaded.raise_for_status()
            image_id = uploaded.json()["image_id"]
            limits = http.get("/api/methods").json()["limits"]
            side = limits["preview_size"]
            rng = np.random.default_rng(1)
            loupe = []
            for _ in range(args.previews):
                x, y = int(rng.integers(0, shape[1] - side)), int(rng.integers(0, shape[0] - side))
                t = time.perf_counter()
                response = http.post("/api/preview", data={"image_id": image_id, "psf": "motion:length=15,angle=20",
                                                           "method": "auto", "mode": "loupe", "x": x, "y": y})
                response.raise_for_status()
                loupe.append(time.perf_counter() - t)
            fit = []
            for _ in range(3):
                t = time.perf_counter()
                response = http.post("/api/preview", data={"image_id": image_id, "psf": "motion:length=15,angle=20",
                                                           "method": "auto", "mode": "fit"})
                response.raise_for_status()
                fit.append(time.perf_counter() - t)
        # the same loupe work in-process: what the server adds to a preview
        crop = io.decode_image(jpeg)[0][:side, :side]
        reference = []
        for _ in range(3):
            t = time.perf_counter()
            deconvkit.deconvolve(crop, psf.parse("motion:length=15,angle=20"), "auto", channel_axis=-1,
                                 iterations=limits["preview_iterations"], weight_rule="calibrated")
            reference.append(time.perf_counter() - t)
        report.update(loupe_in_process_s=statistics.median(reference), loupe_side=side,
                      preview_iterations=limits["preview_iterations"])
        report.update(photo_shape=list(shape), photo_mb=len(jpeg) / 2**20, upload_s=upload_s,
                      loupe_preview_s=percentiles(loupe), fit_preview_s=percentiles(fit))
        report["server_peak_rss_mib"] = peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(30)

    print(json.dumps(report, indent=1))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=1)
    lat = report["latency_s"]
    print(f"\n{report['succeeded']}/{args.clients} clients got their {args.size}^2 result "
          f"({report['answers_503']} answers 503, retried; {len(report['errors'])} errors); "
          f"latency p50 {lat['p50']:.2f} s, p90 {lat['p90']:.2f} s, max {lat['max']:.2f} s; "
          f"wall {report['wall_s']:.1f} s = {report['wall_vs_ideal']:.2f}x clients*in-process/workers "
          f"(in-process {in_process:.2f} s)")
    print(f"{shape[1]}x{shape[0]} photo ({report['photo_mb']:.1f} MiB JPEG): upload+decode {upload_s:.2f} s; "
          f"loupe preview p50 {report['loupe_preview_s']['p50'] * 1000:.0f} ms, max "
          f"{report['loupe_preview_s']['max'] * 1000:.0f} ms ({report['loupe_side']}^2 RGB, "
          f"{report['preview_iterations']} iterations; in-process {report['loupe_in_process_s'] * 1000:.0f} ms, "
          f"ratio {report['loupe_preview_s']['p50'] / report['loupe_in_process_s']:.2f}); whole-image preview p50 "
          f"{report['fit_preview_s']['p50'] * 1000:.0f} ms; server peak RSS "
          f"{report['server_peak_rss_mib']:.0f} MiB")
    return 1 if report["errors"] or report["gave_up"] else 0


if __name__ == "__main__":
    sys.exit(main())
