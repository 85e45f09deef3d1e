"""The bounded job pool: capacity, cancellation through the progress callback, temporary folders."""

import os
import threading

import pytest

from deconvkit.web.jobs import JobCancelled, JobManager, Overloaded


@pytest.fixture
def manager(tmp_path):
    manager = JobManager(1, 1, keep=2, temp_root=str(tmp_path))
    yield manager
    manager.shutdown()


def blocking(release, seen=None):
    def work(job, folder):
        if seen is not None:
            seen.append(folder)
        while not release.wait(0.01):
            job.progress(1, 2)  # raises JobCancelled once cancelled
        return "finished"
    return work


def test_capacity_is_workers_plus_queue(manager):
    release = threading.Event()
    first = manager.submit("a", blocking(release))
    second = manager.submit("b", blocking(release))
    with pytest.raises(Overloaded, match="busy"):
        manager.submit("c", blocking(release))
    release.set()
    for job in (first, second):
        assert job.finished_event.wait(10) and job.status == "done" and job.result == "finished"
    assert manager.submit("d", lambda job, folder: 1).finished_event.wait(10)


def test_cancel_running_and_queued(manager, tmp_path):
    release = threading.Event()
    folders = []
    running = manager.submit("a", blocking(release, folders))
    queued = manager.submit("b", blocking(release))
    while running.status != "running":
        pass
    manager.cancel(queued.id)
    assert queued.status == "cancelled"  # at once: it frees its queue place
    manager.cancel(running.id)
    assert running.finished_event.wait(10) and running.status == "cancelled"
    assert not os.path.exists(folders[0]) and not any(tmp_path.iterdir())
    assert queued.finished_event.wait(10) and queued.result is None  # never ran


def test_failure_is_recorded_and_the_folder_removed(manager, tmp_path):
    def fail(job, folder):
        open(os.path.join(folder, "partial.png"), "wb").close()
        raise ValueError("bad value")

    job = manager.submit("a", fail)
    assert job.finished_event.wait(10)
    assert job.status == "failed" and job.error == "bad value" and isinstance(job.exception, ValueError)
    assert not any(tmp_path.iterdir())


def test_progress_phases_map_onto_one_scale(manager):
    job = manager.submit("a", lambda job, folder: None)
    job.finished_event.wait(10)
    report = job.phased("restoring", 0.5, 1.0)
    report(1, 4)
    assert (job.done, job.total, job.phase) == (625, 1000, "restoring")
    job.cancel_event.set()
    with pytest.raises(JobCancelled):
        report(2, 4)


def test_old_finished_jobs_are_forgotten(manager):
    jobs = []
    for _ in range(4):  # one after another: capacity is 2
        jobs.append(manager.submit("a", lambda job, folder: None))
        assert jobs[-1].finished_event.wait(10)
    manager.submit("a", lambda job, folder: None).finished_event.wait(10)
    # keep=2: the two oldest finished jobs were forgotten when later ones were submitted
    assert manager.get(jobs[0].id) is None and manager.get(jobs[1].id) is None
    assert manager.get(jobs[-1].id) is not None
