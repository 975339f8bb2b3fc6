"""Click subcommands, imported lazily by :mod:`lrh_tflm.cli`.

Each command imports the library inside its function, not at module top: ``lrh-tflm
--help`` and every ``lrh-tflm COMMAND --help`` then import click and this package only —
no TensorFlow, LiteRT or TFLM, which take seconds.  Nothing else in the package imports
lazily except where a TF-free path must stay fast, and those places say so.
"""
