"""The reproduction report: each built-in method's headline claim from its paper (or official
README), checked against result files of the scenario that matches the paper's setting, with
a verdict computed from the numbers, never typed by hand.

A claim is a comparison of a metric of the method with a number, with another metric of the
same units or with the same metric of another method on the same seeds. It holds on a seed
when the comparison is true there. Verdict: `reproduced` when it holds on the mean over seeds
and on every seed, `partially` when on some seeds or on the mean only, `not reproduced` when
on none. It is judged under the claim's protocol, and its reason also says under which other
protocols it holds, since the papers do not agree on one. A claim may name other scenarios
(`also`) whose reading its reason adds: the d-Simplex papers retrieve on classes no model
trained on, so their claims are judged on `multistep-transfer`, and read on `multistep` too.
A claim is judged again at longer budgets (`longer`) and under recipe variants (`variants`:
the same scenario and budget with one hyper-parameter changed), so a verdict that the budget
or a recipe constant decides says so.

    bench reproduction leaderboards/results --longer docs/convergence/eighth-32/x2 \
        --longer docs/convergence/new-data-eighth-32/x2 --longer docs/convergence/new-data-x4/x2 \
        --longer docs/convergence/multistep-transfer-eighth-32/x2 \
        --longer docs/convergence/multistep-transfer-x4/x2 \
        --variant docs/sensitivity/lce-angular-alignment --variant docs/sensitivity/simplex-k100 \
        --variant docs/sensitivity/simplex-k1024 --write docs/reproduction.md
"""

from __future__ import annotations

import operator
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bench.results import RunResult, mean_std, metric_values
from bench.scenarios import scenario_from_dict

PREFIX = {"leave-one-out": "", "seen-classes": "seen_", "growing-gallery": "",
          "transfer": ""}
OPERATORS = {">": operator.gt, ">=": operator.ge, "<": operator.lt}


@dataclass(frozen=True)
class Claim:
    """A paper's headline claim about `method` and how it is checked: `metric` `op` `than`,
    where `than` is a number, another metric of the method, or (with `of`) the same metric
    of the method `of`, per seed."""

    method: str
    statement: str
    source: str
    scenario: str
    protocol: str
    metric: str
    op: str
    than: str | float
    of: str | None = None
    also: tuple[str, ...] = ()  # other scenarios whose reading the reason adds

    @property
    def criterion(self) -> str:
        other = (f"{self.of}'s {self.metric}" if self.of else
                 f"{self.than}" if isinstance(self.than, float) else self.than)
        return f"{self.metric} {self.op} {other}"


CLAIMS: tuple[Claim, ...] = (
    Claim("independent", "Without a compatibility term the new model cannot search the old "
          "gallery: CIFAR-100, new/old top-1 0.8 against old/old 33.6.",
          "BT² README (YifeiZhou02/BT-2)", "new-data", "leave-one-out",
          "cross_top1", "<", "old_top1"),
    Claim("bct", "The new model searches the old gallery better than the old model does "
          "(ECC): ImageNet BCT/old 42.2 against old/old 39.5 top-1. BT²'s README finds the "
          "opposite on CIFAR-100, 50 → 100 classes: 25.0 against 33.6.",
          "openBCT README; BT² README", "new-data", "leave-one-out",
          "cross_top1", ">", "old_top1"),
    Claim("l2", "Regressing new features onto old ones does not give compatibility: "
          "ImageNet L2/old 13.0 against old/old 39.5 top-1.",
          "openBCT README", "new-data", "leave-one-out", "cross_top1", "<", "old_top1"),
    Claim("lce", "Aligning the new classifier with old class centres, new features inside "
          "the old class boundaries, passes ECC.", "Meng et al., ICCV 2021", "new-data",
          "leave-one-out", "cross_top1", ">", "old_top1"),
    Claim("advbct", "Adversarial, boundary-aware training makes the new model more "
          "compatible than BCT's.", "Pan et al., CVPR 2023", "new-data", "leave-one-out",
          "cross_top1", ">", "cross_top1", of="bct"),
    Claim("bt2", "Extra dimensions with a basis transformation pass ECC where BCT fails: "
          "CIFAR-100 50 → 100 classes, new/old 38.7 against old/old 33.6 top-1.",
          "BT² README", "new-data", "leave-one-out", "cross_top1", ">", "old_top1"),
    Claim("fct", "Transforming the stored gallery with side-information gets close to the "
          "new model: CIFAR-100, new/old 50.6 against old/old 32.9 (new/new 56.4) top-1.",
          "ml-fct README (apple/ml-fct)", "new-data", "leave-one-out",
          "cross_top1", ">", "old_top1"),
    Claim("ract", "Regression-alleviating compatible training is backward compatible "
          "(new/old beats old/old) while hot-refreshing the gallery.", "Zhang et al., ICLR 2022",
          "new-data", "leave-one-out", "cross_top1", ">", "old_top1"),
    Claim("lwf", "A baseline in CVS: distilling the old model's logits keeps a gallery that "
          "grows without re-encoding searchable better than training without a term.",
          "Wan et al., CVPR 2022 (baseline)", "multistep", "growing-gallery",
          "growing_top1", ">", "growing_top1", of="independent"),
    Claim("cvs", "Backward-consistent embeddings keep a gallery that grows without "
          "re-encoding searchable better than LwF does.", "Wan et al., CVPR 2022",
          "multistep", "growing-gallery", "growing_top1", ">", "growing_top1", of="lwf"),
    Claim("cores", "A fixed d-Simplex classifier makes every model compatible with every "
          "other across multiple upgrades, with no pairwise term: more compatible than "
          "chained BCT.", "Biondi et al., TPAMI 2023", "multistep-transfer", "transfer",
          "AC", ">", "AC", of="bct", also=("multistep",)),
    Claim("cl2r", "Feature distillation on replayed samples on top of the d-Simplex gives "
          "compatible lifelong representations: more compatible than CoReS alone.",
          "Biondi et al., ACM TOMM 2023", "multistep-transfer", "transfer", "AC", ">",
          "AC", of="cores", also=("multistep",)),
    Claim("hoc", "d-Simplex with higher-order dependencies: AC 0.95 over 7 CIFAR-100 tasks "
          "(replay baseline 0.00).", "iamcl2r README (miccunifi/iamcl2r)",
          "multistep-transfer", "transfer", "AC", ">=", 0.95, also=("multistep",)),
)


@dataclass
class Verdict:
    claim: Claim
    verdict: str
    ours: str
    seeds: int
    reason: str


def _holds(claim: Claim, results: Sequence[RunResult], prefix: str,
           ) -> tuple[dict[int, bool], float, float] | None:
    """Per seed whether the claim holds, and the mean of each side, under one protocol."""
    left = metric_values(results, claim.method, prefix + claim.metric)
    if isinstance(claim.than, float):
        right = dict.fromkeys(left, claim.than)
    else:
        right = metric_values(results, claim.of or claim.method, prefix + claim.than)
    seeds = sorted(set(left) & set(right))
    if not seeds:
        return None
    compare = OPERATORS[claim.op]
    return ({s: bool(compare(left[s], right[s])) for s in seeds},
            statistics.mean(left[s] for s in seeds), statistics.mean(right[s] for s in seeds))


def judge(claim: Claim, results: Sequence[RunResult]) -> Verdict:
    """The claim's verdict from the results of its scenario (every seed found)."""
    own = _holds(claim, results, PREFIX[claim.protocol])
    if own is None:
        return Verdict(claim, "no results", "—", 0,
                       f"no result of {claim.method}"
                       + (f" and {claim.of}" if claim.of else "") + f" on {claim.scenario}")
    per_seed, left, right = own
    left_values = list(metric_values(results, claim.method, PREFIX[claim.protocol] + claim.metric)
                       .values())
    on_mean = OPERATORS[claim.op](left, right)
    held = sum(per_seed.values())
    verdict = ("reproduced" if on_mean and held == len(per_seed) else
               "partially" if on_mean or held else "not reproduced")
    reason = (f"{claim.metric} {left:.3f} against {right:.3f} on the mean; holds on {held} "
              f"of {len(per_seed)} seeds")
    elsewhere = []
    for protocol, prefix in PREFIX.items():
        if protocol == claim.protocol or prefix == PREFIX[claim.protocol]:
            continue
        other = _holds(claim, results, prefix)
        if other is not None:
            seeds_held = sum(other[0].values())
            elsewhere.append(f"{protocol}: {other[1]:.3f} against {other[2]:.3f}, holds on "
                             f"{seeds_held} of {len(other[0])} seeds")
    if elsewhere:
        reason += "; under " + "; under ".join(elsewhere)
    return Verdict(claim, verdict, mean_std(left_values), len(per_seed), reason)


def budget_of(results: Sequence[RunResult]) -> str:
    """The presets the results trained under, each with its epochs and share of images
    ('standard: 32 epochs on 0.125 of the images'): a preset's name can change meaning."""
    budgets = {}
    for result in results:
        budget = scenario_from_dict(result.scenario_spec).presets.get(result.preset)
        if budget is None:
            budgets[result.preset] = result.preset
            continue
        share = "all" if budget.data_fraction == 1 else f"{budget.data_fraction:g}"
        budgets[result.preset] = (f"{result.preset}: {budget.epochs} epochs on {share} of "
                                  "the images")
    return ", ".join(budgets[name] for name in sorted(budgets)) or "—"


def _seeds(verdict: Verdict) -> str:
    return f"{verdict.ours} ({verdict.seeds} seed{'s' * (verdict.seeds != 1)})"


def _epochs(result: RunResult) -> int:
    budget = scenario_from_dict(result.scenario_spec).presets.get(result.preset)
    return budget.epochs if budget else 0


def _at_longer_budget(claim: Claim, verdict: Verdict, scenario_results: Sequence[RunResult],
                      longer: Sequence[RunResult]) -> str:
    """The claim judged on the same scenario trained longer, at each longer budget found
    (shortest first), and whether the verdict moved at any of them. Only longer units of the
    recipes judged at the board's budget count: a method changed since its longer run is not
    judged there."""
    recipes = {(r.method, r.recipe()) for r in scenario_results}
    there = [r for r in longer if r.scenario == claim.scenario]
    scenario = sorted((r for r in there if (r.method, r.recipe()) in recipes), key=_epochs)
    if there and not scenario:
        return "— (the longer files come from other versions or parameters of the methods)"
    cells, verdicts = [], set()
    for preset in dict.fromkeys(r.preset for r in scenario):
        trained = [r for r in scenario if r.preset == preset]
        other = judge(claim, trained)
        if other.verdict != "no results":
            cells.append(f"{budget_of(trained)}: **{other.verdict}**, {_seeds(other)}")
            verdicts.add(other.verdict)
    if not cells:
        return "—"
    moved = ("**the verdict depends on the budget**" if verdicts - {verdict.verdict}
             else "the same verdict")
    return "; ".join([*cells, moved])


def _changed_by(results: Sequence[RunResult]) -> str:
    """The `--set` options that trained `results` ('--set lce.alignment_weight=3.125')."""
    options = sorted({f"--set {r.method}.{key}={value}" for r in results
                      for key, value in r.overrides.items()})
    return f"`{' '.join(options)}`" if options else "the default recipe"


def _under_variants(claim: Claim, verdict: Verdict, scenario_results: Sequence[RunResult],
                    variants: Sequence[Sequence[RunResult]]) -> str:
    """The claim judged again with the units of each variant (the claim's methods trained
    with a hyper-parameter changed) in place of the board's, one variant at a time. Only a
    variant of the versions and the budget judged at the board's budget counts."""
    methods = {claim.method, claim.of}
    versions = {(r.method, r.method_version) for r in scenario_results}
    cells, verdicts = [], set()
    for variant in variants:
        there = [r for r in variant if r.scenario == claim.scenario and r.method in methods]
        if not there:
            continue
        if (any((r.method, r.method_version) not in versions for r in there)
                or budget_of(there) != budget_of(scenario_results)):
            cells.append(f"{_changed_by(there)}: — (its files come from other versions or "
                         "budgets of the methods)")
            continue
        replaced = {(r.method, r.seed) for r in there}
        other = judge(claim, [*there, *(r for r in scenario_results
                                        if (r.method, r.seed) not in replaced)])
        cells.append(f"{_changed_by(there)}: **{other.verdict}**, {_seeds(other)}")
        verdicts.add(other.verdict)
    if not cells:
        return "—"
    if verdicts:
        cells.append("**the verdict depends on the recipe**" if verdicts - {verdict.verdict}
                     else "the same verdict")
    return "; ".join(cells)


def report(results: Sequence[RunResult], claims: Sequence[Claim] = CLAIMS,
           longer: Sequence[RunResult] = (), variants: Sequence[Sequence[RunResult]] = (),
           command: str = "bench reproduction leaderboards/results --write "
                          "docs/reproduction.md") -> str:
    """docs/reproduction.md: one row per claim, from the results of each claim's scenario.
    With `longer` (the same scenarios trained at more epochs, as benchmarks/convergence.py
    does; several budgets are judged apart), each claim is judged there too, so a verdict
    that the budget decides says so. With `variants` (result folders of the claims' methods
    trained with a hyper-parameter changed), each claim is judged under each variant too.
    `command` is the one the header says generated the report."""
    rows = []
    presets = sorted({r.preset for r in results})
    for claim in claims:
        scenario = [r for r in results if r.scenario == claim.scenario]
        verdict = judge(claim, scenario)
        for name in claim.also:
            there = [r for r in results if r.scenario == name]
            if there:
                protocol = scenario_from_dict(there[0].scenario_spec).protocol
                other = judge(replace(claim, scenario=name, protocol=protocol), there)
                verdict = replace(verdict, reason=f"{verdict.reason}; on `{name}` under "
                                                  f"{protocol}: {other.reason}")
        extra_cells = ""
        if longer:
            extra_cells += f" {_at_longer_budget(claim, verdict, scenario, longer)} |"
        if variants:
            extra_cells += f" {_under_variants(claim, verdict, scenario, variants)} |"
        rows.append(f"| `{claim.method}` | {claim.statement} ({claim.source}) | "
                    f"`{claim.scenario}`, {claim.protocol}, {budget_of(scenario)} | "
                    f"{claim.criterion} | {_seeds(verdict)} | **{verdict.verdict}** | "
                    f"{verdict.reason} |{extra_cells}")
    header = "| method | claim (source) | our setting | criterion | ours | verdict | reason |"
    rule = "|---|---|---|---|---|---|---|"
    columns_text = ""
    if longer:
        header += " at a longer budget |"
        rule += "---|"
        columns_text += (
            " The column 'at a longer budget' judges the same claim on the same scenario "
            "trained longer (`--longer`: the files benchmarks/convergence.py trains at twice "
            "the epochs, or twice those, presets: " + ", ".join(sorted({
                r.preset for r in longer})) + "); where the verdict differs, the budget, not "
            "the method, decides it (docs/convergence.md).")
    if variants:
        header += " under a recipe variant |"
        rule += "---|"
        columns_text += (
            " The column 'under a recipe variant' judges the same claim at the same budget "
            "with a recipe constant changed (`--variant`: result files trained with the "
            "`--set` options it names, kept under docs/sensitivity/); where the verdict "
            "differs, that constant decides it (docs/methods.md).")
    return "\n".join([
        "# Reproduction report", "",
        f"Generated by `{command}` from the result files (presets: "
        + ", ".join(presets) + "); do not edit by hand. "
        "Each row is a method's headline claim, the scenario whose setting is closest to the "
        "paper's, the criterion checked on every seed, our value (mean ± std over seeds) and "
        "the verdict: reproduced (on the mean and every seed), partially (on the mean or some "
        "seeds), not reproduced (on none). The reason gives the numbers, and the same "
        "criterion under the other protocols the unit was scored with (docs/metrics.md, "
        "Protocols)." + columns_text + " Fashion-MNIST with a small CNN is not the papers' "
        "setting: a verdict here says whether the claimed effect appears at this scale under "
        "one budget, and a claim not reproduced is a finding to examine, not a refutation.", "",
        header, rule, *rows, ""])
