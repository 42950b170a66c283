"""Files only the user running ``courier up`` may read: the home folder and the secrets in it.

A secret file is never visible with wider permissions, not even for a moment: it is written to a temporary
file that :func:`tempfile.mkstemp` creates with mode 0600 (whatever the umask), then renamed over the
target, so a reader sees the old file or the whole new one. Nothing is ``chmod``-ed after the fact.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

HOME_MODE = 0o700
SHARED_HOME_MODE = 0o710
"""The home of a stack whose PostgreSQL runs as another user (``courier up`` as root): that user's group may
traverse it to reach its data folder, and may neither list nor read anything else."""


def private_dir(path: Path, group: int | None = None) -> Path:
    """Create ``path`` (and missing parents) if needed and make it 0700, or 0710 owned by ``group``."""
    path.mkdir(parents=True, exist_ok=True, mode=HOME_MODE)
    if group is None:
        os.chmod(path, HOME_MODE)
    else:
        os.chown(path, -1, group)
        os.chmod(path, SHARED_HOME_MODE)
    return path


def write_private(path: Path, text: str, owner: tuple[int, int] | None = None) -> None:
    """Replace ``path`` with ``text`` atomically, readable by its owner only (0600) from its creation on.

    :param owner: (uid, gid) to give the file before it takes its name (a file the server user reads).
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if owner is not None:
            os.chown(temporary, *owner)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
