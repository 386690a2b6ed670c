"""The PLY container, numpy only: parse a header, read one element's rows by property name, write a header.

Reads `binary_little_endian`, `binary_big_endian` and `ascii` files with any scalar property types
(char/uchar/short/ushort/int/uint/float/double and their int8..float64 aliases). Elements before the one
read must have only scalar properties (their size then follows from the header); the element read must have
no list properties. Elements after it are skipped. The binary data size is checked against the header:
fewer bytes than declared is an error (a truncated file), more bytes than every element needs is a warning.
Every failure is an InputError naming the file and the header line or element.
"""

import dataclasses
import os
import re
import warnings
from pathlib import Path

import numpy as np

from ngfx.errors import InputError

__all__ = ["PlyElement", "PlyHeader", "float_header", "read_element"]

_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
          "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
          "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}
_ORDER = {"binary_little_endian": "<", "binary_big_endian": ">", "ascii": "="}
_END = re.compile(rb"(?:^|\n)end_header\r?\n")
_MAX_HEADER_BYTES = 1 << 20  # real headers are a few kB; stop searching binary junk early
_FIX = "give a Gaussian splat .ply in the INRIA 3DGS layout (binary_little_endian, one 'vertex' element)"


@dataclasses.dataclass(frozen=True)
class PlyElement:
    """One `element` line and its properties: (name, numpy type code such as 'f4'; 'list' for lists)."""

    name: str
    count: int
    properties: tuple[tuple[str, str], ...]

    @property
    def has_lists(self) -> bool:
        return any(kind == "list" for _, kind in self.properties)

    def dtype(self, byte_order: str) -> np.dtype:
        """The packed structured dtype of one row (scalar properties only)."""
        return np.dtype([(name, byte_order + kind) for name, kind in self.properties])


@dataclasses.dataclass(frozen=True)
class PlyHeader:
    format: str  # binary_little_endian | binary_big_endian | ascii
    comments: tuple[str, ...]  # text after "comment ", in file order
    elements: tuple[PlyElement, ...]
    size: int  # bytes up to and including the end_header line


def read_element(path: Path, name: str) -> tuple[PlyHeader, np.ndarray]:
    """The header and the rows of element `name` as a structured array with one field per property."""
    with open(path, "rb") as f:
        head = f.read(_MAX_HEADER_BYTES)
        header = _parse_header(head, path)
        names = [e.name for e in header.elements]
        if name not in names:
            raise InputError(f"has no '{name}' element (elements: {', '.join(names) or 'none'})", file=path,
                             field=f"element {name}", fix=_FIX)
        index = names.index(name)
        element = header.elements[index]
        if element.has_lists:
            raise InputError("list properties are not supported in this element", file=path,
                             field=f"element {name}", fix=_FIX)
        f.seek(header.size)
        if header.format == "ascii":
            return header, _read_ascii(f.read(), header.elements, index, path)
        return header, _read_binary(f, header, index, path)


def _parse_header(head: bytes, path: Path) -> PlyHeader:
    """Parse the header at the start of `head`; InputError naming the offending line."""
    if not head.startswith((b"ply\n", b"ply\r\n")):
        shown = "it is empty" if not head else f"it starts with {head[:16]!r}"
        raise InputError(f"not a PLY file ({shown})", file=path, fix=_FIX)
    end = _END.search(head)
    if end is None:
        raise InputError("the PLY header has no end_header line", file=path, field="header", fix=_FIX)
    try:
        lines = head[: end.start()].decode("ascii").splitlines()[1:]
    except UnicodeDecodeError:
        raise InputError("the PLY header is not ASCII text", file=path, field="header", fix=_FIX) from None
    fmt, comments, elements = None, [], []
    for number, line in enumerate(lines, start=2):
        words = line.split()
        where = f"header line {number}"
        if not words or words[0] == "obj_info":
            continue
        if words[0] == "comment":
            comments.append(line.strip()[len("comment"):].strip())
        elif words[0] == "format":
            if len(words) != 3 or words[1] not in _ORDER:
                raise InputError(f"unknown format {line.strip()!r}", file=path, field=where, fix=_FIX)
            fmt = words[1]
        elif words[0] == "element":
            if len(words) != 3 or not words[2].isdigit():
                raise InputError(f"malformed element line {line.strip()!r}", file=path, field=where, fix=_FIX)
            elements.append(PlyElement(words[1], int(words[2]), ()))
        elif words[0] == "property" and elements:
            prop = _parse_property(words, elements[-1], path, where)
            elements[-1] = dataclasses.replace(elements[-1], properties=elements[-1].properties + (prop,))
        else:
            raise InputError(f"unexpected header line {line.strip()!r}", file=path, field=where, fix=_FIX)
    if fmt is None:
        raise InputError("the PLY header has no format line", file=path, field="header", fix=_FIX)
    return PlyHeader(fmt, tuple(comments), tuple(elements), end.end())


def _parse_property(words: list[str], element: PlyElement, path: Path, where: str) -> tuple[str, str]:
    """(name, type code) of one property line; lists get the code 'list'."""
    if len(words) == 5 and words[1] == "list" and words[2] in _TYPES and words[3] in _TYPES:
        prop = (words[4], "list")
    elif len(words) == 3 and words[1] in _TYPES:
        prop = (words[2], _TYPES[words[1]])
    else:
        raise InputError(f"malformed property line {' '.join(words)!r}", file=path, field=where, fix=_FIX)
    if prop[0] in dict(element.properties):
        raise InputError(f"property {prop[0]!r} appears twice in element {element.name!r}", file=path,
                         field=where, fix="re-export the file")
    return prop


def _read_binary(f, header: PlyHeader, index: int, path: Path) -> np.ndarray:
    """Rows of elements[index] from a binary file, after checking the data size against the header."""
    order = _ORDER[header.format]
    element = header.elements[index]
    offset = header.size
    for before in header.elements[:index]:
        if before.has_lists:
            raise InputError(f"element {before.name!r} before {element.name!r} has list properties", file=path,
                             field=f"element {before.name}", fix=_FIX)
        offset += before.count * before.dtype(order).itemsize
    dtype = element.dtype(order)
    needed = element.count * dtype.itemsize
    f.seek(offset)
    data = f.read(needed)
    if len(data) < needed:
        raise InputError(f"the file is truncated: the header declares {element.count} rows of {dtype.itemsize} "
                         f"bytes, but only {len(data) // dtype.itemsize} complete rows follow", file=path,
                         field=f"element {element.name}", fix="re-export or re-download the file")
    after = header.elements[index + 1:]
    if not any(e.has_lists for e in after):
        expected = offset + needed + sum(e.count * e.dtype(order).itemsize for e in after)
        extra = os.fstat(f.fileno()).st_size - expected
        if extra > 0:
            warnings.warn(f"{path}: {extra} bytes after the data the header declares; ignored", stacklevel=4)
    return np.frombuffer(data, dtype=dtype, count=element.count)


def _read_ascii(body: bytes, elements, index: int, path: Path) -> np.ndarray:
    """Rows of elements[index] from an ascii body: one line per row, elements in header order."""
    element = elements[index]
    field = f"element {element.name}"
    lines = [line for line in body.decode("ascii", errors="replace").splitlines() if line.strip()]
    skip = sum(e.count for e in elements[:index])
    rows = lines[skip: skip + element.count]
    if len(rows) < element.count:
        raise InputError(f"the file is truncated: the header declares {element.count} rows but {len(rows)} "
                         "follow", file=path, field=field, fix="re-export or re-download the file")
    table = [row.split() for row in rows]
    width = len(element.properties)
    for k, words in enumerate(table):
        if len(words) != width:
            raise InputError(f"row {k} has {len(words)} values, expected {width}", file=path, field=field,
                             fix="re-export the file")
    try:
        values = np.array(table, dtype=np.float64).reshape(element.count, width)
    except ValueError as e:
        raise InputError(f"a row holds a value that is not a number ({e})", file=path, field=field,
                         fix="re-export the file") from None
    out = np.empty(element.count, dtype=element.dtype("="))
    for column, (name, _) in enumerate(element.properties):
        out[name] = values[:, column]
    return out


def float_header(comments: list[str], element: str, count: int, properties: list[str]) -> bytes:
    """A binary_little_endian header for one element of float32 properties, comments first."""
    lines = ["ply", "format binary_little_endian 1.0", *(f"comment {c}" for c in comments),
             f"element {element} {count}", *(f"property float {name}" for name in properties), "end_header"]
    return ("\n".join(lines) + "\n").encode("ascii")
