"""Reading a fleet: a YAML list of spec paths, or a folder of specs (no cluster needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from prodready import UsageError
from prodready.fleet import read_fleet


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_a_list_of_paths_relative_to_the_fleet_file(tmp_path: Path) -> None:
    fleet = _write(tmp_path / "fleets" / "nightly.yaml", "- ../a/spec.yaml\n- /abs/b.yml\n")
    members = read_fleet(fleet)
    assert [m.spec for m in members] == [
        (tmp_path / "fleets" / "../a/spec.yaml").absolute(),
        Path("/abs/b.yml"),
    ]
    assert [m.slug for m in members] == ["spec", "b"]
    assert [m.given for m in members] == ["../a/spec.yaml", "/abs/b.yml"]


def test_the_list_under_systems_and_slugs_made_unique_and_safe(tmp_path: Path) -> None:
    fleet = _write(
        tmp_path / "fleet.yaml",
        "systems:\n- x/spec.yaml\n- y/spec.yaml\n- y/SPEC.yaml\n- 'z/Credit risk <v2>.yaml'\n"
        "- 'w/...yaml'\n",
    )
    assert [m.slug for m in read_fleet(fleet)] == [
        "spec",
        "spec-2",
        "SPEC-3",
        "Credit-risk-v2",
        "system",
    ]


def test_a_folder_stands_for_its_yaml_files_in_name_order(tmp_path: Path) -> None:
    for name in ("b.yaml", "a.yml", "notes.txt", "c.YAML"):
        _write(tmp_path / "specs" / name, "version: 2\n")
    (tmp_path / "specs" / "sub.yaml").mkdir()  # a folder named like a spec is not one
    assert [m.given for m in read_fleet(tmp_path / "specs")] == ["a.yml", "b.yaml", "c.YAML"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is not a list of spec paths"),
        ("[]\n", "is not a list of spec paths"),
        ("a: 1\n", "is not a list of spec paths"),
        ("- a.yaml\n- 3\n", "item 2 is 3: expected the path of a spec file"),
        ("- a.yaml\n- ''\n", "item 2 is '': expected the path of a spec file"),
        ("- a.yaml\n- ./a.yaml\n", "item 2 ('./a.yaml') repeats item 1"),
        ("- [unclosed\n", "fleet: "),
        ("- !!python/object:os.system x\n", "fleet: "),
    ],
)
def test_a_bad_fleet_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    fleet = _write(tmp_path / "fleet.yaml", text)
    with pytest.raises(UsageError) as caught:
        read_fleet(fleet)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_fleet_or_an_empty_folder_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist: expected a YAML list"):
        read_fleet(tmp_path / "nope.yaml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="holds no spec"):
        read_fleet(tmp_path / "empty")


def test_without_the_fleet_extra_the_sweep_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prodready import MissingDependencyError
    from prodready.fleet import assess_fleet

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    fleet = _write(tmp_path / "fleet.yaml", "- a.yaml\n")
    with pytest.raises(MissingDependencyError, match=r"pip install 'prodready\[fleet\]'"):
        assess_fleet(fleet, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing written
