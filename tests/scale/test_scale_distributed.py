"""deconvkit.scale on a dask.distributed cluster inside the test suite."""

import numpy as np
import pytest

pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")

import deconvkit  # noqa: E402
from deconvkit import scale  # noqa: E402
from deconvkit.psf import gaussian  # noqa: E402


@pytest.fixture(scope="module")
def client():
    import dask

    # in-process workers measure the whole test process's memory: without this they would pause once
    # the suite's own arrays pass 80% of memory_limit (which is here only what sizes the tiles)
    quiet = {f"distributed.worker.memory.{name}": False for name in ("target", "spill", "pause", "terminate")}
    with dask.config.set(quiet):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                           memory_limit="400MB", dashboard_address=None)
        with distributed.Client(cluster) as c:
            yield c
        cluster.close()


def test_cluster_run_writes_zarr_reports_each_tile_and_matches_whole_array(client, tmp_path):
    rng = np.random.default_rng(0)
    psf = gaussian(1.0)
    data = (deconvkit.blur(rng.random((96, 96)).astype(np.float32), psf)
            + 0.01 * rng.standard_normal((96, 96))).astype(np.float32)
    calls = []
    output, info = scale.deconvolve(data, psf, method="richardson_lucy", iterations=8, chunks=(32, 32),
                                    output=str(tmp_path / "out.zarr"), scheduler=client, return_info=True,
                                    progress=lambda done, total: calls.append((done, total)))
    assert [d for d, _ in calls] == list(range(1, info.tiles + 1)) and info.tiles == 9
    restored = zarr.open_array(output, mode="r")[:]
    whole = deconvkit.deconvolve(data, psf, method="richardson_lucy", iterations=8, accelerate=False)
    inner = (slice(18, -18),) * 2
    assert np.abs(restored - whole)[inner].max() < 1e-4


def test_default_client_sets_the_memory_budget_per_worker_thread(client):
    psf = gaussian(1.0)
    data = np.random.default_rng(1).random((64, 64)).astype(np.float32)
    lazy, info = scale.deconvolve(data, psf, method="wiener", nsr=1e-2, return_info=True)
    limit = next(iter(client.scheduler_info()["workers"].values()))["memory_limit"]
    assert info.memory_budget == int(0.6 * limit) and info.concurrent_tiles == 1
    np.testing.assert_allclose(lazy.compute(), scale.deconvolve(data, psf, method="wiener", nsr=1e-2,
                                                                scheduler="synchronous").compute(
        scheduler="synchronous"), atol=1e-6)
