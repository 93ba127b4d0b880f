"""Typed, validated reads of one delimited file, with errors located to a line.

The fast path parses straight into the target dtypes with polars. Only when that fails
(or leaves a required value empty) do we pay for a second, all-text read to find the first
bad row vectorised; its line number is the row index plus the lines before the data.
Line numbers assume no quoted field spans lines, which holds for every MovieLens file.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from latentlens.build.data.errors import DataError

CHUNK = 1 << 20  # 1 MiB: hashing and encoding checks stream the file in blocks this size


@dataclass(frozen=True)
class TableSpec:
    """How one file is laid out: columns in file order with their dtypes, and which may be empty."""

    columns: Mapping[str, pl.DataType]
    required: tuple[str, ...]           # columns that may not be empty
    separator: str = ","
    quote_char: str | None = '"'
    header: tuple[str, ...] | None = None  # expected header names; None = the file has none

    @property
    def first_data_line(self) -> int:
        return 2 if self.header is not None else 1


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


def require_utf8(path: Path) -> None:
    """Raise a DataError naming the line of the first invalid UTF-8 byte, if any."""
    line = first_invalid_utf8_line(path)
    if line is not None:
        raise DataError(path, "invalid UTF-8 (expected UTF-8 text)", line=line)


def check_header(path: Path, spec: TableSpec) -> None:
    """The first line must name exactly the expected columns (order included)."""
    if spec.header is None:
        return
    with path.open("rb") as fh:
        first = fh.readline()
    found = first.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    names = tuple(n.strip().strip('"') for n in found.split(spec.separator)) if found else ()
    if names != spec.header:
        shown = ",".join(names) if names else "nothing"
        raise DataError(path, f"wrong header: expected {','.join(spec.header)}, found {shown}", line=1)


def ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(0, io.SEEK_END)
        if fh.tell() == 0:
            return True
        fh.seek(-1, io.SEEK_END)
        return fh.read(1) == b"\n"


def _read(source: Path | bytes, spec: TableSpec, schema: Mapping[str, pl.DataType], encoding: str) -> pl.DataFrame:
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
    return frame


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
        return DataError(path, f"{problem}: {str(again).splitlines()[0]}", line=line)
    for name, dtype in spec.columns.items():
        if dtype == pl.Utf8:
            continue
        bad = text.select(
            (pl.col(name).is_not_null() & pl.col(name).str.strip_chars().cast(dtype, strict=False).is_null())
            .arg_true().first()
        ).item()
        if bad is not None:
            value = text[name][bad]
            line = bad + spec.first_data_line
            if "\ufffd" in value:
                return DataError(path, "invalid UTF-8 (expected UTF-8 text)", line=line)
            return DataError(path, f"{name}: {value!r} is not a valid {_kind(dtype)}", line=line)
    return DataError(path, f"cannot parse: {str(exc).splitlines()[0]}")


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


def _kind(dtype: pl.DataType) -> str:
    return "number" if dtype.is_float() else "integer" if dtype.is_integer() else str(dtype)


def _check_required(path: Path, spec: TableSpec, frame: pl.DataFrame) -> None:
    """No empty required value; an empty one on an unterminated last line means a truncated file."""
    if not spec.required or frame.height == 0:
        return
    nulls = frame.select(pl.col(spec.required).null_count()).row(0)
    if not any(nulls):
        return
    row = frame.select(pl.any_horizontal(pl.col(spec.required).is_null()).arg_true().first()).item()
    line = row + spec.first_data_line
    if row == frame.height - 1 and not ends_with_newline(path):
        raise DataError(path, "truncated last line (no newline at end of file and fields missing)", line=line)
    missing = [name for name in spec.required if frame[name][row] is None]
    raise DataError(path, f"missing value for {', '.join(missing)}", line=line)


def read_file(path: Path, spec: TableSpec) -> pl.DataFrame:
    """Check presence, emptiness and header of one file, then read it by `spec`."""
    if not path.is_file():
        raise DataError(path, f"required file {path.name} is missing")
    if path.stat().st_size == 0:
        raise DataError(path, "empty file (0 bytes)")
    check_header(path, spec)
    return read_table(path, spec)
