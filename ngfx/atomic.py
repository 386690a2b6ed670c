"""Write a file so that readers see the old content or the complete new one, never half a file.

The data goes to a temporary file in the target's folder (same filesystem, so the rename is atomic), is
flushed to disk, then renamed over the target. On any failure, Ctrl-C included, the temporary file is
removed and the target is left as it was. OS errors become one-line InputErrors naming the file.
"""

import os
import secrets
from pathlib import Path

from ngfx.errors import InputError

__all__ = ["write_atomic"]


def write_atomic(path, parts, *, what: str = "the file") -> None:
    """Write the bytes-like `parts` in order to `path` atomically; `what` names it in error messages."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as e:
        raise InputError(f"cannot write in this folder ({e.strerror})", file=path,
                         fix="check that the folder exists and is writable") from None
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException as e:  # never leave the temporary file behind, whatever went wrong
        temporary.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise InputError(f"cannot write {what} ({e.strerror})", file=path) from None
        raise
