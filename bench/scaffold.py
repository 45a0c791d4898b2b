"""`bench new-method NAME`: write a method plugin package that passes the conformance suite as
generated, for its author to edit."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from bench.errors import BenchError
from bench.method import _NAME

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "bench-$name"
version = "0.1.0"
description = "The $name compatibility method for compat-bench."
requires-python = ">=3.11"
dependencies = ["compat-bench"]

[project.optional-dependencies]
test = ["pytest>=8"]

# How compat-bench finds the method: the entry-point group `bench`.
[project.entry-points.bench]
$name = "$module.method"

[tool.setuptools]
packages = ["$module"]
'''

METHOD = '''\
"""`$name`: the new model's features are pulled towards the previous model's features.

    L = L_base(φ_new(x), y) + weight · mean_i (1 − cos(φ_new(x_i), φ_old(x_i)))

with φ_old the previous step's frozen model, φ_new matched to its dimension (truncated or
zero-padded: `bench.nn.match_dim`).
Replace this with your method: cite the paper's equation, list every deviation.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import bench
from bench.nn import match_dim


class $cls(bench.Method):
    name = "$name"
    summary = "Base loss plus cosine distillation to the previous model."
    paper = ""  # "Author et al., Title, Venue Year"; then give `bibtex` and `code` (its URL)
    bibtex = ""
    code = ""
    deviations = ()  # one sentence per deliberate difference from the paper's recipe
    version = "1"  # a change to this file retrains by itself; bump this to name a new recipe
    defaults = {"weight": 1.0}
    presets = {"paper": {"weight": 1.0}}  # the published hyper-parameters

    def train(self, step: bench.Step) -> bench.Model:
        model = step.new_model()
        old = step.previous[-1] if step.previous else None
        weight = self.params["weight"]

        def loss_fn(batch: bench.Batch) -> dict[str, torch.Tensor]:
            out = model(batch.x)
            terms = {"base": step.base_loss(out, batch.y)}  # named terms: one curve each
            if old is not None:
                with torch.no_grad():
                    target = old(batch.x).features
                cosine = F.cosine_similarity(match_dim(out.features, target.shape[1]), target)
                terms["distillation"] = weight * (1 - cosine).mean()
            return terms

        return step.fit(model, loss_fn)


@bench.hookimpl
def bench_register_methods(register):
    register($cls)
'''

INIT = '''\
"""The $name compatibility method, a compat-bench plugin."""
'''

TESTS = '''\
"""compat-bench's conformance suite (the `bench_conformance` fixture comes from its pytest
plugin) and a test of this method's defining property, on real training."""

import torch.nn.functional as F

from bench.testing import train_tiny
from $module.method import $cls


def test_conforms(bench_conformance):
    bench_conformance($cls)


def agreement_with_the_old_model(weight: float) -> float:
    """Mean cosine between the second model's and the first model's features of the same
    images, after training with `weight`."""
    first, second = train_tiny($cls, {"weight": weight})
    old, new = (second.step.embed(done.model) for done in (first, second))
    return F.cosine_similarity(new, old).mean().item()


def test_the_distillation_term_makes_features_compatible():
    # Replace with what makes your method what it is.
    assert agreement_with_the_old_model(10.0) > agreement_with_the_old_model(0.0) + 0.3
'''

README = '''\
# bench-$name

The `$name` compatibility method for compat-bench.

```bash
pip install -e ".[test]"                   # into the environment that has compat-bench
pytest                                     # the conformance suite and this method's tests
bench run --scenario new-data --method $name --method independent
```
'''


def write_method_package(name: str, directory: Path) -> Path:
    """Write `directory/bench-NAME/` (pyproject with the entry point, the method module, its
    tests, a README) and return it; refuses to overwrite an existing folder."""
    if not _NAME.match(name):
        raise BenchError(f"bench new-method {name!r}: the name must be kebab-case, like "
                         f"'my-method' (lower-case letters, digits and single hyphens)")
    root = directory / f"bench-{name}"
    if root.exists():
        raise BenchError(f"bench new-method: {root} already exists; choose another name or "
                         f"--directory, or remove it")
    module = "bench_" + name.replace("-", "_")
    values = {"name": name, "module": module,
              "cls": "".join(part.capitalize() for part in re.split("-", name))}
    files = {"pyproject.toml": PYPROJECT, "README.md": README, f"{module}/__init__.py": INIT,
             f"{module}/method.py": METHOD, "tests/test_method.py": TESTS}
    for relative, template in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(template).substitute(values))
    return root
