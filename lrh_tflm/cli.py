"""The ``lrh-tflm`` command line: a thin click layer over the library API.

Subcommands live in ``lrh_tflm/_cli/`` and are imported only when invoked, so
``lrh-tflm --help`` stays fast and never imports TensorFlow.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from lrh_tflm import __version__
from lrh_tflm.tfquiet import VERBOSE_ENV, quiet_tensorflow

#: command name → (module, attribute, one-line help shown by ``--help`` without importing)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "data": ("lrh_tflm._cli.data", "data", "Synthesise, inspect and prepare ECG datasets."),
    "models": ("lrh_tflm._cli.models", "models", "Parameters and MACs of the profile's models."),
    "train": ("lrh_tflm._cli.train", "train", "Train a teacher, assistant or student."),
    "distill": ("lrh_tflm._cli.train", "distill", "Distil teachers into the student (KD schemes)."),
    "evaluate": ("lrh_tflm._cli.evaluate", "evaluate", "Score a saved Keras or .tflite model on a dataset."),
    "export": ("lrh_tflm._cli.export", "export", "QAT/PTQ, int8 conversion and firmware export."),
    "run": ("lrh_tflm._cli.run", "run", "Run records through an int8 model on the host."),
    "stream": ("lrh_tflm._cli.stream", "stream", "Play a record into a board over serial."),
    "build": ("lrh_tflm._cli.build", "build", "Records to firmware-ready model in one command."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx):
        return [name for name, (mod, _, _) in COMMANDS.items()
                if importlib.util.find_spec(mod) is not None]

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        mod, attr, _ = COMMANDS[name]
        if importlib.util.find_spec(mod) is None:
            return None
        return getattr(importlib.import_module(mod), attr)

    def format_commands(self, ctx, formatter):
        # Show the short help from the registry instead of importing every module.
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lrh-tflm")
@click.option("--verbose", is_flag=True,
              help=f"Show TensorFlow's own start-up messages (also {VERBOSE_ENV}=1).")
def cli(verbose):
    """lrh-tflm: LRH-Net knowledge distillation, from 12-lead ECG to a microcontroller.

    Start with `lrh-tflm build --leads 2`: it trains on the built-in synthetic set
    (or on --data) and writes a firmware-ready int8 model.
    """
    if not verbose:
        quiet_tensorflow()  # a hook only: TensorFlow loads when a command needs it


def main(argv=None):
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="lrh-tflm")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
