"""User-facing errors: one line naming the file and field, what is wrong, and what to do.

The CLI prints `ngfx: error: <message>` and exits with status 2 (no traceback unless --debug).
Every layer may raise InputError; it imports nothing from ngfx.
"""

__all__ = ["InputError"]


class InputError(Exception):
    """Bad user input (a file, a field, a flag). `str(err)` is the one-line message."""

    def __init__(self, problem: str, *, file=None, field: str | None = None, fix: str | None = None):
        self.problem, self.file, self.field, self.fix = problem, file, field, fix
        where = ": ".join(str(p) for p in (file, f"field '{field}'" if field else None) if p)
        text = f"{where}: {problem}" if where else problem
        if fix:
            text += f"; {fix}"
        super().__init__(text)
