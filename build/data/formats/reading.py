"""Typed, validated reads of one delimited file, with errors located to a line.

The fast path parses straight into the target dtypes with polars. Only when that fails
(or leaves a required value empty, out of range or over its size limit) do we pay for a
second, all-text read to find the first bad row vectorised; its line number is the row index
plus the lines before the data plus the newlines inside quoted fields of the rows before it.
Every value or line quoted in a message is cut to EXCERPT_CHARS.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from latentlens.build.data.errors import DataError

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

CHUNK = 1 << 20  # 1 MiB: hashing and encoding checks stream the file in blocks this size
EXCERPT_CHARS = 80  # the most of a value or a line an error message quotes

# Leading bytes of files people hand us by mistake, and what to tell them.
BINARY_SIGNATURES = (
    (b"\x1f\x8b", "looks like gzip-compressed data, not text: decompress it first (gunzip)"),
    (b"PK\x03\x04", "looks like a zip archive, not text: unzip it first"),
    (b"BZh", "looks like bzip2-compressed data, not text: decompress it first (bunzip2)"),
    (b"\xfd7zXZ\x00", "looks like xz-compressed data, not text: decompress it first (unxz)"),
    (b"(\xb5/\xfd", "looks like zstd-compressed data, not text: decompress it first (unzstd)"),
)


@dataclass(frozen=True)
class TableSpec:
    """How one file is laid out: columns in file order with their dtypes, and which may be empty."""

    columns: Mapping[str, PolarsDataType]  # dtype classes (pl.Int32) or instances (pl.List(pl.Utf8))
    required: tuple[str, ...]           # columns that may not be empty
    separator: str = ","
    quote_char: str | None = '"'
    header: tuple[str, ...] | None = None  # expected header names; None = the file has none
    # Integer columns with their allowed range (ids start at 1, as the API requires; timestamps
    # are seconds since 1970 up to 9999-12-31), and text columns with a maximum length in characters.
    ranges: Mapping[str, tuple[int, int, str]] = field(default_factory=dict)  # name -> (low, high, meaning)
    max_chars: Mapping[str, int] = field(default_factory=dict)

    @property
    def first_data_line(self) -> int:
        return 2 if self.header is not None else 1


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` quoted (repr), cut to `limit` characters with the full length said."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text):,} characters)"


def file_kind(path: Path) -> str | None:
    """What is at `path`: None when nothing, "" for a regular file, else "a directory", "a FIFO (named pipe)", ..."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "a symlink to nothing (dangling)" if os.path.islink(path) else None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "a symlink loop"
        return f"unreadable ({exc.strerror})"
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return ""
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def exists_at_all(path: Path) -> bool:
    """Something is at `path` (a file, a directory, a FIFO, even a broken or looping symlink)."""
    return os.path.lexists(path)


def require_regular_file(path: Path) -> None:
    """DataError saying what `path` is, when it is not a regular file: missing, a directory, a FIFO..."""
    kind = file_kind(path)
    if kind is None:
        raise DataError(path, f"required file {path.name} is missing")
    if kind:
        raise DataError(path, f"is {kind}, not a file" if kind.startswith("a ") else f"is {kind}")


def binary_problem(head: bytes) -> str | None:
    """A message when the first bytes of a file show it is compressed or binary, not text."""
    for signature, problem in BINARY_SIGNATURES:
        if head.startswith(signature):
            return problem
    if b"\0" in head:
        return "looks like binary data (NUL bytes), not text"
    return None


def require_text(path: Path, head: bytes | None = None) -> None:
    if head is None:
        with path.open("rb") as fh:
            head = fh.read(512)
    problem = binary_problem(head)
    if problem:
        signed = any(head.startswith(signature) for signature, _ in BINARY_SIGNATURES)
        raise DataError(path, problem, line=1 if signed else head.count(b"\n", 0, head.find(b"\0")) + 1)


def sha256_files(paths: Iterable[Path]) -> str:
    """One digest over the files in the given order: each file's name, a NUL, then its bytes."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as fh:
            while block := fh.read(CHUNK):
                digest.update(block)
    return digest.hexdigest()


def first_invalid_utf8_line(path: Path) -> int | None:
    """1-based line of the first invalid UTF-8 byte, or None; streams whole lines in 1 MiB blocks."""
    lines_before = 0
    carry = b""
    with path.open("rb") as fh:
        while True:
            block = fh.read(CHUNK)
            data = carry + block
            if not data:
                return None
            cut = data.rfind(b"\n") + 1 if block else len(data)
            whole, carry = data[:cut], data[cut:]
            try:
                whole.decode("utf-8")
            except UnicodeDecodeError as exc:
                return lines_before + whole.count(b"\n", 0, exc.start) + 1
            lines_before += whole.count(b"\n")
            if not block:
                return None


def check_header(path: Path, spec: TableSpec) -> None:
    """The first line must name exactly the expected columns (order included)."""
    if spec.header is None:
        return
    with path.open("rb") as fh:
        first = fh.readline(4096)
    require_text(path, first)
    found = first.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    names = tuple(n.strip().strip('"') for n in found.split(spec.separator)) if found else ()
    if names != spec.header:
        shown = excerpt(",".join(names))[1:-1] if names else "nothing"
        raise DataError(path, f"wrong header: expected {','.join(spec.header)}, found {shown}", line=1)


def ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(0, io.SEEK_END)
        if fh.tell() == 0:
            return True
        fh.seek(-1, io.SEEK_END)
        return fh.read(1) == b"\n"


def _read(source: Path | bytes, spec: TableSpec, schema: Mapping[str, PolarsDataType], encoding: str) -> pl.DataFrame:
    return pl.read_csv(
        source if isinstance(source, Path) else io.BytesIO(source),
        has_header=False,  # the header is checked by check_header; names come from the spec
        skip_rows=1 if spec.header is not None else 0,
        separator=spec.separator,
        quote_char=spec.quote_char,
        schema=dict(schema),
        encoding=encoding,
        raise_if_empty=False,
        truncate_ragged_lines=False,
    )


def read_table(path: Path, spec: TableSpec, source: Path | bytes | None = None) -> pl.DataFrame:
    """Parse `source` (default: the file itself) by `spec`; DataError at the first bad value.

    `path` is the file named in errors; `source` may be a transcoded copy of it in memory
    with the same lines (the `::` and Latin-1 layouts).
    """
    source = path if source is None else source
    try:
        frame = _read(source, spec, spec.columns, "utf8")
    except pl.exceptions.PolarsError as exc:
        raise _locate_parse_error(path, spec, source, exc) from exc
    _check_required(path, spec, frame)
    _check_ranges(path, spec, frame)
    _check_sizes(path, spec, frame)
    _check_no_nul(path, spec, frame)
    return frame


def physical_line(frame: pl.DataFrame, row: int, first_data_line: int) -> int:
    """1-based line where data row `row` starts: quoted fields of earlier rows may hold newlines."""
    text = [name for name, dtype in frame.schema.items() if dtype == pl.Utf8]
    extra = 0
    if text and row > 0:
        counts = [pl.col(name).str.count_matches("\n", literal=True).fill_null(0).sum() for name in text]
        extra = int(frame.head(row).select(pl.sum_horizontal(counts)).item() or 0)
    return row + first_data_line + extra


def _first_message_line(exc: Exception) -> str:
    first = (str(exc).splitlines() or [""])[0]
    return first if len(first) <= 2 * EXCERPT_CHARS else first[: 2 * EXCERPT_CHARS] + "…"


def _check_ranges(path: Path, spec: TableSpec, frame: pl.DataFrame) -> None:
    for name, (low, high, meaning) in spec.ranges.items():
        column = pl.col(name)
        row = frame.select(((column < low) | (column > high)).arg_true().first()).item()
        if row is not None:
            raise DataError(path, f"{name}: {frame[name][row]} is out of range ({meaning})",
                            line=physical_line(frame, row, spec.first_data_line))


def _check_sizes(path: Path, spec: TableSpec, frame: pl.DataFrame) -> None:
    for name, limit in spec.max_chars.items():
        row = frame.select((pl.col(name).str.len_chars() > limit).arg_true().first()).item()
        if row is not None:
            value = frame[name][row]
            raise DataError(path, f"{name} is {len(value):,} characters, over the limit of {limit:,}: "
                                  f"{excerpt(value)}", line=physical_line(frame, row, spec.first_data_line))


def _check_no_nul(path: Path, spec: TableSpec, frame: pl.DataFrame) -> None:
    """No text value holds a NUL character: it is never part of a title, tag or genre, and C code cuts there."""
    for name, dtype in frame.schema.items():
        if dtype != pl.Utf8:
            continue
        row = frame.select(pl.col(name).str.contains("\x00", literal=True).arg_true().first()).item()
        if row is not None:
            raise DataError(path, f"{name}: {excerpt(frame[name][row])} holds a NUL character (U+0000); remove it",
                            line=physical_line(frame, row, spec.first_data_line))


def _locate_parse_error(path: Path, spec: TableSpec, source: Path | bytes, exc: Exception) -> DataError:
    """Re-read as text and find the first value that does not cast; vectorised."""
    if "utf-8" in str(exc).lower():
        line = first_invalid_utf8_line(path) if isinstance(source, Path) else None
        return DataError(path, "invalid UTF-8 (expected UTF-8 text)", line=line)
    try:
        text = _read(source, spec, {name: pl.Utf8 for name in spec.columns}, "utf8-lossy")
    except pl.exceptions.PolarsError as again:
        line = _first_ragged_line(source, spec)
        problem = f"expected {len(spec.columns)} fields" if line is not None else "cannot parse"
        return DataError(path, f"{problem}: {_first_message_line(again)}", line=line)
    for name, dtype in spec.columns.items():
        if dtype == pl.Utf8:
            continue
        # Cast as the typed read does, without trimming: ' 2 ' and "2\n" fail there, so they must here.
        bad = text.select(
            (pl.col(name).is_not_null() & pl.col(name).cast(dtype, strict=False).is_null())
            .arg_true().first()
        ).item()
        if bad is not None:
            value = text[name][bad]
            line = physical_line(text, bad, spec.first_data_line)
            if "\ufffd" in value:
                return DataError(path, "invalid UTF-8 (expected UTF-8 text)", line=line)
            trimmed = value.strip()
            if trimmed != value and pl.Series([trimmed]).cast(dtype, strict=False)[0] is not None:
                what = "a newline in" if "\n" in value or "\r" in value else "whitespace around"
                return DataError(path, f"{name}: {excerpt(value)} has {what} the {_kind(dtype)}; "
                                       "remove it", line=line)
            return DataError(path, f"{name}: {excerpt(value)} is not a valid {_kind(dtype)}", line=line)
    return DataError(path, f"cannot parse: {_first_message_line(exc)}")


def _first_ragged_line(source: Path | bytes, spec: TableSpec) -> int | None:
    """Line of the first row with more fields than the spec, quoted text ignored; vectorised."""
    try:
        lines = pl.read_csv(
            source if isinstance(source, Path) else io.BytesIO(source), has_header=False,
            skip_rows=1 if spec.header is not None else 0, separator="\x1e", quote_char=None,
            schema={"line": pl.Utf8}, encoding="utf8-lossy", raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        return None
    text = pl.col("line").fill_null("")
    if spec.quote_char is not None:
        text = text.str.replace_all(f"{spec.quote_char}[^{spec.quote_char}]*{spec.quote_char}", "")
    too_many = text.str.count_matches(spec.separator, literal=True) >= len(spec.columns)
    row = lines.select(too_many.arg_true().first()).item()
    return None if row is None else row + spec.first_data_line


def _kind(dtype: PolarsDataType) -> str:
    return "number" if dtype.is_float() else "integer" if dtype.is_integer() else str(dtype)


def _check_required(path: Path, spec: TableSpec, frame: pl.DataFrame) -> None:
    """No empty required value; an empty one on an unterminated last line means a truncated file."""
    if not spec.required or frame.height == 0:
        return
    nulls = frame.select(pl.col(spec.required).null_count()).row(0)
    if not any(nulls):
        return
    row = frame.select(pl.any_horizontal(pl.col(spec.required).is_null()).arg_true().first()).item()
    line = physical_line(frame, row, spec.first_data_line)
    if row == frame.height - 1 and not ends_with_newline(path):
        raise DataError(path, "truncated last line (no newline at end of file and fields missing)", line=line)
    missing = [name for name in spec.required if frame[name][row] is None]
    raise DataError(path, f"missing value for {', '.join(missing)}", line=line)


def read_file(path: Path, spec: TableSpec) -> pl.DataFrame:
    """Check presence, emptiness and header of one file, then read it by `spec`."""
    require_regular_file(path)
    if path.stat().st_size == 0:
        raise DataError(path, "empty file (0 bytes)")
    require_text(path)
    check_header(path, spec)
    return read_table(path, spec)
