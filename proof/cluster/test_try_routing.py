"""The scheduler's routing of tries to worker queues (try_routing_executor.py), on its own."""

import pytest

from proof.cluster.try_routing_executor import route

pytestmark = pytest.mark.cluster


@pytest.mark.parametrize(
    ("queue", "try_number", "expected"),
    [
        ("default", 1, "w1"),
        ("default", 2, "w2"),
        ("default", 3, "w1"),
        (None, 2, "w2"),
        ("w2", 1, "w2"),  # a task that names its queue keeps it
        ("gpu", 2, "gpu"),
    ],
)
def test_a_try_on_the_default_queue_goes_to_the_queue_of_its_try_number(queue, try_number, expected):
    assert route(queue, try_number, "default", ["w1", "w2"]) == expected
