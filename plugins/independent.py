"""`independent`: every step trained from scratch with the base loss alone."""

from __future__ import annotations

import bench


class Independent(bench.Method):
    """The no-compatibility reference: the new model ignores the old one entirely.

    Its cross-model accuracy shows what incompatibility looks like, and its own new/new accuracy
    is the paragon of BCT's update gain (what full backfilling with an unconstrained model gives).
    """

    name = "independent"
    summary = "No compatibility constraint: each step trained from scratch with the base loss."
    version = "1"

    def train(self, step: bench.Step) -> bench.Model:
        model = step.new_model()
        return step.fit(model, lambda batch: step.base_loss(model(batch.x), batch.y))


@bench.hookimpl
def bench_register_methods(register):
    register(Independent)
