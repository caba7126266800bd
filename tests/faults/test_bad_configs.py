"""Bad configuration: one line naming the file, the key or the line, exit 2, and no step runs.

A config file is checked like the command line: the packaged ``config.yaml`` is the schema,
and a key it lacks is refused with the closest known keys.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest

from .conftest import assert_clean_error, cli

PACKAGED = resources.files("modelmill.conf").joinpath("config.yaml").read_text()


def _tab_indented(text: str) -> str:
    return text.replace("\n  min_price: 10", "\n\tmin_price: 10")


FILES: dict[str, tuple[Callable[[str], str], list[str]]] = {
    "tab-indented": (_tab_indented, ["not valid YAML", "line 3", "tabs"]),
    "malformed": (lambda text: "main: [\n  a: 1\n", ["not valid YAML", "line 3"]),
    "empty": (lambda text: "", ["is empty", "config.yaml"]),
    "a list": (lambda text: "- main\n- etl\n", ["mapping of sections"]),
    "typo in a key": (lambda text: text.replace("min_price: 10", "min_prise: 10"),
                      ["etl.min_prise", "Did you mean: etl.min_price"]),
    "unknown section": (lambda text: text + "\nlogging_extra:\n  level: 3\n", ["'logging_extra'"]),
    "no main section": (lambda text: text.replace("\nmain:", "\nmain_settings:"),
                        ["'main_settings'", "main"]),
}  # fmt: skip


def _workspace_untouched(home: Path) -> None:
    """No step ran: nothing was stored."""
    blobs = home / "blobs"
    assert not blobs.exists() or not any(p.is_file() for p in blobs.rglob("*"))


@pytest.mark.parametrize("case", sorted(FILES))
def test_a_bad_config_file_is_one_line_exit_2(case: str, tmp_path: Path, _isolated_home: Path) -> None:
    edit, words = FILES[case]
    conf = tmp_path / "conf"
    conf.mkdir()
    text = edit(PACKAGED)
    if case == "tab-indented":  # the packaged file's etl section, moved to the top so the line is known
        text = "etl:\n  demo_rows: 5000\n\tmin_price: 10\n"
    (conf / "config.yaml").write_text(text)
    result = cli("run", "--config-dir", str(conf), "main.tracking=none")
    line = assert_clean_error(result, 2, *words)
    assert str(conf) in line
    _workspace_untouched(_isolated_home)


def test_a_broken_config_group_file_is_one_line_exit_2(tmp_path: Path, _isolated_home: Path) -> None:
    conf = tmp_path / "conf"
    (conf / "model").mkdir(parents=True)
    (conf / "config.yaml").write_text(PACKAGED)
    (conf / "model" / "random_forest.yaml").write_text("# @package modeling\nestimator: [random_forest\n")
    result = cli("run", "--config-dir", str(conf), "main.tracking=none")
    assert_clean_error(result, 2, "not valid YAML", str(conf))
    _workspace_untouched(_isolated_home)


def test_a_missing_config_dir_is_one_line_exit_2(tmp_path: Path) -> None:
    result = cli("run", "--config-dir", str(tmp_path / "nowhere"), "main.tracking=none")
    assert_clean_error(result, 2, "config.yaml", "nowhere")


OVERRIDES = {
    "etl.min_prise=3": ["unknown config key 'etl.min_prise'", "etl.min_price"],
    "model=nosuch": ["Could not find 'model/nosuch'", "logistic_regression, random_forest"],
    "main.steps=[a": ["bad override", "KEY=VALUE"],
    "etl.min_price=abc": ["conf/dataset/nyc_rentals.yaml", "columns.price: range: 'abc' is not a number"],
    "main.steps=nosuch": ["unknown step 'nosuch'", "get_data"],
}


@pytest.mark.parametrize("override", sorted(OVERRIDES))
def test_a_bad_override_is_one_line_exit_2(override: str, _isolated_home: Path) -> None:
    result = cli("run", "main.tracking=none", override)
    assert_clean_error(result, 2, *OVERRIDES[override])
    _workspace_untouched(_isolated_home)


def test_the_packaged_config_passes_its_own_check(tmp_path: Path) -> None:
    from modelmill import config

    (tmp_path / "config.yaml").write_text(PACKAGED)
    cfg = config.compose(["model=hist_gradient_boosting"], config_dir=tmp_path)
    assert cfg.modeling.estimator == "hist_gradient_boosting"
