"""Tests of fastnn.datasets: bundled datasets, the IDX reader, MNIST loading and download.

Real MNIST is found through ``$FASTNN_DATA/mnist`` (e.g. ``FASTNN_DATA=../shared/data``).
Tests that need it skip when it is absent, unless ``FASTNN_REQUIRE_DATA=1``, which
turns the absence into a failure. No test touches the network: an autouse fixture
replaces the URL opener with one that fails, and download tests serve local bytes.
"""

import gzip
import hashlib
import io
import os
import re
import struct
import urllib.error
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastnn.datasets import (
    FASHION_MNIST_CLASSES,
    Dataset,
    DatasetNotFoundError,
    DownloadError,
    cache_dir,
    load_digits,
    load_fashion_mnist,
    load_iris,
    load_mnist,
    read_idx,
)
from fastnn.datasets import _fetch  # its ``urlopen`` is the documented hook for tests

MNIST_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
# Label histograms of the real MNIST (LeCun et al.), class 0 to 9.
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
T10K_LABELS_SHA256 = "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"


# ---------------------------------------------------------------- helpers and fixtures


def idx_bytes(array, type_code=0x08, ndim=None, zeros=b"\x00\x00"):
    """A hand-made IDX file: magic (zeros, type code, ndim), big-endian sizes, then data."""
    array = np.asarray(array)
    ndim = array.ndim if ndim is None else ndim
    header = zeros + bytes([type_code, ndim]) + b"".join(struct.pack(">I", n) for n in array.shape)
    big_endian = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    return header + big_endian.tobytes()


def find_real(folder, name):
    """``folder/name`` or ``folder/name.gz``, whichever exists, else None."""
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def decompressed(path):
    data = path.read_bytes()
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def gzipped_bytes(path):
    """The file's bytes gzipped: as they are if already gzip, else compressed."""
    data = path.read_bytes()
    return data if data[:2] == b"\x1f\x8b" else gzip.compress(data, compresslevel=1)


@pytest.fixture(autouse=True)
def no_network_and_private_cache(monkeypatch, tmp_path):
    """Every test gets its own empty cache, and any attempt to download fails loudly."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))

    def refuse(url, *args, **kwargs):
        raise AssertionError(f"a test tried to download {url}")

    monkeypatch.setattr(_fetch, "urlopen", refuse)


@pytest.fixture(scope="module")
def mnist_dir():
    """The folder holding real MNIST, ``$FASTNN_DATA/mnist``; skip (or fail) if absent."""
    root = os.environ.get("FASTNN_DATA", "")
    folder = Path(root) / "mnist" if root else None
    if folder is not None and all(find_real(folder, name) for name in MNIST_NAMES):
        return folder
    reason = (
        f"real MNIST not found: need {', '.join(MNIST_NAMES)} (or .gz) in $FASTNN_DATA/mnist "
        f"(FASTNN_DATA={root!r}); e.g. FASTNN_DATA=../shared/data"
    )
    if os.environ.get("FASTNN_REQUIRE_DATA") == "1":
        pytest.fail(reason + " and FASTNN_REQUIRE_DATA=1", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def mnist(mnist_dir):
    return load_mnist(mnist_dir)


# ---------------------------------------------------------------- bundled datasets


def test_iris_shape_classes_and_names():
    iris = load_iris()
    assert isinstance(iris, Dataset)
    assert iris.data.shape == (150, 4) and iris.data.dtype == np.float64
    assert iris.target.shape == (150,) and iris.target.dtype == np.int64
    assert np.bincount(iris.target).tolist() == [50, 50, 50]
    assert iris.feature_names == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    assert iris.target_names == ("setosa", "versicolor", "virginica")
    # Fisher's first flower, in cm.
    np.testing.assert_array_equal(iris.data[0], [5.1, 3.5, 1.4, 0.2])
    assert iris.target_names[iris.target[0]] == "setosa"
    assert "iris" in repr(iris) and "(150, 4)" in repr(iris)


def test_iris_unpacks_as_data_and_target():
    iris = load_iris()
    x, y = load_iris()
    np.testing.assert_array_equal(x, iris.data)
    np.testing.assert_array_equal(y, iris.target)


def test_digits_shape_values_and_labels():
    digits = load_digits()
    x, y = digits
    assert x.shape == (1797, 64) and x.dtype == np.float64
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0 and x.max() == 16 and np.all(x == np.round(x))
    assert sorted(set(y.tolist())) == list(range(10))
    assert digits.target_names == tuple("0123456789")
    assert len(digits.feature_names) == 64 and digits.feature_names[9] == "pixel_1_1"
    assert x.reshape(-1, 8, 8).shape == (1797, 8, 8)


# ---------------------------------------------------------------- IDX reader


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_idx_round_trip_uint8(tmp_path, gzipped):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    data = idx_bytes(images)
    assert data[:4] == b"\x00\x00\x08\x03"  # magic 0x00000803
    path = tmp_path / ("images.gz" if gzipped else "images")
    path.write_bytes(gzip.compress(data) if gzipped else data)
    result = read_idx(path, dtype=np.uint8, ndim=3, shape=(2, 3, 4), sha256=hashlib.sha256(data).hexdigest())
    np.testing.assert_array_equal(result, images)
    assert result.dtype == np.uint8 and result.flags.writeable and result.flags.owndata


@pytest.mark.parametrize(
    "dtype, type_code",
    [(np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C), (np.float32, 0x0D), (np.float64, 0x0E)],
)
def test_idx_other_types_are_big_endian_and_come_back_native(tmp_path, dtype, type_code):
    values = np.array([[-3, 0, 7], [1, 2, -1]], dtype=dtype)
    path = tmp_path / "values"
    path.write_bytes(idx_bytes(values, type_code=type_code))
    result = read_idx(path)
    np.testing.assert_array_equal(result, values)
    assert result.dtype == np.dtype(dtype) and result.dtype.isnative


def test_gzip_is_recognised_by_content_not_name(tmp_path):
    labels = np.array([3, 1, 4], dtype=np.uint8)
    plain_named_gz = tmp_path / "labels.gz"  # e.g. a browser that un-gzipped on the fly
    plain_named_gz.write_bytes(idx_bytes(labels))
    gzip_without_suffix = tmp_path / "labels"
    gzip_without_suffix.write_bytes(gzip.compress(idx_bytes(labels)))
    np.testing.assert_array_equal(read_idx(plain_named_gz), labels)
    np.testing.assert_array_equal(read_idx(gzip_without_suffix), labels)


GOOD_IMAGES = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
GOOD = idx_bytes(GOOD_IMAGES)
GOOD_GZ = gzip.compress(GOOD)


def _corrupt_gzip_body(data):
    damaged = bytearray(data)
    middle = len(damaged) // 2
    damaged[middle : middle + 4] = bytes(b ^ 0xFF for b in damaged[middle : middle + 4])
    return bytes(damaged)


BAD_FILES = {
    # name: (file name, content, read_idx keywords, phrase the error must contain)
    "empty": ("images", b"", {}, "too short"),
    "truncated data": ("images", GOOD[:-5], {}, "truncated"),
    "truncated header": ("images", GOOD[:9], {}, "truncated header"),
    "extra bytes": ("images", GOOD + b"\x00\x00\x00", {}, "3 extra bytes"),
    "bad magic": ("images", b"\x12\x34" + GOOD[2:], {}, "bad magic number 0x12340803"),
    "unknown type code": ("images", GOOD[:2] + b"\x07" + GOOD[3:], {}, "unknown IDX type code 0x07"),
    "wrong dtype byte": (
        "images",
        idx_bytes(GOOD_IMAGES.astype(np.float32), type_code=0x0D),
        {"dtype": np.uint8},
        "type code 0x0D (float32) in magic number 0x00000D03, expected uint8",
    ),
    "wrong ndim": ("labels", GOOD, {"ndim": 1}, "declares 3 dimension(s), expected 1"),
    "zero dimensions": ("images", b"\x00\x00\x08\x00", {}, "0 dimensions"),
    "wrong shape": ("images", GOOD, {"shape": (2, 4, 3)}, "shape (2, 3, 4), expected (2, 4, 3)"),
    "corrupt gzip": ("images.gz", _corrupt_gzip_body(GOOD_GZ), {}, "corrupt gzip"),
    "truncated gzip": ("images.gz", GOOD_GZ[:-12], {}, "corrupt gzip"),
    "named .gz, not gzip": ("images.gz", b"PK\x03\x04" + GOOD, {}, "named .gz but is neither"),
}


@pytest.mark.parametrize("case", BAD_FILES.keys())
def test_bad_idx_file_raises_value_error_naming_file_and_problem(tmp_path, case):
    file_name, content, keywords, phrase = BAD_FILES[case]
    path = tmp_path / file_name
    path.write_bytes(content)
    with pytest.raises(ValueError) as caught:
        read_idx(path, **keywords)
    message = str(caught.value)
    assert str(path) in message
    assert phrase in message


def test_checksum_mismatch_names_file_expected_and_actual(tmp_path):
    path = tmp_path / "images"
    path.write_bytes(GOOD)
    actual = hashlib.sha256(GOOD).hexdigest()
    read_idx(path, sha256=actual.upper())  # hex case does not matter
    expected = "0" * 64
    with pytest.raises(ValueError) as caught:
        read_idx(path, sha256=expected)
    message = str(caught.value)
    assert str(path) in message and expected in message and actual in message


@settings(max_examples=40, deadline=None)
@given(
    shape=st.lists(st.integers(0, 5), min_size=1, max_size=4).map(tuple),
    cut=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_idx_round_trips_and_never_returns_a_cut_file(tmp_path_factory, shape, cut, seed):
    values = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    data = idx_bytes(values)
    path = tmp_path_factory.getbasetemp() / "hypothesis-idx"
    path.write_bytes(data)
    np.testing.assert_array_equal(read_idx(path, ndim=len(shape)), values)
    path.write_bytes(data[: max(0, len(data) - cut)])
    with pytest.raises(ValueError, match=re.escape(str(path))):
        read_idx(path)


# ---------------------------------------------------------------- real MNIST


def test_mnist_shapes_and_dtypes(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_train.dtype == np.uint8
    assert y_train.shape == (60000,) and y_train.dtype == np.uint8
    assert x_test.shape == (10000, 28, 28) and x_test.dtype == np.uint8
    assert y_test.shape == (10000,) and y_test.dtype == np.uint8
    assert x_train.flags.writeable


def test_mnist_label_counts(mnist):
    (_, y_train), (_, y_test) = mnist
    train_counts = np.bincount(y_train, minlength=10)
    assert train_counts.sum() == 60000
    assert train_counts[1] == 6742
    assert train_counts.tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(y_test, minlength=10).tolist() == MNIST_TEST_COUNTS


def test_mnist_pixel_range(mnist):
    (x_train, _), (x_test, _) = mnist
    for images in (x_train, x_test):
        assert images.min() == 0 and images.max() == 255
    assert x_train[:, 0, 0].max() == 0  # the corners are background
    assert 30 < x_train.mean() < 37  # mostly background: about 33.3


def test_mnist_found_through_fastnn_data(monkeypatch, mnist_dir, mnist):
    monkeypatch.setenv("FASTNN_DATA", str(mnist_dir.parent))
    (x_train, y_train), (x_test, y_test) = load_mnist(download=False)
    np.testing.assert_array_equal(y_train, mnist[0][1])
    np.testing.assert_array_equal(x_test, mnist[1][0])


def test_fastnn_data_may_name_the_mnist_folder_itself(monkeypatch, mnist_dir, mnist):
    assert mnist_dir.name == "mnist"
    monkeypatch.setenv("FASTNN_DATA", str(mnist_dir))          # as --data and path= take it
    (x_train, y_train), (x_test, y_test) = load_mnist(download=False)
    np.testing.assert_array_equal(y_train, mnist[0][1])
    np.testing.assert_array_equal(x_test, mnist[1][0])


def test_fastnn_data_naming_a_folder_is_searched_only_for_its_own_dataset(monkeypatch, tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in MNIST_NAMES:                                   # the right names, the wrong bytes
        (folder / name).write_bytes(idx_bytes(np.zeros((2, 2), np.uint8)))
    monkeypatch.setenv("FASTNN_DATA", str(folder))
    with pytest.raises(ValueError, match=re.escape(str(folder))):
        load_mnist(download=False)                             # found there, then checked
    # Fashion-MNIST's files have the same names: a folder named mnist/ is not searched for them
    try:
        load_fashion_mnist(download=False)
    except DatasetNotFoundError as exc:
        assert f"{folder}  ($FASTNN_DATA" not in str(exc)
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "elsewhere"))
    with pytest.raises(DatasetNotFoundError):
        load_mnist(download=False)                             # any other name: only $FASTNN_DATA/mnist


def test_mnist_gzipped_and_plain_files_mix(tmp_path, mnist_dir, mnist):
    for name, gzipped in zip(MNIST_NAMES, (False, True, True, False)):
        data = decompressed(find_real(mnist_dir, name))
        if gzipped:
            (tmp_path / f"{name}.gz").write_bytes(gzip.compress(data, compresslevel=1))
        else:
            (tmp_path / name).write_bytes(data)
    (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path)
    for got, want in zip((x_train, y_train, x_test, y_test), (*mnist[0], *mnist[1])):
        np.testing.assert_array_equal(got, want)


def _mnist_copy_with(tmp_path, mnist_dir, replace_name, content):
    """A folder linking to the real MNIST files except ``replace_name`` (written plain)."""
    folder = tmp_path / "mnist-copy"
    folder.mkdir()
    for name in MNIST_NAMES:
        if name == replace_name:
            (folder / name).write_bytes(content)
        else:
            source = find_real(mnist_dir, name)
            (folder / source.name).symlink_to(source.resolve())
    return folder


def test_mnist_checksum_mismatch_is_detected(tmp_path, mnist_dir):
    labels = bytearray(decompressed(find_real(mnist_dir, "t10k-labels-idx1-ubyte")))
    labels[100] = (labels[100] + 1) % 10  # one wrong label: structure intact, hash not
    folder = _mnist_copy_with(tmp_path, mnist_dir, "t10k-labels-idx1-ubyte", bytes(labels))
    with pytest.raises(ValueError) as caught:
        load_mnist(folder)
    message = str(caught.value)
    assert str(folder / "t10k-labels-idx1-ubyte") in message
    assert T10K_LABELS_SHA256 in message
    assert hashlib.sha256(bytes(labels)).hexdigest() in message


def test_mnist_wrong_file_is_a_shape_error(tmp_path, mnist_dir):
    train_labels = decompressed(find_real(mnist_dir, "train-labels-idx1-ubyte"))
    folder = _mnist_copy_with(tmp_path, mnist_dir, "t10k-labels-idx1-ubyte", train_labels)
    with pytest.raises(ValueError, match=r"shape \(60000,\), expected \(10000,\)"):
        load_mnist(folder)


def test_mnist_truncated_file_is_detected(tmp_path, mnist_dir):
    labels = decompressed(find_real(mnist_dir, "t10k-labels-idx1-ubyte"))
    folder = _mnist_copy_with(tmp_path, mnist_dir, "t10k-labels-idx1-ubyte", labels[:-1])
    with pytest.raises(ValueError, match="truncated"):
        load_mnist(folder)


# ---------------------------------------------------------------- missing files


def test_explicit_path_without_files_never_downloads(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    # The autouse fixture makes any download attempt an AssertionError, not this error.
    with pytest.raises(DatasetNotFoundError) as caught:
        load_mnist(empty)  # download=True by default, yet nothing is fetched
    message = str(caught.value)
    assert str(empty) in message and "does not download" in message
    assert all(name in message for name in MNIST_NAMES)
    assert not (tmp_path / "xdg-cache").exists()


def test_explicit_path_to_the_parent_folder_hints_at_subfolder(tmp_path):
    (tmp_path / "mnist").mkdir()
    with pytest.raises(DatasetNotFoundError, match=re.escape(str(tmp_path / "mnist"))):
        load_mnist(tmp_path)


def test_missing_files_with_download_disabled_list_folders_and_names(monkeypatch, tmp_path):
    monkeypatch.setenv("FASTNN_DATA", str(tmp_path / "data"))
    with pytest.raises(DatasetNotFoundError) as caught:
        load_mnist(download=False)
    message = str(caught.value)
    assert isinstance(caught.value, OSError)
    assert str(tmp_path / "data" / "mnist") in message
    assert str(tmp_path / "xdg-cache" / "fastnn" / "mnist") in message
    assert all(name in message for name in MNIST_NAMES)
    assert "download=False" in message


def test_fashion_mnist_missing_in_explicit_path(tmp_path):
    with pytest.raises(DatasetNotFoundError) as caught:
        load_fashion_mnist(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(caught.value)
    assert all(name in str(caught.value) for name in MNIST_NAMES)


def test_no_network_error_says_where_to_put_the_files(monkeypatch, tmp_path):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    urls = []

    def offline(url, *args, **kwargs):
        urls.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(_fetch, "urlopen", offline)
    with pytest.raises(DownloadError) as caught:
        load_mnist()
    message = str(caught.value)
    assert isinstance(caught.value, OSError)
    assert len(urls) == 2  # each mirror tried once, then the error
    assert all(url in message for url in urls)
    assert "name resolution" in message
    cache = tmp_path / "xdg-cache" / "fastnn" / "mnist"
    assert str(cache) in message and "FASTNN_DATA is not set" in message
    assert all(name in message for name in MNIST_NAMES)
    assert list(cache.iterdir()) == []  # no temporary file left behind


def test_cache_dir_honours_xdg_cache_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir("mnist") == tmp_path / "fastnn" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # ignored, as XDG says
    assert cache_dir("mnist") == Path.home() / ".cache" / "fastnn" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "fastnn"


# ---------------------------------------------------------------- simulated downloads


class FakeResponse(io.BytesIO):
    """What ``urlopen`` returns: a readable context manager with headers."""

    def __init__(self, data, content_length=None, on_read=None):
        super().__init__(data)
        length = len(data) if content_length is None else content_length
        self.headers = {"Content-Length": str(length)}
        self.on_read = on_read

    def read(self, size=-1):
        if self.on_read is not None:
            self.on_read()
        return super().read(size)


def test_simulated_download_lands_verified_files_via_temp_files(monkeypatch, tmp_path, mnist_dir, mnist, capsys):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    cache = tmp_path / "xdg-cache" / "fastnn" / "mnist"
    served, replaced = [], []

    def serve(url, *args, **kwargs):
        file_name = url.rsplit("/", 1)[1]
        served.append(url)

        def only_a_temporary_file_so_far():
            assert not (cache / file_name).exists()
            assert list(cache.glob(f".{file_name}.*.part"))

        data = gzipped_bytes(find_real(mnist_dir, file_name[: -len(".gz")]))
        return FakeResponse(data, on_read=only_a_temporary_file_so_far)

    real_replace = os.replace

    def recording_replace(source, destination):
        replaced.append((Path(source), Path(destination)))
        real_replace(source, destination)

    monkeypatch.setattr(_fetch, "urlopen", serve)
    monkeypatch.setattr(os, "replace", recording_replace)
    (x_train, y_train), (x_test, y_test) = load_mnist()

    assert len(served) == 4 and served[0].startswith("https://")  # first mirror worked
    assert sorted(path.name for path in cache.iterdir()) == sorted(f"{n}.gz" for n in MNIST_NAMES)
    assert len(replaced) == 4
    for source, destination in replaced:
        assert source.parent == destination.parent == cache  # same folder: an atomic rename
        assert source.name.startswith(f".{destination.name}.") and source.suffix == ".part"
    np.testing.assert_array_equal(y_train, mnist[0][1])
    np.testing.assert_array_equal(x_test, mnist[1][0])
    assert "100%" in capsys.readouterr().err  # the progress bar

    # A second load finds the cache and downloads nothing.
    monkeypatch.setattr(_fetch, "urlopen", lambda url, *a, **k: pytest.fail(f"downloaded {url} again"))
    load_mnist()


def _cache_with_all_but_test_labels(tmp_path, mnist_dir):
    cache = tmp_path / "xdg-cache" / "fastnn" / "mnist"
    cache.mkdir(parents=True)
    for name in MNIST_NAMES[:3]:
        source = find_real(mnist_dir, name)
        (cache / source.name).symlink_to(source.resolve())
    return cache


def test_simulated_download_with_wrong_bytes_leaves_no_file(monkeypatch, tmp_path, mnist_dir):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    cache = _cache_with_all_but_test_labels(tmp_path, mnist_dir)
    labels = bytearray(decompressed(find_real(mnist_dir, "t10k-labels-idx1-ubyte")))
    labels[-1] ^= 1
    wrong = gzip.compress(bytes(labels))
    monkeypatch.setattr(_fetch, "urlopen", lambda url, *a, **k: FakeResponse(wrong))
    with pytest.raises(DownloadError) as caught:
        load_mnist()
    message = str(caught.value)
    assert "rejected" in message and "SHA-256" in message and T10K_LABELS_SHA256 in message
    assert sorted(path.name for path in cache.iterdir()) == sorted(f"{n}.gz" for n in MNIST_NAMES[:3])


def test_simulated_cut_download_leaves_no_file(monkeypatch, tmp_path, mnist_dir):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    cache = _cache_with_all_but_test_labels(tmp_path, mnist_dir)
    data = gzipped_bytes(find_real(mnist_dir, "t10k-labels-idx1-ubyte"))
    cut = lambda url, *a, **k: FakeResponse(data[:1000], content_length=len(data))  # noqa: E731
    monkeypatch.setattr(_fetch, "urlopen", cut)
    with pytest.raises(DownloadError, match=f"connection closed after 1000 of {len(data)} bytes"):
        load_mnist()
    assert not (cache / "t10k-labels-idx1-ubyte.gz").exists()
    assert not list(cache.glob("*.part"))


def test_simulated_download_falls_back_to_the_next_mirror(monkeypatch, tmp_path, mnist_dir, mnist):
    monkeypatch.delenv("FASTNN_DATA", raising=False)
    cache = _cache_with_all_but_test_labels(tmp_path, mnist_dir)
    good = gzip.compress(decompressed(find_real(mnist_dir, "t10k-labels-idx1-ubyte")))
    served = []

    def first_mirror_corrupt(url, *args, **kwargs):
        served.append(url)
        return FakeResponse(good[:-20] + bytes(20) if len(served) == 1 else good)

    monkeypatch.setattr(_fetch, "urlopen", first_mirror_corrupt)
    (_, _), (_, y_test) = load_mnist()
    assert len(served) == 2 and served[0] != served[1]
    assert (cache / "t10k-labels-idx1-ubyte.gz").is_file()
    np.testing.assert_array_equal(y_test, mnist[1][1])


# ---------------------------------------------------------------- Fashion-MNIST


def test_fashion_mnist_class_names():
    assert FASHION_MNIST_CLASSES == (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    )  # fmt: skip


def _fashion_mnist_dir():
    root = os.environ.get("FASTNN_DATA", "")
    candidates = ([Path(root) / "fashion-mnist"] if root else []) + [Path("/usr/share/datasets/fashion-mnist")]
    for folder in candidates:
        if all(find_real(folder, name) for name in MNIST_NAMES):
            return folder
    return None


@pytest.mark.skipif(
    _fashion_mnist_dir() is None,
    reason="Fashion-MNIST not found in $FASTNN_DATA/fashion-mnist or /usr/share/datasets/fashion-mnist "
    "(Debian package dataset-fashion-mnist); optional",
)
def test_real_fashion_mnist():
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(_fashion_mnist_dir())
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == y_train.dtype == np.uint8
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10
