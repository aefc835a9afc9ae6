"""The command line: train, audit, report, diff; exit codes 0 / 1 / 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from deepaudit.cli import EXIT_FAILED, EXIT_PASSED, EXIT_USAGE, main

FAST = ["performance", "calibration", "data_profile"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "mlp"
    code = main(["train", "mlp", "--dataset", "adult", "--out", str(out), "--epochs", "2", "--max-rows", "800",
                 "--device", "cpu"])
    assert code == EXIT_PASSED
    return out


def _config(tmp_path: Path, thresholds: str) -> Path:
    checks = ", ".join(f'"{c}"' for c in FAST)
    path = tmp_path / "audit.toml"
    path.write_text(f"checks = [{checks}]\ndevice = \"cpu\"\n[thresholds]\n{thresholds}\n")
    return path


def test_audit_exit_codes_follow_thresholds(tmp_path, model_dir, capsys):
    ok = _config(tmp_path, '"performance.accuracy" = { min = 0.5 }')
    code = main(["audit", "--model", str(model_dir), "--dataset", "adult", "--max-rows", "800", "--config", str(ok),
                 "--out", str(tmp_path / "ok"), "--quiet"])
    assert code == EXIT_PASSED, capsys.readouterr()
    for name in ("result.json", "report.html", "junit.xml"):
        assert (tmp_path / "ok" / name).is_file()
    bad = _config(tmp_path, '"performance.accuracy" = { min = 0.999 }')
    code = main(["audit", "--model", str(model_dir), "--dataset", "adult", "--max-rows", "800", "--config", str(bad),
                 "--out", str(tmp_path / "bad"), "--quiet"])
    assert code == EXIT_FAILED
    data = json.loads((tmp_path / "bad" / "result.json").read_text())
    assert data["passed"] is False
    assert any(f["severity"] == "fail" and f["metric"] == "accuracy" for f in data["findings"])
    # report re-renders and keeps the verdict; diff of a result with itself finds no regression
    assert main(["report", str(tmp_path / "bad" / "result.json"), "--html", str(tmp_path / "r.html"),
                 "--junit", str(tmp_path / "r.xml")]) == EXIT_FAILED
    assert (tmp_path / "r.html").stat().st_size > 1000
    assert main(["diff", str(tmp_path / "ok" / "result.json"), str(tmp_path / "ok" / "result.json")]) == EXIT_PASSED


def test_bad_usage_exits_2(tmp_path, model_dir, capsys):
    assert main(["audit", "--model", str(model_dir), "--dataset", "nope", "--out", str(tmp_path)]) == EXIT_USAGE
    assert "nope" in capsys.readouterr().err
    assert main(["audit", "--model", str(tmp_path / "missing"), "--dataset", "adult", "--out", str(tmp_path)]) == EXIT_USAGE
    bad_cfg = tmp_path / "bad.toml"
    bad_cfg.write_text("seeed = 1\n")
    assert main(["audit", "--model", str(model_dir), "--dataset", "adult", "--config", str(bad_cfg),
                 "--out", str(tmp_path)]) == EXIT_USAGE
    assert "seeed" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["train", "rnn", "--dataset", "adult", "--out", str(tmp_path)])
    assert exc.value.code == EXIT_USAGE
    assert main(["report", str(tmp_path / "none.json"), "--html", str(tmp_path / "x.html")]) == EXIT_USAGE


def test_audit_of_a_user_csv(tmp_path, model_dir):
    from models.datasets import load_dataset

    ds = load_dataset("adult", max_rows=800)
    frame = ds.test.raw.copy()
    frame["income"] = [ds.class_names[i] for i in ds.test.y]
    csv = tmp_path / "rows.csv"
    frame.to_csv(csv, index=False)
    cfg = _config(tmp_path, '"performance.accuracy" = { min = 0.5 }')
    code = main(["audit", "--model", str(model_dir), "--data", str(csv), "--target", "income", "--sensitive", "sex",
                 "--config", str(cfg), "--out", str(tmp_path / "csv"), "--quiet"])
    assert code == EXIT_PASSED
    assert main(["audit", "--model", str(model_dir), "--data", str(csv), "--target", "nope",
                 "--out", str(tmp_path / "x"), "--quiet"]) == EXIT_USAGE
