from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from bytewax.dataflow import Dataflow
from bytewax.testing import cluster_main, run_main


def run_flow(flow: Dataflow, workers: int = 1, **kwargs: Any) -> None:
    """Run a flow to completion in this process with ``workers`` worker threads."""
    if workers == 1:
        run_main(flow, **kwargs)
    else:
        cluster_main(flow, [], 0, worker_count_per_proc=workers, **kwargs)


@pytest.fixture
def flow_runner() -> Callable[..., None]:
    return run_flow
