"""A CeleryExecutor that sends each try of a task to the next worker's queue, so that a retry runs
on another machine than the try before it, every time (proof/cluster only).

The scheduler is the only component that sends tasks to workers, so only its environment names it:

    AIRFLOW__CORE__EXECUTOR=proof.cluster.try_routing_executor.TryRoutingCeleryExecutor
    AIRFLOW__TRY_ROUTING__QUEUES=w1,w2          # one queue per worker, in order

A task on the default queue ([operators] default_queue) goes to queue number
`(try_number - 1) % len(queues)`: try 1 to w1, try 2 to w2, try 3 to w1... A task that names
another queue keeps it.

Why not a cluster policy: `task_instance_mutation_hook` runs when a task instance is created,
cleared or expanded, not when the scheduler queues a retry, so it never sees the new try number.
The executor sees every try as it is sent. (The task instance keeps its queue; the REST API's
`hostname` of each try shows where it ran.)
"""

from __future__ import annotations

from collections.abc import Sequence

from airflow.configuration import conf
from airflow.providers.celery.executors.celery_executor import CeleryExecutor

SECTION = "try_routing"


def route(queue: str | None, try_number: int, default_queue: str, queues: Sequence[str]) -> str | None:
    """The queue a try goes to: by try number if it is on the default queue, else its own."""
    if not queues or queue not in (None, default_queue):
        return queue
    return queues[(max(try_number, 1) - 1) % len(queues)]


class TryRoutingCeleryExecutor(CeleryExecutor):
    """CeleryExecutor whose task workloads on the default queue go to a queue chosen by try number."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.routing_queues = [q.strip() for q in conf.get(SECTION, "queues", fallback="").split(",") if q.strip()]
        self.default_queue = conf.get("operators", "default_queue")

    def _send_workloads(self, workload_tuples_to_send):
        from airflow.executors.workloads import ExecuteTask

        routed = []
        for key, workload, queue, team_name in workload_tuples_to_send:
            if isinstance(workload, ExecuteTask):
                new_queue = route(queue, workload.ti.try_number, self.default_queue, self.routing_queues)
                if new_queue != queue:
                    self.log.info("Routing %s try %s to queue %s", key, workload.ti.try_number, new_queue)
                queue = new_queue
            routed.append((key, workload, queue, team_name))
        return super()._send_workloads(routed)
