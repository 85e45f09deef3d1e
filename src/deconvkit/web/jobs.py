"""A bounded pool of background jobs with progress, cancellation and a temporary folder each.

Work runs on a :class:`~concurrent.futures.ThreadPoolExecutor`: deconvkit's FFTs and array arithmetic
release the GIL, and threads let a job be cancelled through the ``progress`` callback the solvers already
call (the callback raises :class:`JobCancelled`, which unwinds the solver). The number of jobs running or
waiting is capped; one more raises :class:`Overloaded`, which the app answers with 503.
"""

from __future__ import annotations

import collections
import concurrent.futures
import dataclasses
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

__all__ = ["Job", "JobManager", "JobCancelled", "Overloaded"]

ACTIVE = ("queued", "running")


class JobCancelled(Exception):
    """Raised inside a job's progress callback once the job has been cancelled."""


class Overloaded(Exception):
    """Every worker is busy and the queue is full."""


@dataclasses.dataclass
class Job:
    """One unit of work and what the client may ask about it."""

    id: str
    kind: str
    status: str = "queued"  # queued, running, done, failed, cancelled
    phase: str = ""
    done: int = 0
    total: int = 0
    error: str | None = None
    result: Any = None
    exception: BaseException | None = dataclasses.field(default=None, repr=False)
    created: float = dataclasses.field(default_factory=time.time)
    finished: float | None = None
    cancel_event: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)
    finished_event: threading.Event = dataclasses.field(default_factory=threading.Event, repr=False)

    def progress(self, done, total, phase: str | None = None) -> None:
        """The ``progress(done, total)`` callback handed to deconvkit; raises once cancelled."""
        if self.cancel_event.is_set():
            raise JobCancelled(self.id)
        self.done, self.total = int(done), int(total)
        if phase is not None:
            self.phase = phase

    def phased(self, phase: str, start: float, stop: float) -> Callable[[int, int], None]:
        """A callback mapping one phase's ``done/total`` onto ``[start, stop]`` of a 0-1000 scale."""
        def report(done, total):
            fraction = done / total if total else 0.0
            self.progress(round(1000 * (start + (stop - start) * min(fraction, 1.0))), 1000, phase)
        return report

    @property
    def fraction(self) -> float:
        if self.status == "done":
            return 1.0
        return self.done / self.total if self.total else 0.0

    def describe(self) -> dict:
        return {"id": self.id, "kind": self.kind, "status": self.status, "phase": self.phase,
                "progress": round(self.fraction, 4), "done": self.done, "total": self.total,
                "error": self.error}


class JobManager:
    """Runs jobs on ``workers`` threads with at most ``queue_limit`` waiting.

    Parameters
    ----------
    workers, queue_limit : int
    keep : int
        Finished jobs remembered (with their results); the oldest finished ones are forgotten first.
    temp_root : str, optional
        Parent of the per-job temporary folders.
    name : str
        Thread name prefix (shows in stack dumps).
    """

    def __init__(self, workers: int, queue_limit: int, *, keep: int = 32, temp_root: str | None = None,
                 name: str = "deconvkit-job"):
        self.workers = workers
        self.capacity = workers + queue_limit
        self.keep = keep
        self.temp_root = temp_root
        self._executor = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix=name)
        self._jobs: collections.OrderedDict[str, Job] = collections.OrderedDict()
        self._lock = threading.Lock()

    def active(self) -> int:
        with self._lock:
            return sum(job.status in ACTIVE for job in self._jobs.values())

    def submit(self, kind: str, work: Callable[[Job, str], Any]) -> Job:
        """Queue ``work(job, workdir)``; its return value becomes ``job.result``.

        ``workdir`` is a fresh temporary folder, removed when the work ends however it ends.

        Raises
        ------
        Overloaded
            ``workers + queue_limit`` jobs are already running or waiting.
        """
        with self._lock:
            if sum(job.status in ACTIVE for job in self._jobs.values()) >= self.capacity:
                raise Overloaded(f"the server is busy ({self.capacity} jobs running or queued); try again")
            job = Job(uuid.uuid4().hex, kind)
            self._jobs[job.id] = job
            self._forget_old()
        self._executor.submit(self._run, job, work)
        return job

    def run(self, kind: str, work: Callable[[Job, str], Any], timeout: float | None = None) -> Job:
        """Submit and wait; the finished job is forgotten at once (it is not pollable)."""
        job = self.submit(kind, work)
        job.finished_event.wait(timeout)
        with self._lock:
            self._jobs.pop(job.id, None)
        return job

    def _run(self, job: Job, work) -> None:
        with self._lock:  # against a cancel() between the check and the status change
            if job.cancel_event.is_set():
                self._finish(job, "cancelled")
                return
            job.status = "running"
        workdir = tempfile.mkdtemp(prefix="deconvkit-web-", dir=self.temp_root)
        try:
            job.result = work(job, workdir)
            status = "cancelled" if job.cancel_event.is_set() else "done"
        except JobCancelled:
            status = "cancelled"
        except Exception as exc:  # reported to the client as the job's error, never kills the worker
            job.error = str(exc) or type(exc).__name__
            job.exception = exc
            status = "failed"
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        self._finish(job, status)

    def _finish(self, job: Job, status: str) -> None:
        job.status = status
        job.finished = time.time()
        job.finished_event.set()

    def _forget_old(self) -> None:
        finished = [job_id for job_id, job in self._jobs.items() if job.status not in ACTIVE]
        for job_id in finished[:max(0, len(finished) - self.keep)]:
            del self._jobs[job_id]

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        """Ask a job to stop: a queued job never starts, a running one stops at its next progress call."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and job.status in ACTIVE:
                job.cancel_event.set()
                if job.status == "queued":  # frees its queue place now; the worker skips it
                    self._finish(job, "cancelled")
        return job

    def shutdown(self) -> None:
        with self._lock:
            for job in self._jobs.values():
                job.cancel_event.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
