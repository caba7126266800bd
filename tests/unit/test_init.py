"""``modelmill init``: the project folder it writes, what it refuses, and the defaults every
command then reads from the project's config (modelmill.projects)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from modelmill.cli import app
from modelmill.config import compose
from modelmill.datasets.spec import spec_from_config
from modelmill.projects.defaults import project_defaults
from modelmill.projects.scaffold import init_project, project_family, project_name
from tests.unit.test_infer import cars_csv, weather_csv

runner = CliRunner()
pytestmark = pytest.mark.filterwarnings("ignore:The 'convert_dates' keyword")


def init(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, ["init", *args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def cars_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project made the way a user would: the table copied into the folder first."""
    root = tmp_path_factory.mktemp("cars") / "cars-project"
    (root / "data").mkdir(parents=True)
    cars_csv(root / "data" / "cars.csv")
    init_project(root, root / "data" / "cars.csv", "Miles_per_Gallon")
    return root


def test_project_files(cars_project: Path) -> None:
    files = sorted(str(p.relative_to(cars_project)) for p in cars_project.rglob("*") if p.is_file())
    assert files == [".gitignore", "README.md", "conf/config.yaml", "conf/dataset/cars.yaml", "data/cars.csv",
                     "steps/__init__.py"]  # fmt: skip
    assert ".modelmill/" in (cars_project / ".gitignore").read_text().splitlines()
    readme = (cars_project / "README.md").read_text()
    assert "models:/cars@prod" in readme and "modelmill run" in readme and "modelmill score" in readme
    spec_text = (cars_project / "conf" / "dataset" / "cars.yaml").read_text()
    assert "Origin: {role: categorical}  # categorical: 3 distinct values in 406 rows" in spec_text


def test_config_composes_with_the_project_names(cars_project: Path) -> None:
    cfg = compose([], config_dir=cars_project / "conf")  # the config-file check included
    assert cfg.main.model_name == "cars" and cfg.main.experiment_name == "cars"
    assert cfg.main.model_artifact == "cars_model"
    written = yaml.safe_load((cars_project / "conf" / "config.yaml").read_text())["etl"]["sample"]
    assert written == "data/cars.csv"  # relative in the file: the data is inside the project
    assert cfg.etl.sample == str(cars_project / "data" / "cars.csv")  # resolved against the project
    assert cfg.modeling.estimator == project_family()  # gradient boosting, native categoricals
    assert project_family() in ("gradient_boosting", "hist_gradient_boosting")
    spec = spec_from_config(cfg)
    assert spec.name == "cars" and spec.target == "Miles_per_Gallon" and spec.task == "regression"
    assert cfg.data_check.min_rows == 203  # half of the 406 rows, not the packaged 1000
    doc = yaml.safe_load((cars_project / "conf" / "config.yaml").read_text())
    text = yaml.safe_dump(doc)
    for nyc in ("nyc", "price", "neighbourhood", "longitude", "random_forest_export", "min_date"):
        assert nyc not in text, nyc
    assert doc["defaults"] == ["_self_", {"dataset": "cars"}, {"model": project_family()}]


def test_commands_default_to_the_project(cars_project: Path) -> None:
    defaults = project_defaults(config_dir=cars_project / "conf")
    assert defaults.model_uri == "models:/cars@prod"
    assert defaults.id_column is None and defaults.target == "Miles_per_Gallon"
    assert defaults.metric == "mae" and defaults.section("monitoring")["psi_drift"] == 0.25
    packaged = project_defaults()
    assert packaged.model_uri == "models:/nyc_rentals@prod" and packaged.id_column == "id"


def test_cli_json_and_refusals(tmp_path: Path) -> None:
    data = weather_csv(tmp_path / "seattle-weather.csv")
    out = json.loads(init(str(tmp_path / "w"), "--data", str(data), "--target", "weather", "--json"))
    assert out["name"] == "seattle-weather" and out["task"] == "multiclass"
    assert out["columns"]["date"]["role"] == "date" and out["sampled"] is False and out["rows_read"] == 1461
    config = yaml.safe_load((tmp_path / "w" / "conf" / "config.yaml").read_text())
    assert config["etl"]["sample"] == str(data)  # outside the project: absolute
    assert config["promotion"]["metric"] == "log_loss"  # the task's metric

    again = init(str(tmp_path / "w"), "--data", str(data), "--target", "weather", code=2)
    assert "is not empty" in again and "--force" in again
    forced = init(
        str(tmp_path / "w"), "--data", str(data), "--target", "weather", "--name", "weather", "--force"
    )
    assert "created" in forced and (tmp_path / "w" / "conf" / "dataset" / "weather.yaml").is_file()
    assert "(weather: multiclass on 'weather'" in forced

    bad = {
        ("--target", "wether"): "did you mean: weather?",
        ("--target", "weather", "--name", "no/slash"): "--name 'no/slash'",
        ("--target", "weather", "--task", "binary"): "--task binary",
        ("--target", "weather", "--id", "weather"): "is the target",
    }
    for args, message in bad.items():
        output = init(str(tmp_path / "new"), "--data", str(data), *args, code=2)
        assert message in output and output.startswith("error: ") and output.count("\n") == 1
    assert not (tmp_path / "new").exists()  # nothing written on a refusal
    assert "no such file" in init(str(tmp_path / "x"), "--data", str(tmp_path / "nope.csv"), "--target", "y",
                                  code=2)  # fmt: skip


def test_parquet_table_and_names(tmp_path: Path) -> None:
    frame = pd.read_csv(weather_csv(tmp_path / "w.csv"))
    frame["temp_max"] = frame["temp_max"].astype("float32")
    frame.to_parquet(tmp_path / "My Weather.v2.parquet")
    result = init_project(tmp_path / "p", tmp_path / "My Weather.v2.parquet", "temp_max")
    assert result.name == "My_Weather" and result.draft.task == "regression"
    assert result.draft.column("date").role == "date"  # stored as a timestamp in Parquet
    assert project_name(Path("x/sales 2024.csv.gz"), None) == "sales_2024"


def test_help_names_no_table() -> None:
    for command in ("init", "serve", "score", "monitor", "eda", "ui"):
        text = runner.invoke(app, [command, "--help"], terminal_width=200).output.lower()
        for word in ("listing", "price", "nyc"):
            assert word not in text, (command, word)
