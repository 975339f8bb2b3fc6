"""Click subcommands, imported lazily by :mod:`lrh_tflm.cli`."""
