"""Plugin discovery through real entry points, and isolation of broken plugins."""

import textwrap

import pytest

from bench.errors import PluginError, UnknownNameError
from bench.plugins import load_plugins


def test_builtin_methods_come_from_entry_points(plugins):
    assert {"independent", "l2"} <= set(plugins.methods.names())
    for name in ("independent", "l2"):
        info = plugins.info[plugins.methods.source(name)]
        assert info.distribution == "compat-bench"
        assert f"method:{name}" in info.registered
    assert {"multistep", "new-data"} <= set(plugins.scenarios.names())
    assert {"fashion-mnist", "synthetic"} <= set(plugins.datasets.names())


def install_fake_distribution(tmp_path, monkeypatch, modules: dict[str, str], entry_points: str):
    """Write modules and a .dist-info with entry points onto sys.path: a real installed dist."""
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    info = tmp_path / "fake_methods-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-methods\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text("[bench]\n" + textwrap.dedent(entry_points))
    monkeypatch.syspath_prepend(str(tmp_path))


GOOD = """
    import bench

    class Good(bench.Method):
        name = "good-method"
        summary = "A third-party method."
        def train(self, step):
            model = step.new_model()
            return step.fit(model, lambda b: step.base_loss(model(b.x), b.y))

    @bench.hookimpl
    def bench_register_methods(register):
        register(Good)
"""
INVALID = """
    import bench

    class NoName(bench.Method):
        summary = "missing its name"
        def train(self, step):
            raise NotImplementedError

    class Dup(NoName):
        name = "l2"

    @bench.hookimpl
    def bench_register_methods(register):
        register(NoName)
        register(Dup)
        register(object)
"""


def test_third_party_plugin_is_discovered_and_broken_ones_isolated(tmp_path, monkeypatch):
    install_fake_distribution(
        tmp_path, monkeypatch,
        {"good_plugin": GOOD, "invalid_plugin": INVALID, "broken_plugin": "import nope_missing\n"},
        "good = good_plugin\ninvalid = invalid_plugin\nbroken = broken_plugin\n",
    )
    plugins = load_plugins()
    assert "good-method" in plugins.methods
    assert plugins.distribution_of_method("good-method") == "fake-methods"
    assert {"independent", "l2"} <= set(plugins.methods.names())
    assert plugins.methods.source("l2") == "l2"  # the duplicate did not replace the built-in
    errors = "\n".join(plugins.errors)
    assert "broken" in errors and "nope_missing" in errors and "fake-methods" in errors
    assert "kebab-case" in errors  # missing name
    assert "already registered" in errors  # duplicate
    assert "not a subclass of bench.Method" in errors
    with pytest.raises(PluginError, match="nope_missing"):
        load_plugins(strict=True)


def test_disabled_plugins_are_not_loaded(monkeypatch):
    monkeypatch.setenv("BENCH_DISABLE_PLUGINS", "l2")
    assert "l2" not in load_plugins().methods


def test_unknown_method_suggests_a_close_name(plugins):
    with pytest.raises(UnknownNameError, match="did you mean 'independent'"):
        plugins.methods.get("independant")
