"""The benchmark's account of where the time goes: a service's metrics summed, py-spy's stacks read."""

from bench.where import collapsed, spent
from egov.runtime.metrics import HANDLED, Metrics


def test_the_seconds_a_service_spent_are_summed_from_its_metrics() -> None:
    metrics = Metrics("onestop")
    for _ in range(3):
        metrics.event("egov.dossiers.v1", "DossierSubmitted", HANDLED)
    metrics.handler_seconds.labels("onestop", "egov.dossiers.v1", "DossierSubmitted").observe(0.25)
    metrics.handler_seconds.labels("onestop", "egov.journeys.v1", "JourneyStep").observe(0.5)
    metrics.publish_seconds.labels("onestop").observe(0.125)
    metrics.request("POST", "/api/v1/dossiers", 202, 0.0625)

    found = spent(metrics.exposition().decode())

    assert found == {"handler_s": 0.75, "publish_s": 0.12, "http_s": 0.06, "events_handled": 3.0}


def test_a_profile_counts_own_time_by_leaf_and_the_project_s_functions_once_per_stack() -> None:
    stacks = "\n".join(
        [
            "run (/x/lib/python3.11/asyncio/runners.py:118);handle (/x/main/egov/runtime/service.py:281);"
            "encode (/x/site-packages/fastavro/_write.py:10) 6",
            "run (/x/lib/python3.11/asyncio/runners.py:118);handle (/x/main/egov/runtime/service.py:281);"
            "handle (/x/main/egov/runtime/service.py:281) 2",
            "select (/x/lib/python3.11/selectors.py:468) 2",
            "not a stack line",
        ]
    )

    found = collapsed("onestop", 5, stacks, top=3)

    assert found.samples == 10
    assert found.own[0] == ("encode (fastavro/_write.py:10)", 0.6)
    assert ("handle (egov/runtime/service.py:281)", 0.8) in found.project  # counted once in the 2-frame stack
    assert ("select (selectors.py:468)", 0.2) in found.own


def test_the_machine_is_as_busy_as_the_cpu_seconds_of_the_stack_and_the_load_over_the_wall_time() -> None:
    from bench.__main__ import machine_busy
    from bench.resources import Usage

    busy = machine_busy(Usage(cpu_seconds=30.0, seconds=16.0, own_cpu_seconds=4.0), cpus=2)
    assert busy == {
        "wall_s": 16.0,
        "stack_cpu_s": 30.0,
        "load_generator_cpu_s": 4.0,
        "cpus_busy": 2.12,
        "cpus": 2,
    }
