"""Config: no file means one `local` target; a bad file names the file, the key and what is expected."""

from __future__ import annotations

import pytest

from mcp_bifrost.config import load_config
from mcp_bifrost.errors import ConfigError, UnknownTarget


def test_no_config_file_gives_a_default_local_target(tmp_path, monkeypatch):
    monkeypatch.delenv("BIFROST_CONFIG", raising=False)
    monkeypatch.setattr("mcp_bifrost.config.default_config_path", lambda: tmp_path / "absent.toml")
    config = load_config()
    assert config.default_target == "local" and list(config.targets) == ["local"]


def test_config_from_env_var(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text('default_target = "h100"\n[targets.h100]\nkind = "ssh"\nhost = "me@gpu:2222"\n')
    monkeypatch.setenv("BIFROST_CONFIG", str(path))
    config = load_config()
    assert config.target(None)[0] == "h100" and config.targets["h100"].host == "me@gpu:2222"
    assert "local" in config.targets


@pytest.mark.parametrize(
    "text, expected",
    [
        ('[targets.h100]\nkind = "ssh"\n', "targets.h100.ssh.host: Field required"),
        (
            '[targets.h100]\nkind = "ssh"\nhost = "x"\nmax_channels = "lots"\n',
            "targets.h100.ssh.max_channels",
        ),
        ('[targets.h100]\nkind = "slurmy"\nhost = "x"\n', "targets.h100"),
        ('default_target = "nope"\n', "default_target 'nope' is not a configured target"),
        ("[limits]\ncall_budget_s = -1\n", "limits.call_budget_s"),
        (
            '[targets.h100]\nkind = "ssh"\nhost = "x"\npassword = "hunter2"\n',
            "targets.h100.ssh.password: Extra inputs",
        ),
        ("this is = not toml [", "not valid TOML"),
    ],
)
def test_bad_config_error_names_file_and_key(tmp_path, text, expected):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_explicit_missing_config_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_unknown_target_names_the_configured_ones(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[targets.a]\nkind = "ssh"\nhost = "x"\n')
    with pytest.raises(UnknownTarget, match="configured targets: a, local"):
        load_config(path).target("b")


def test_copy_roots_must_be_absolute(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[limits]\ncopy_roots = ["results", "/data/ok", "~/ok"]\n')
    with pytest.raises(ConfigError, match=r"limits.copy_roots.*absolute.*results"):
        load_config(path)


@pytest.mark.parametrize(
    "workdir, says",
    [
        ("", "workdir is empty"),
        ("   ", "workdir is empty"),
        ("/", "may not be / itself"),
        ("//", "may not be / itself"),
        ("bifrost", "is relative"),
        ("/scratch/me\\n/x", "control characters"),
        ("/scratch/\\tme", "control characters"),
    ],
)
@pytest.mark.parametrize("kind", ["local", "ssh"])
def test_a_workdir_that_is_empty_relative_the_root_or_holds_control_characters_is_refused(
    tmp_path, workdir, says, kind
):
    path = tmp_path / "c.toml"
    host = 'host = "gpu"\n' if kind == "ssh" else ""
    path.write_text(f'[targets.t]\nkind = "{kind}"\n{host}workdir = "{workdir}"\n')
    with pytest.raises(ConfigError, match=f"targets.t.{kind}.workdir.*{says}"):
        load_config(path)


def test_a_plain_workdir_is_accepted(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(
        '[targets.t]\nkind = "ssh"\nhost = "gpu"\nworkdir = "~/.bifrost"\n'
        '[targets.u]\nkind = "local"\nworkdir = "/scratch/me/bifrost"\n'
    )
    assert load_config(path).targets["t"].workdir == "~/.bifrost"
