"""Plugin discovery through real entry points, and isolation of broken plugins."""


import pytest

from bench.errors import PluginError, UnknownNameError
from bench.plugins import load_plugins
from tests.conftest import write_distribution


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
    write_distribution(tmp_path, modules, entry_points)
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


BAD_DEFAULTS = """
    import bench

    class BadDefaults(bench.Method):
        name = "bad-defaults"
        summary = "defaults holding a list"
        defaults = {"weights": [1.0, 2.0]}
        def train(self, step):
            raise NotImplementedError

    @bench.hookimpl
    def bench_register_methods(register):
        register(BadDefaults)
"""
MISSPELT = """
    import bench

    @bench.hookimpl
    def bench_register_method(register):
        raise AssertionError("never called")
"""
UNMARKED = """
    def bench_register_methods(register):
        raise AssertionError("never called")
"""


def test_every_broken_plugin_case_is_reported_and_the_cli_keeps_working(
        tmp_path, monkeypatch, capsys):
    from bench.cli import main

    install_fake_distribution(
        tmp_path, monkeypatch,
        {"good_plugin": GOOD, "defaults_plugin": BAD_DEFAULTS, "misspelt_plugin": MISSPELT,
         "unmarked_plugin": UNMARKED, "invalid_plugin": INVALID,
         "broken_plugin": "import nope_missing\n"},
        "good = good_plugin\ndefaults = defaults_plugin\nmisspelt = misspelt_plugin\n"
        "unmarked = unmarked_plugin\ninvalid = invalid_plugin\nbroken = broken_plugin\n",
    )
    plugins = load_plugins()
    errors = {p.name: " ".join(p.errors) for p in plugins.info.values()}
    assert "defaults must map str to bool/int/float/str" in errors["defaults"]
    assert "unknown hook 'bench_register_method'" in errors["misspelt"]
    assert "did you mean 'bench_register_methods'" in errors["misspelt"]
    assert "not marked with @bench.hookimpl" in errors["unmarked"]
    assert errors["good"] == "" and "bad-defaults" not in plugins.methods

    assert main(["list", "methods"]) == 0
    out, err = capsys.readouterr()
    assert "good-method" in out and "l2" in out
    for problem in ("unknown hook", "nope_missing", "already registered", "kebab-case"):
        assert problem in err  # each reported, with the distribution
    assert "fake-methods" in err
    assert main(["plugins"]) == 0
    out, _ = capsys.readouterr()
    assert "good  (fake-methods 0.3)" in out and "ERROR" in out
    assert main(["--strict-plugins", "list", "methods"]) == 2
    assert "--strict-plugins" in capsys.readouterr().err


def test_disabled_plugins_are_not_loaded(monkeypatch):
    monkeypatch.setenv("BENCH_DISABLE_PLUGINS", "l2")
    assert "l2" not in load_plugins().methods


def test_unknown_method_suggests_a_close_name(plugins):
    with pytest.raises(UnknownNameError, match="did you mean 'independent'"):
        plugins.methods.get("independant")


def test_new_method_refuses_bad_names_taken_names_and_existing_folders(tmp_path, capsys):
    from bench.cli import main

    assert main(["new-method", "My_Method", "--directory", str(tmp_path)]) == 2
    assert "kebab-case" in capsys.readouterr().err
    assert main(["new-method", "l2", "--directory", str(tmp_path)]) == 2
    assert "already registered" in capsys.readouterr().err
    assert main(["new-method", "fresh-idea", "--directory", str(tmp_path)]) == 0
    assert (tmp_path / "bench-fresh-idea" / "bench_fresh_idea" / "method.py").is_file()
    assert "class FreshIdea(bench.Method)" in (
        tmp_path / "bench-fresh-idea" / "bench_fresh_idea" / "method.py").read_text()
    assert main(["new-method", "fresh-idea", "--directory", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize(("field", "value", "message"), [
    ("bibtex", "Shen et al. 2020", "bibtex must be one BibTeX entry"),
    ("code", "github.com/x/y", "code must be the https:// URL"),
    ("deviations", ["a list"], "deviations must be a tuple of non-empty strings"),
    ("deviations", ("",), "deviations must be a tuple of non-empty strings"),
])
def test_a_malformed_method_card_is_refused_with_what_to_write(plugins, field, value, message):
    from bench.method import validate_method_class

    good = type("Carded", (plugins.methods.get("l2"),), {
        "name": "carded", "bibtex": "@inproceedings{key2020,\n  title={T},\n}",
        "code": "https://github.com/x/y", "deviations": ("One difference.",)})
    validate_method_class(good)
    with pytest.raises(PluginError, match=message):
        validate_method_class(type("Bad", (good,), {field: value}))
