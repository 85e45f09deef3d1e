"""``deconvkit batch``: restore many files (globs, folders, multi-page TIFFs), resumable.

The logic is :func:`deconvkit.scale.batch.run_batch`; this module only maps arguments onto it, shows one
progress bar over the files and prints the summary. Exit status 0 when every file was restored or
skipped, 1 when any failed (each failure is listed with its reason).
"""

from __future__ import annotations

import argparse
import sys

from ._common import parse_settings

COMMAND = "batch"
HELP = "restore many files (globs, folders, multi-page TIFFs); resumable, failures reported and skipped"


def _methods():
    from ..solvers import available_methods

    return sorted(available_methods())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image files, glob patterns (quote them; ** is recursive) or folders")
    parser.add_argument("-o", "--output-dir", required=True, metavar="OUT_DIR",
                        help="folder for the results (same names, formats and bit depths as the inputs)")
    psf = parser.add_mutually_exclusive_group(required=True)
    psf.add_argument("--psf", metavar="SPEC", help="PSF spec (gaussian:sigma=2, motion:length=15,angle=30) "
                                                   "or PSF file; a 3-D PSF restores stacks as volumes")
    psf.add_argument("--blind", action="store_true", help="estimate the PSF of every image")
    parser.add_argument("--method", default="auto", choices=_methods(), help="non-blind method")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="method parameter (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="files restored at once on this machine")
    parser.add_argument("--scheduler", metavar="ADDR",
                        help="dask.distributed scheduler (tcp://host:port): run the files on that cluster "
                             "(its workers must see the input and output paths)")
    parser.add_argument("--suffix", default="", help="added to each output file's name")
    parser.add_argument("--overwrite", action="store_true",
                        help="redo files whose output exists (default: skip them, so a rerun resumes)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar; failures and summary only")


def run(args: argparse.Namespace) -> int:
    from ..scale.batch import run_batch

    bar = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(desc="batch", unit="file", file=sys.stderr)

    def progress(done, total):
        if bar is not None:
            if bar.total != total:
                bar.total = total
            bar.n = done
            bar.refresh()

    try:
        summary = run_batch(args.inputs, args.output_dir, psf=None if args.blind else args.psf,
                            method=args.method, params=parse_settings(args.set), jobs=args.jobs,
                            scheduler=args.scheduler, overwrite=args.overwrite, suffix=args.suffix,
                            progress=progress)
    finally:
        if bar is not None:
            bar.close()
    print(summary.report(), file=sys.stderr)
    return 0 if summary.ok else 1
