"""Where a new index table is written before it is published, and the rules that keep every write inside the
database: table names are plain names (never a path), the staging folder is a real folder of the database (never a
link out of it), one run at a time writes a given table (a lock per name, released when the process ends, even by
kill -9), and nothing is removed unless it lies inside the database.

Example:
    >>> from hubstitch.index.staging import check_table_name
    >>> check_table_name("news_mpnet")
    'news_mpnet'
    >>> check_table_name("../../etc")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    IndexTableError: table name '../../etc' ...
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .stream import IndexTableError

logger = logging.getLogger(__name__)
STAGING = ".hubstitch-staging"
TABLE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def check_table_name(name: object) -> str:
    """`name` if it is a plain table name (letters, digits, ``_ - .``; no leading dot, no ``..``, <= 128
    characters, LanceDB's own rule made strict), else an `IndexTableError` naming it and the fix."""
    if not isinstance(name, str) or not TABLE_NAME.fullmatch(name) or ".." in name:
        raise IndexTableError(f"table name {name!r} is not a plain name; expected letters, digits, '_', '-' or '.' "
                              f"(not first), no '..', at most 128 characters; fix: pass a name such as "
                              f"'news_mpnet', not a path")
    return name


def existing_database(db: str | Path) -> Path:
    """`db` as a path, checked to be an existing folder (a reader never creates one for a mistyped name)."""
    path = Path(db)
    if not path.is_dir():
        raise IndexTableError(f"database {str(db)!r} is not an existing folder; expected the LanceDB folder a table "
                              f"was built in; fix: check --db (only `hubstitch index build` creates a database)")
    return path


def remove_inside(path: Path, db: Path) -> None:
    """Remove the folder `path` if, and only if, it lies inside `db` with no symbolic link on the way; refuse
    otherwise (nothing outside the database is ever removed)."""
    root = db.resolve()
    relative = path.relative_to(db) if path.is_relative_to(db) else None
    if relative is None or not relative.parts or ".." in relative.parts:
        raise IndexTableError(f"refusing to remove {path}: it is not inside the database {db}")
    step = db
    for part in relative.parts:
        step = step / part
        if step.is_symlink():
            raise IndexTableError(f"refusing to remove {path}: {step} is a symbolic link (it may point outside the "
                                  f"database {db}); nothing was removed; fix: remove the link by hand")
    if not path.exists():
        return
    if not path.resolve().is_relative_to(root):
        raise IndexTableError(f"refusing to remove {path}: it resolves outside the database {db}")
    shutil.rmtree(path)


def staging_root(db: Path) -> Path:
    """The database's staging folder, created if missing; a symbolic link or a file there is refused."""
    staging = db / STAGING
    if staging.is_symlink() or (staging.exists() and not staging.is_dir()):
        raise IndexTableError(f"{staging} is a symbolic link or a file, not hubstitch's staging folder; nothing "
                              f"was written or removed; fix: remove {staging} by hand and run again")
    staging.mkdir(parents=True, exist_ok=True)
    return staging


def _lock(staging: Path, name: str) -> int:
    """An exclusive lock on table `name`'s lock file (retaken if another run removed the file meanwhile)."""
    path = staging / f"{name}.lock"
    while True:
        try:
            fd = os.open(path, os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o644)
        except FileNotFoundError:  # a run that finished meanwhile removed the empty staging folder
            staging_root(staging.parent)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(fd)
            if err.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise IndexTableError(f"another run is writing table {name!r} in {staging.parent} right now (its "
                                      f"lock {path} is held); nothing was changed; fix: wait for it to finish, or "
                                      f"write another table name") from None
            raise
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the file was removed and remade by a run that finished meanwhile: lock the new one


def _unlock(staging: Path, name: str, fd: int) -> None:
    try:
        os.unlink(staging / f"{name}.lock")  # still held: a run waiting on the old file re-checks and retakes
    except FileNotFoundError:
        pass
    os.close(fd)
    try:
        staging.rmdir()  # only when empty: other runs' staged tables and locks stay
    except OSError:
        pass


@contextmanager
def staged_table(db: Path, name: str) -> Iterator[Path]:
    """The folder table `name` is written to (``<db>/.hubstitch-staging/<name>.lance``), held for this run alone.

    A stale copy left by a killed run is cleared first; on an error the staged copy is removed. The caller
    publishes it (renames it into place) before leaving the block."""
    check_table_name(name)
    staging = staging_root(db)
    fd = _lock(staging, name)
    staged = staging / f"{name}.lance"
    try:
        if staged.exists() or staged.is_symlink():
            logger.info("removing the staging copy of %r left by an earlier run that did not finish", name)
            remove_inside(staged, db)
        yield staged
    except BaseException:
        if staged.exists() and not staged.is_symlink():
            remove_inside(staged, db)
        raise
    finally:
        _unlock(staging, name, fd)
