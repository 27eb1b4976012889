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


def test_bad_settings_are_refused_with_their_name(tmp_path, capsys):
    """A typo in vanban.toml or a VANBAN_* variable stops the command with the setting's name, before anything
    starts (not as a crash in a gunicorn worker later)."""
    import pytest

    from vanban.cli import main
    from vanban.settings import load_settings

    cases = [('threads = "4"\n', "threads must be a whole number"), ("workers = 0\n", "workers must be at least 1"),
             ("cookie_secure = 1\n", "cookie_secure must be true or false"),
             ("smtp_host = 25\n", "smtp_host must be text")]
    for text, message in cases:
        conf = tmp_path / "vanban.toml"
        conf.write_text(text)
        with pytest.raises(ValueError, match=message):
            load_settings(conf, environ={})
        assert main(["--config", str(conf), "--data", str(tmp_path / "d"), "init"]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "d").exists()  # refused before anything was written
    for env, message in [({"VANBAN_THREADS": "0"}, "VANBAN_THREADS: threads must be at least 1"),
                         ({"VANBAN_WORKERS": "two"}, "VANBAN_WORKERS must be a whole number"),
                         ({"VANBAN_COOKIE_SECURE": "maybe"}, "VANBAN_COOKIE_SECURE must be true or false")]:
        with pytest.raises(ValueError, match=message):
            load_settings(environ=env)
    assert load_settings(environ={"VANBAN_COOKIE_SECURE": "off"}).cookie_secure is False
