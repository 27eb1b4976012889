"""Settings are a documented table: README lists every setting with its default (STYLE §7)."""
from pathlib import Path

from vanban.settings import SETTINGS

README = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_documented():
    table = README.split("<!-- settings-table -->")[1].split("<!-- /settings-table -->")[0]
    for s in SETTINGS:
        assert f"| {s.name} | {s.default} |" in table, f"README settings table lacks {s.name}"


def test_readme_gives_the_two_commands():
    assert "make demo" in README and "make test" in README


def test_create_agency_if_missing_is_idempotent(tmp_path, capsys):
    from vanban.cli import main

    data = str(tmp_path / "d")
    assert main(["--data", data, "init"]) == 0
    args = ["--data", data, "create-agency", "--code", "H19.50", "--name", "UBND huyện Cẩm Mỹ",
            "--abbreviation", "UBND", "--if-missing"]
    assert main(args) == 0 and main(args) == 0
    assert "already present" in capsys.readouterr().out
    assert main(args[:-1]) == 2  # without the flag a second creation is refused
