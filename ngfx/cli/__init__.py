"""The `ngfx` command: demo, view, render, train, export, bench, info (one module per subcommand)."""

__all__: list[str] = []
