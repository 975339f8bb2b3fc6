"""The CLI group: version, help, and that --help never imports TensorFlow."""
import subprocess
import sys

from click.testing import CliRunner

from lrh_tflm import __version__
from lrh_tflm.cli import COMMANDS, cli


def test_version():
    res = CliRunner().invoke(cli, ["--version"])
    assert res.exit_code == 0
    assert __version__ in res.output


def test_help_lists_available_commands():
    res = CliRunner().invoke(cli, ["--help"])
    assert res.exit_code == 0
    assert "data" in res.output
    assert "build" in COMMANDS


def test_help_does_not_import_tensorflow():
    code = ("import sys; from lrh_tflm.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "bad = [m for m in ('tensorflow', 'tf_keras', 'numpy') if m in sys.modules]\n"
            "print('IMPORTED', bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "IMPORTED []" in out


def test_subcommand_help_without_tensorflow():
    # Every registered subcommand's --help must work without pulling in TensorFlow.
    for name in cli.list_commands(None):
        code = ("import sys; from lrh_tflm.cli import main\n"
                f"try:\n    main([{name!r}, '--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
                "print('TF', 'tensorflow' in sys.modules)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert "TF False" in out.stdout, f"`lrh-tflm {name} --help` imported TensorFlow"


def test_unknown_command_is_a_clean_error():
    res = CliRunner().invoke(cli, ["frobnicate"])
    assert res.exit_code != 0
    assert "No such command" in res.output
