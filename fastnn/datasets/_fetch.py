"""Finding dataset files on disk, the user cache folder, and verified downloads.

A download goes to a temporary file inside the target folder (``.NAME.XXXX.part``)
and is moved into place with ``os.replace`` only once its contents have been
checked, so a crash, a cut connection or a corrupt mirror never leaves a file under
the final name. The URL opener is this module's ``urlopen``, which tests replace.
"""

from __future__ import annotations

import http.client
import os
import sys
import tempfile
from pathlib import Path
from urllib.request import urlopen

__all__ = ["DatasetNotFoundError", "DownloadError", "cache_dir"]

_CHUNK_BYTES = 1 << 16
_TIMEOUT_SECONDS = 30


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not in any folder searched, and none were downloaded.

    The message lists the folders searched and the file names expected there.
    """


class DownloadError(DatasetNotFoundError):
    """A dataset's files are not on disk and every mirror failed to provide them.

    The message gives each mirror's failure (no network, HTTP error, checksum
    mismatch, ...) and where to put the files by hand.
    """


def cache_dir(subdir: str = "") -> Path:
    """The user cache folder of fastnn: ``$XDG_CACHE_HOME/fastnn``, else ``~/.cache/fastnn``.

    Parameters
    ----------
    subdir : str
        A subfolder, e.g. ``"mnist"``.

    Returns
    -------
    Path
        The folder (not created). A relative ``XDG_CACHE_HOME`` is ignored, as the XDG
        specification says.
    """
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "fastnn" / subdir if subdir else base / "fastnn"


def find_file(folder: Path, name: str) -> Path | None:
    """``folder/name`` if it is a file, else ``folder/name.gz`` if that is, else None."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def download(file_name: str, folder: Path, mirrors, check) -> Path:
    """Fetch ``file_name`` from the first mirror that serves it correctly into ``folder``.

    Parameters
    ----------
    file_name : str
        Name on the mirrors and on disk, e.g. ``"train-images-idx3-ubyte.gz"``.
    folder : Path
        Destination folder, created if missing.
    mirrors : sequence of str
        Base URLs ending in ``/``; tried in order.
    check : callable(Path) -> None
        Raises ``ValueError`` if the downloaded temporary file is not the right one
        (structure, checksum).

    Returns
    -------
    Path
        ``folder / file_name``, present only if it passed ``check``.

    Raises
    ------
    DownloadError
        Every mirror failed; the message lists each failure.
    """
    folder.mkdir(parents=True, exist_ok=True)
    failures = []
    for base_url in mirrors:
        url = base_url + file_name
        handle, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{file_name}.", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                _copy_url(url, out, label=file_name)
            check(Path(temp_name))
            os.replace(temp_name, folder / file_name)
            return folder / file_name
        except ValueError as err:
            failures.append(f"{url}: downloaded, but rejected: {err}")
        except (OSError, http.client.HTTPException) as err:
            # URLError, HTTPError, timeouts and resets are all OSErrors; IncompleteRead is not.
            failures.append(f"{url}: {type(err).__name__}: {err}")
        finally:
            if os.path.exists(temp_name):  # still there unless os.replace moved it
                os.unlink(temp_name)
    raise DownloadError(
        f"could not download {file_name}:\n" + "\n".join(f"  {failure}" for failure in failures)
    )


def _copy_url(url: str, out, label: str) -> None:
    """Stream ``url`` into the binary file ``out``, drawing a progress bar on stderr."""
    with urlopen(url, timeout=_TIMEOUT_SECONDS) as response:
        headers = getattr(response, "headers", None)
        length = headers.get("Content-Length") if headers is not None else None
        total = int(length) if length and length.isdigit() else None
        bar = _ProgressBar(label, total)
        received = 0
        try:
            while chunk := response.read(_CHUNK_BYTES):
                out.write(chunk)
                received += len(chunk)
                bar.update(received)
        finally:
            bar.close()
    if total is not None and received != total:
        raise OSError(f"connection closed after {received} of {total} bytes")


class _ProgressBar:
    """``label [#######.......]  45%  4.5/9.9 MB`` on one line of stderr, redrawn in place."""

    def __init__(self, label: str, total: int | None, width: int = 30):
        self.label, self.total, self.width = label, total, width
        self._last_shown = -1

    def update(self, done: int) -> None:
        if self.total:
            percent = min(100, done * 100 // self.total)
            if percent == self._last_shown:
                return
            self._last_shown = percent
            filled = self.width * percent // 100
            bar = "#" * filled + "." * (self.width - filled)
            line = f"{self.label} [{bar}] {percent:3d}% {done / 1e6:.1f}/{self.total / 1e6:.1f} MB"
        else:  # no Content-Length: show the bytes received, every MB
            megabytes = done >> 20
            if megabytes == self._last_shown:
                return
            self._last_shown = megabytes
            line = f"{self.label} {done / 1e6:.1f} MB"
        sys.stderr.write("\r" + line)
        sys.stderr.flush()

    def close(self) -> None:
        if self._last_shown >= 0:
            sys.stderr.write("\n")
            sys.stderr.flush()
