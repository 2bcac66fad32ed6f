"""MNIST and Fashion-MNIST: four IDX files each, found on disk or downloaded once.

Where the files are looked for, in order:

``path=`` given
    Only that folder. Missing files are a :class:`DatasetNotFoundError`; nothing is
    downloaded, because silently fetching 12 MB elsewhere would hide a typo.
``path=None`` (the default)
    ``$FASTNN_DATA/mnist`` (or ``/fashion-mnist``) if ``FASTNN_DATA`` is set, or
    ``$FASTNN_DATA`` itself when it is that ``mnist`` (``fashion-mnist``) folder; for
    Fashion-MNIST also ``/usr/share/datasets/fashion-mnist`` (Debian's
    ``dataset-fashion-mnist`` package); then the user cache ``~/.cache/fastnn/mnist``
    (``$XDG_CACHE_HOME/fastnn/...`` if set). The first folder that holds all four
    files is used. If none does and ``download=True``, the missing files are
    downloaded into the cache.

Each file may be gzipped (``NAME.gz``) or not (``NAME``). Every load checks the IDX
structure, the expected shapes and the SHA-256 of the decompressed bytes (about
0.2 s for MNIST), so a damaged file is a ``ValueError`` naming it, never garbage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._fetch import DatasetNotFoundError, DownloadError, cache_dir, download, find_file
from ._idx import read_idx

__all__ = ["load_mnist", "load_fashion_mnist", "FASHION_MNIST_CLASSES"]

FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
"""Fashion-MNIST's class names: ``FASHION_MNIST_CLASSES[label]`` for labels 0–9."""


@dataclass(frozen=True)
class _IdxFile:
    name: str  # without ".gz"
    shape: tuple[int, ...]
    sha256: str  # of the decompressed bytes


@dataclass(frozen=True)
class _IdxDataset:
    title: str  # for messages: "MNIST"
    function: str  # the public loader, for messages
    subdir: str  # under $FASTNN_DATA and the cache
    system_folders: tuple[str, ...]
    mirrors: tuple[str, ...]  # base URLs serving NAME.gz
    train_images: _IdxFile
    train_labels: _IdxFile
    test_images: _IdxFile
    test_labels: _IdxFile

    @property
    def files(self) -> tuple[_IdxFile, ...]:
        return (self.train_images, self.train_labels, self.test_images, self.test_labels)


def _mnist_like_files(sha256_train_images, sha256_train_labels, sha256_test_images, sha256_test_labels):
    """The four files shared by MNIST and its drop-in replacements, with their checksums."""
    return dict(
        train_images=_IdxFile("train-images-idx3-ubyte", (60000, 28, 28), sha256_train_images),
        train_labels=_IdxFile("train-labels-idx1-ubyte", (60000,), sha256_train_labels),
        test_images=_IdxFile("t10k-images-idx3-ubyte", (10000, 28, 28), sha256_test_images),
        test_labels=_IdxFile("t10k-labels-idx1-ubyte", (10000,), sha256_test_labels),
    )


MNIST = _IdxDataset(
    title="MNIST",
    function="load_mnist",
    subdir="mnist",
    system_folders=(),
    mirrors=(
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
    ),
    # SHA-256 of the decompressed files; their MD5s are the published ones
    # (6bbc9ace..., a25bea73..., 2646ac64..., 27ae3e4e...).
    **_mnist_like_files(
        "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    ),
)

FASHION_MNIST = _IdxDataset(
    title="Fashion-MNIST",
    function="load_fashion_mnist",
    subdir="fashion-mnist",
    # Debian's dataset-fashion-mnist installs the four .gz files here.
    system_folders=("/usr/share/datasets/fashion-mnist",),
    # The first mirror is plain HTTP: the SHA-256 check below is what makes it safe.
    mirrors=(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
    # SHA-256 of the decompressed files, computed from Debian's dataset-fashion-mnist
    # (0.0~git20200523.55506a9-1). Debian re-compressed the archives, but the
    # decompressed MD5s equal the published ones (f4a8712d..., 9018921c...,
    # 8181f547..., 15d48437...), so these are the upstream files' contents.
    **_mnist_like_files(
        "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    ),
)


def load_mnist(path=None, *, download: bool = True):
    """The MNIST handwritten digits, as ``keras.datasets.mnist.load_data()`` returns them.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Folder holding the four files ``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
        ``t10k-labels-idx1-ubyte`` (each either as is or gzipped, ``NAME.gz``). If
        given, only this folder is read and nothing is downloaded. If None, searches
        ``$FASTNN_DATA/mnist`` (or ``$FASTNN_DATA`` itself if it is a folder named
        ``mnist``), then the cache ``~/.cache/fastnn/mnist`` (honouring
        ``XDG_CACHE_HOME``), then downloads.
    download : bool, default True
        With ``path=None``, whether missing files may be downloaded into the cache
        (with a progress bar on stderr). Ignored when ``path`` is given.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        ``x_train`` uint8, shape (60000, 28, 28) and ``x_test`` uint8, shape
        (10000, 28, 28): grey levels 0 (background) to 255 (ink).
        ``y_train`` uint8, shape (60000,) and ``y_test`` uint8, shape (10000,): the
        digits 0–9.

    Raises
    ------
    DatasetNotFoundError
        The files are missing (and ``path`` was given, or ``download=False``); the
        message lists the folders searched and the file names.
    DownloadError
        The files are missing and could not be downloaded (e.g. no network); the
        message says where to put them by hand. Both errors are ``OSError``.
    ValueError
        A file is damaged or is not the expected one (structure, shape or SHA-256).
    """
    return _load(MNIST, path, download)


def load_fashion_mnist(path=None, *, download: bool = True):
    """Zalando's Fashion-MNIST: the same format, sizes and API as :func:`load_mnist`.

    Labels 0–9 name clothing: ``FASHION_MNIST_CLASSES[y]`` ("T-shirt/top", "Trouser",
    "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot").

    Parameters
    ----------
    path : str or os.PathLike, optional
        Folder holding the four files (names as for MNIST, gzipped or not). If given,
        only this folder is read and nothing is downloaded. If None, searches
        ``$FASTNN_DATA/fashion-mnist`` (or ``$FASTNN_DATA`` itself if it is a folder
        named ``fashion-mnist``), ``/usr/share/datasets/fashion-mnist``
        (Debian package ``dataset-fashion-mnist``), then the cache
        ``~/.cache/fastnn/fashion-mnist``, then downloads.
    download : bool, default True
        With ``path=None``, whether missing files may be downloaded into the cache.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        uint8 arrays of shapes (60000, 28, 28), (60000,), (10000, 28, 28), (10000,).

    Raises
    ------
    DatasetNotFoundError, DownloadError, ValueError
        As for :func:`load_mnist`.
    """
    return _load(FASHION_MNIST, path, download)


def _load(spec: _IdxDataset, path, allow_download: bool):
    """Locate, read and check the four files of ``spec``; return the two (x, y) pairs."""
    located = _locate(spec, path, allow_download)
    arrays = [
        read_idx(located[file.name], dtype=np.uint8, shape=file.shape, sha256=file.sha256)
        for file in spec.files
    ]
    x_train, y_train, x_test, y_test = arrays
    for images, labels, images_file, labels_file in (
        (x_train, y_train, spec.train_images, spec.train_labels),
        (x_test, y_test, spec.test_images, spec.test_labels),
    ):
        if images.shape[0] != labels.shape[0]:
            raise ValueError(
                f"{located[images_file.name]} has {images.shape[0]} images but "
                f"{located[labels_file.name]} has {labels.shape[0]} labels"
            )
    return (x_train, y_train), (x_test, y_test)


def _locate(spec: _IdxDataset, path, allow_download: bool) -> dict[str, Path]:
    """Map each file name of ``spec`` to an existing file (plain or .gz); see the module doc."""
    names = [file.name for file in spec.files]

    if path is not None:
        folder = Path(path).expanduser()
        found = {name: find_file(folder, name) for name in names}
        if all(found.values()):
            return found
        message = (
            f"{spec.title} files not found in path={os.fspath(folder)!r}: "
            f"{_what_is_missing(folder, names)}. The folder must hold "
            f"{', '.join(names)} (each either as is or gzipped, NAME.gz). "
            f"With path= given, {spec.function} looks only there and does not download; "
            f"leave path=None to search $FASTNN_DATA/{spec.subdir} and the cache and to download."
        )
        if (folder / spec.subdir).is_dir():
            message += f" (Did you mean path={os.fspath(folder / spec.subdir)!r}?)"
        raise DatasetNotFoundError(message)

    searched = _search_folders(spec)
    for folder, _why in searched:
        found = {name: find_file(folder, name) for name in names}
        if all(found.values()):
            return found

    if not allow_download:
        raise DatasetNotFoundError(
            f"{spec.title} files not found, and download=False.\n" + _where_to_put(spec, searched)
        )
    cache = cache_dir(spec.subdir)
    found = {name: find_file(cache, name) for name in names}
    for file in spec.files:
        if found[file.name] is None:
            try:
                found[file.name] = download(
                    f"{file.name}.gz", cache, spec.mirrors, check=_checker(file)
                )
            except DownloadError as err:
                raise DownloadError(
                    f"{spec.title}: {err}\n" + _where_to_put(spec, searched)
                ) from None
    return found


def _checker(file: _IdxFile):
    """A check for a downloaded temporary file: raises ValueError unless it is ``file``."""

    def check(temp_path: Path) -> None:
        read_idx(temp_path, dtype=np.uint8, shape=file.shape, sha256=file.sha256)

    return check


def _search_folders(spec: _IdxDataset) -> list[tuple[Path, str]]:
    """The folders searched when ``path=None``, in order, each with why it is searched."""
    folders = []
    data_root = os.environ.get("FASTNN_DATA", "")
    if data_root:
        root = Path(data_root).expanduser()
        folders.append((root / spec.subdir, f"$FASTNN_DATA/{spec.subdir}"))
        # FASTNN_DATA may also name the mnist/ folder itself, as --data and path= do. Only a folder
        # of that name: MNIST and Fashion-MNIST files have the same names, and the wrong set
        # found here would be a checksum error instead of a search that goes on.
        if root.name == spec.subdir:
            folders.append((root, "$FASTNN_DATA"))
    for folder in spec.system_folders:
        folders.append((Path(folder), "system-wide"))
    folders.append((cache_dir(spec.subdir), "user cache"))
    return folders


def _what_is_missing(folder: Path, names) -> str:
    """'folder does not exist', 'has none of the 4 files' or 'missing X, Y'."""
    if not folder.is_dir():
        return "the folder does not exist"
    missing = [name for name in names if find_file(folder, name) is None]
    if len(missing) == len(names):
        return f"has none of the {len(names)} files"
    return "missing " + ", ".join(missing)


def _where_to_put(spec: _IdxDataset, searched) -> str:
    """The part of an error message that tells where the files go, by hand."""
    names = [file.name for file in spec.files]
    lines = [
        f"Put the four {spec.title} files " + ", ".join(names),
        "(each either as is or gzipped, NAME.gz) in one of the folders searched:",
    ]
    lines += [f"  {os.fspath(folder)}  ({why}: {_what_is_missing(folder, names)})" for folder, why in searched]
    lines.append(f"or pass their folder as {spec.function}(path=...).")
    if not os.environ.get("FASTNN_DATA"):
        lines.append(f"FASTNN_DATA is not set: set it to a folder containing {spec.subdir}/ "
                     f"(or to that {spec.subdir}/ folder) to search there.")
    return "\n".join(lines)
