"""segqtl.paths: the helpers the layers share."""

from __future__ import annotations

from pathlib import Path

from segqtl.paths import nearest_existing


def test_nearest_existing__an_existing_path_is_itself(tmp_path):
    assert nearest_existing(tmp_path) == tmp_path
    assert nearest_existing(str(tmp_path)) == tmp_path


def test_nearest_existing__a_missing_path_gives_its_closest_existing_ancestor(tmp_path):
    assert nearest_existing(tmp_path / "a" / "b" / "c.duckdb") == tmp_path


def test_nearest_existing__a_path_under_a_file_gives_the_file(tmp_path):
    file = tmp_path / "f.csv"
    file.write_text("x\n")
    assert nearest_existing(file / "sub" / "x") == file


def test_nearest_existing__a_relative_path_reaches_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert nearest_existing(Path("missing") / "x") == tmp_path
