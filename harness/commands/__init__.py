"""One module per CLI subcommand.

Each module defines ``NAME`` (the subcommand), ``HELP`` (one line), ``prepare_parser(parser)``
and ``run(args) -> int`` (the exit code). The command's docstring is its long help and ends with
an ``Example:`` block. Modules are discovered, so adding a command is adding a file.
"""
