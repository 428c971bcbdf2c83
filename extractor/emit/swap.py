"""Put staged output into place all at once, or not at all.

:func:`swap_in` takes ``(staged, final)`` pairs (files or directories; ``staged`` ``None`` means
"remove ``final``"). Every existing ``final`` is first renamed into a backup directory inside the
staging area (same filesystem, so renames are atomic), then every staged path is renamed to its
final place. If any step fails, everything done so far is undone in reverse order and an
:class:`EmitError` names the path; the backups are deleted only once all moves succeeded. Nothing
is ever written next to the outputs (no ``.old`` siblings that a crash could leave behind).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from extractor.errors import EmitError

__all__ = ["Staging", "swap_in"]


class Staging:
    """A private staging directory inside ``root`` (same filesystem as the outputs, so
    :func:`swap_in` renames are atomic), made with ``root`` itself on the first use of :attr:`path`:
    a run that has nothing to write (a no-op ``update-bundle``) creates no directory. Use it as a
    context manager; on exit the directory, if it was made, is removed with its content."""

    def __init__(self, root: Path, prefix: str = ".bundle-extract-") -> None:
        self.root = root
        self.prefix = prefix
        self._path: Path | None = None

    @property
    def path(self) -> Path:
        """The staging directory (made now if needed). Raises :class:`EmitError` naming ``root``
        when it cannot be created."""
        if self._path is None:
            import tempfile

            try:
                self.root.mkdir(parents=True, exist_ok=True)
                self._path = Path(tempfile.mkdtemp(prefix=self.prefix, dir=self.root))
            except OSError as exc:
                raise EmitError(f"{self.root}: cannot write the output here: {exc.strerror}") from None
        return self._path

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._path is not None:
            import shutil

            shutil.rmtree(self._path, ignore_errors=True)
            self._path = None


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        import shutil

        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def swap_in(moves: Sequence[tuple[Path | None, Path]], backup_dir: Path) -> None:
    """Move each staged path onto its final path (see module docstring).

    ``backup_dir`` must not exist yet and must be on the same filesystem as the finals (e.g. inside
    the staging directory under the output root). Raises :class:`EmitError` after rolling back.
    """
    backup_dir.mkdir(parents=True)
    done: list[tuple[str, Path, Path]] = []  # (action, a, b) to undo in reverse
    try:
        for index, (staged, final) in enumerate(moves):
            if final.exists() or final.is_symlink():
                backup = backup_dir / str(index)
                try:
                    final.rename(backup)
                except OSError as exc:
                    raise EmitError(f"{final}: cannot be replaced: {exc.strerror}") from None
                done.append(("backup", backup, final))
            if staged is None:
                continue
            try:
                final.parent.mkdir(parents=True, exist_ok=True)
                staged.rename(final)
            except OSError as exc:
                raise EmitError(f"{final}: cannot move the generated output into place: {exc.strerror}") from None
            done.append(("placed", final, staged))
    except BaseException:
        for action, a, b in reversed(done):
            try:
                if action == "placed":
                    a.rename(b)  # final back to staging
                else:
                    b.parent.mkdir(parents=True, exist_ok=True)
                    a.rename(b)  # backup back to final
            except OSError:
                continue  # keep undoing the rest; the backup dir still holds what could not move
        raise
    for _, backup, _final in [d for d in done if d[0] == "backup"]:
        _remove(backup)
