"""A scenario as a reader wants to see it: what it is, its steps and its budgets, as tables."""

from __future__ import annotations

import dataclasses

from tabulate import tabulate

from bench.scenarios.spec import Budget, ScenarioSpec


def describe_scenario(spec: ScenarioSpec) -> str:
    """Markdown: a header of facts, one row per step, one row per budget preset."""
    evaluation = {
        "leave-one-out": "leave-one-out retrieval on the test split of the seen classes",
        "growing-gallery": "test queries of the seen classes against a gallery of training "
                           "images embedded at arrival, never re-encoded",
        "transfer": f"leave-one-out retrieval on {spec.evaluation_dataset!r}'s test split"
                    if spec.evaluation_dataset else
                    "leave-one-out retrieval on the test images of the classes no step trains on",
    }[spec.protocol]
    order = spec.class_order if isinstance(spec.class_order, str) else list(spec.class_order)
    facts = [f"# {spec.name}", "", spec.description, "",
             f"- dataset: {spec.dataset}"
             + (f" {spec.dataset_options}" if spec.dataset_options else ""),
             f"- family: {spec.family}; class order: {order}; {spec.num_steps} steps, "
             f"{spec.capacity} classes",
             f"- evaluation ({spec.protocol}): {evaluation}",
             *([f"- growing gallery: {spec.gallery_per_class or 'all'} training images per "
                f"class join it when their class arrives"] if spec.grows_gallery else []),
             f"- file: {spec.source}"]
    seen = 0
    steps = []
    for t, step in enumerate(spec.steps, start=1):
        seen += step.new_classes
        memory = (f"{step.memory_per_class}/class ({step.memory_selection})"
                  if step.memory_per_class else "—")
        steps.append([t, step.new_classes, seen, step.data, step.fraction, memory,
                      step.architecture, step.loss, step.embedding_dim])
    step_table = tabulate(steps, headers=["step", "new classes", "seen", "data", "fraction",
                                          "replay memory", "architecture", "loss", "dim"],
                          tablefmt="github")
    budget_fields = [f.name for f in dataclasses.fields(Budget)]
    budgets = [[name, *(getattr(b, f) for f in budget_fields)]
               for name, b in sorted(spec.presets.items())]
    budget_table = tabulate(budgets, headers=["preset", *budget_fields], tablefmt="github")
    return "\n".join(facts) + "\n\n## Steps\n\n" + step_table + "\n\n## Budgets (every " \
        "method gets the same)\n\n" + budget_table
