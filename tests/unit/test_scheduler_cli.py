"""`uno-jobs scheduler`: its options, and a clear error for an app that cannot load."""

from __future__ import annotations

from typer.testing import CliRunner

from uno.jobs.cli import _register_commands, cli


def test_scheduler_command_is_registered_with_its_options() -> None:
    _register_commands()
    result = CliRunner().invoke(cli, ["scheduler", "--help"])
    assert result.exit_code == 0
    for option in ("--app", "--database", "--tick-interval"):
        assert option in result.output


def test_scheduler_refuses_an_app_that_cannot_be_imported() -> None:
    _register_commands()
    result = CliRunner().invoke(cli, ["scheduler", "--app", "no_such_module_here"])
    assert result.exit_code == 2
    assert "no_such_module_here" in result.output
