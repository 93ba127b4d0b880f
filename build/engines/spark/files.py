"""Paths of a build's input through Hadoop's FileSystem, so a local dir and `s3a://` read alike."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from latentlens.build.data.errors import DataError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def as_uri(location: str | Path) -> str:
    """A URI Hadoop understands: local paths become absolute file: URIs; `s3a:/b/k` (what
    pathlib makes of `s3a://b/k`) gets its second slash back."""
    text = str(location)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:/", text):
        return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*):/+", r"\1://", text) if not text.startswith("file:") else text
    return Path(text).resolve().as_uri()


def is_local(uri: str) -> bool:
    return uri.startswith("file:")


def local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://").removeprefix("file:"))


class UriDataError(DataError):
    """A DataError about an object-store URI (pathlib would fold its `//`)."""

    def __init__(self, uri: str, problem: str, line: int | None = None) -> None:
        super().__init__(uri, problem, line)
        self.uri = uri
        self.args = (f"{uri}:{line}: {problem}" if line is not None else f"{uri}: {problem}",)


def data_error(uri: str, problem: str, line: int | None = None) -> DataError:
    """The loader's DataError, naming a local file as a path and a remote one as its URI."""
    return DataError(local_path(uri), problem, line) if is_local(uri) else UriDataError(uri, problem, line)


class Files:
    """exists / size / first line / copy of small files, on whatever FileSystem the URI names."""

    def __init__(self, spark: SparkSession) -> None:
        jvm = spark.sparkContext._jvm
        assert jvm is not None  # a running SparkContext's gateway
        self._jvm = jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _path(self, uri: str):
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def _fs(self, uri: str):
        return self._path(uri).getFileSystem(self._conf)

    def join(self, root: str, name: str) -> str:
        return root.rstrip("/") + "/" + name

    def exists(self, uri: str) -> bool:
        return bool(self._fs(uri).exists(self._path(uri)))

    def is_file(self, uri: str) -> bool:
        return self.exists(uri) and bool(self._fs(uri).getFileStatus(self._path(uri)).isFile())

    def is_dir(self, uri: str) -> bool:
        return self.exists(uri) and bool(self._fs(uri).getFileStatus(self._path(uri)).isDirectory())

    def size(self, uri: str) -> int:
        return int(self._fs(uri).getFileStatus(self._path(uri)).getLen())

    def modified(self, uri: str) -> int:
        return int(self._fs(uri).getFileStatus(self._path(uri)).getModificationTime())

    def names(self, uri: str) -> list[str]:
        return sorted(str(s.getPath().getName()) for s in self._fs(uri).listStatus(self._path(uri)))

    def first_line(self, uri: str, limit: int = 4096) -> bytes:
        """The first line's bytes (without the newline), read on the driver."""
        stream = self._fs(uri).open(self._path(uri))
        try:
            chunk = bytearray()
            while len(chunk) < limit:
                byte = stream.read()
                if byte < 0 or byte == 10:
                    break
                chunk.append(byte)
            return bytes(chunk)
        finally:
            stream.close()

    def last_byte(self, uri: str) -> int | None:
        size = self.size(uri)
        if size == 0:
            return None
        stream = self._fs(uri).open(self._path(uri))
        try:
            stream.seek(size - 1)
            return int(stream.read())
        finally:
            stream.close()

    def local_copy(self, uri: str, scratch: Path) -> Path:
        """The file itself when local, else a copy in `scratch` (small catalogue files only)."""
        if is_local(uri):
            return local_path(uri)
        target = Path(tempfile.mkdtemp(dir=scratch)) / uri.rsplit("/", 1)[-1]
        self._fs(uri).copyToLocalFile(False, self._path(uri), self._jvm.org.apache.hadoop.fs.Path(str(target)), True)
        return target
