"""Reader for the IDX format that MNIST and Fashion-MNIST are distributed in.

An IDX file is a header followed by the array's values, row-major, big-endian::

    bytes 0-1   0x00 0x00          (the magic number is these 4 bytes taken together:
    byte  2     type code            0x00000803 = uint8 with 3 dimensions, i.e. images;
    byte  3     number of dimensions 0x00000801 = uint8 with 1 dimension, i.e. labels)
    then        one big-endian uint32 per dimension (its size)
    then        prod(sizes) values of the type's size

The reader trusts nothing: every field is checked, the file's length must equal the
header's promise exactly, and any problem is a ``ValueError`` that names the file.
Files may be gzipped; this is detected from their first bytes, not their name.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib

import numpy as np

__all__ = ["read_idx"]

# IDX type code -> big-endian NumPy dtype, as in the format's definition (LeCun et al.).
IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"


def read_idx(file, *, dtype=None, ndim=None, shape=None, sha256=None) -> np.ndarray:
    """Read one IDX file (plain or gzipped) into a NumPy array, checking it thoroughly.

    Checks, in this order, each failure a ``ValueError`` naming ``file``:
    gzip integrity (if gzipped); the magic number's two zero bytes, known type code
    and number of dimensions; the type and ``ndim`` against the expected ones; the
    file length against the header (truncated, or extra bytes after the data); the
    shape against ``shape``; the SHA-256 of the decompressed bytes against ``sha256``.

    Parameters
    ----------
    file : str or os.PathLike
        The file to read. Gzip is recognised from the content (bytes ``1f 8b``).
    dtype : numpy dtype, optional
        Expected element type, e.g. ``np.uint8`` (IDX type code 0x08).
    ndim : int, optional
        Expected number of dimensions (3 for images, 1 for labels).
    shape : tuple of int, optional
        Expected shape, e.g. ``(60000, 28, 28)``; implies ``ndim=len(shape)``.
    sha256 : str, optional
        Expected SHA-256 (hex) of the decompressed file contents.

    Returns
    -------
    ndarray, shape given by the header, e.g. (n_images, n_rows, n_cols)
        A writable array in native byte order that owns its data.

    Raises
    ------
    ValueError
        The file is not a valid IDX file or not the expected one.
    OSError
        The file cannot be opened or read.
    """
    with open(file, "rb") as stream:
        raw = stream.read()
    name = os.fspath(file)
    content = _decompress_if_gzipped(raw, name)
    return _parse_idx(content, name, dtype=dtype, ndim=ndim, shape=shape, sha256=sha256)


def _decompress_if_gzipped(raw: bytes, name: str) -> bytes:
    """Return ``raw`` gunzipped if it starts with the gzip magic, else ``raw`` itself."""
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            # BadGzipFile (an OSError) for a bad CRC or header, EOFError when cut short.
            raise ValueError(
                f"{name}: corrupt gzip data ({type(err).__name__}: {err}); "
                f"the file is damaged or was only partly downloaded"
            ) from None
    if name.endswith(".gz") and raw[:2] != b"\x00\x00":
        raise ValueError(
            f"{name}: named .gz but is neither gzip data (which starts with bytes 1f 8b) "
            f"nor an IDX file (which starts with 00 00); it starts with {raw[:4].hex(' ')}"
        )
    return raw


def _parse_idx(content: bytes, name: str, *, dtype=None, ndim=None, shape=None, sha256=None):
    """Parse decompressed IDX bytes; see :func:`read_idx` for the checks and arguments."""
    if shape is not None:
        shape = tuple(int(size) for size in shape)
        if ndim is not None and ndim != len(shape):
            raise ValueError(f"ndim={ndim} contradicts shape={shape}")
        ndim = len(shape)
    expected_dtype = None if dtype is None else np.dtype(dtype)

    if len(content) < 4:
        raise ValueError(
            f"{name}: {len(content)} bytes is too short for an IDX file "
            f"(the magic number alone is 4 bytes)"
        )
    magic = int.from_bytes(content[:4], "big")
    zeros, type_code, n_dims = content[:2], content[2], content[3]
    if zeros != b"\x00\x00":
        raise ValueError(
            f"{name}: bad magic number 0x{magic:08X}: an IDX file starts with two zero "
            f"bytes (e.g. 0x00000803 for images, 0x00000801 for labels); "
            f"this is not an IDX file"
        )
    if type_code not in IDX_TYPES:
        known = ", ".join(f"0x{code:02X} ({dt.name})" for code, dt in IDX_TYPES.items())
        raise ValueError(
            f"{name}: unknown IDX type code 0x{type_code:02X} in magic number "
            f"0x{magic:08X}; known codes are {known}"
        )
    file_dtype = IDX_TYPES[type_code]
    if expected_dtype is not None and file_dtype.newbyteorder("=") != expected_dtype.newbyteorder("="):
        raise ValueError(
            f"{name}: type code 0x{type_code:02X} ({file_dtype.name}) in magic number "
            f"0x{magic:08X}, expected {expected_dtype.name}"
            + _expected_magic(expected_dtype, ndim)
        )
    if n_dims == 0:
        raise ValueError(f"{name}: magic number 0x{magic:08X} declares 0 dimensions")
    if ndim is not None and n_dims != ndim:
        raise ValueError(
            f"{name}: magic number 0x{magic:08X} declares {n_dims} dimension(s), "
            f"expected {ndim}" + _expected_magic(expected_dtype or file_dtype, ndim)
        )

    header_size = 4 + 4 * n_dims
    if len(content) < header_size:
        raise ValueError(
            f"{name}: truncated header: {n_dims} dimensions need a {header_size}-byte "
            f"header but the file has {len(content)} bytes"
        )
    file_shape = tuple(
        int.from_bytes(content[4 + 4 * axis : 8 + 4 * axis], "big") for axis in range(n_dims)
    )
    data_size = math.prod(file_shape) * file_dtype.itemsize
    expected_size = header_size + data_size
    shape_text = " × ".join(str(size) for size in file_shape)
    if len(content) < expected_size:
        raise ValueError(
            f"{name}: truncated: the header declares {shape_text} {file_dtype.name} values, "
            f"{expected_size} bytes with the header, but the file has only {len(content)} bytes"
        )
    if len(content) > expected_size:
        raise ValueError(
            f"{name}: {len(content) - expected_size} extra bytes after the data: the header "
            f"declares {shape_text} {file_dtype.name} values, {expected_size} bytes with the "
            f"header, but the file has {len(content)} bytes"
        )
    if shape is not None and file_shape != shape:
        raise ValueError(f"{name}: shape {file_shape}, expected {shape}")

    if sha256 is not None:
        actual = hashlib.sha256(content).hexdigest()
        if actual != sha256.lower():
            raise ValueError(
                f"{name}: SHA-256 checksum mismatch of the decompressed contents: "
                f"expected {sha256.lower()}, got {actual}; the file is corrupt or not "
                f"the one it is named after (delete it and fetch it again)"
            )

    values = np.frombuffer(content, dtype=file_dtype, count=math.prod(file_shape), offset=header_size)
    # astype copies: the result owns writable memory in native byte order.
    return values.reshape(file_shape).astype(file_dtype.newbyteorder("="))


def _expected_magic(dtype, ndim) -> str:
    """' (magic number 0x00000803)' for an expected uint8/3-d file, or '' if not known."""
    if dtype is None or ndim is None:
        return ""
    for code, idx_dtype in IDX_TYPES.items():
        if idx_dtype.newbyteorder("=") == np.dtype(dtype).newbyteorder("="):
            return f" (magic number 0x0000{code:02X}{ndim:02X})"
    return ""
