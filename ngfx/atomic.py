"""Write a file so that readers see the old content or the complete new one, never half a file; and the
one rule for where outputs may go (`check_output_folder`).

The data goes to a temporary file in the target's folder (same filesystem, so the rename is atomic), is
flushed to disk, then renamed over the target. On any failure, Ctrl-C included, the temporary file is
removed and the target is left as it was. OS errors become one-line InputErrors naming the file.
"""

import os
import secrets
from pathlib import Path

from ngfx.errors import InputError

__all__ = ["check_output_folder", "write_atomic"]


def check_output_folder(path, *, field: str = "--out") -> Path:
    """The folder `path` will be written in, which must exist: ngfx creates an output (a file, or a run,
    demo or frame folder) but never the folders above it, so a mistyped path fails instead of leaving new
    folders behind (even at /). Raises a one-line InputError naming the folder and `field`."""
    folder = Path(path).absolute().parent
    if not folder.is_dir():
        problem = "is not a folder" if folder.exists() else "the folder to write in does not exist"
        other = f" or choose another {field}" if field.startswith("--") else ""
        raise InputError(problem, file=folder, field=field, fix=f"create it first (mkdir -p {folder}){other}")
    return folder


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
