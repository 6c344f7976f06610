"""A small Thrift compact-protocol codec: enough to read a Parquet footer and write it back.

Values decode into plain Python: a struct is a dict {field id: (type, value)} in wire order,
a list is (element type, [values]), a map is (key type, value type, [(key, value)]). `encode`
writes them as Apache Thrift's compact writer does (short field headers for deltas 1-15,
short list headers below 15 elements, minimal varints), so an unchanged footer encodes back to
its own bytes; `curate.storage.row_groups` checks that before relying on it.
"""

from __future__ import annotations

import struct
from typing import Any

STOP, TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(13)
STRUCT_TYPE = STRUCT


class Reader:
    """Decode compact-protocol values from `data`, starting at `pos`."""

    def __init__(self, data: bytes | memoryview, pos: int = 0):
        view = memoryview(data)
        self.data, self.pos = (view if view.format == "B" else view.cast("B")), pos

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if b < 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def struct(self) -> dict[int, tuple[int, Any]]:
        fields: dict[int, tuple[int, Any]] = {}
        last = 0
        while True:
            header = self.byte()
            kind = header & 0x0F
            if kind == STOP:
                return fields
            delta = header >> 4
            last = last + delta if delta else self.zigzag()
            if kind in (TRUE, FALSE):
                fields[last] = (kind, kind == TRUE)
            else:
                fields[last] = (kind, self.value(kind))

    def value(self, kind: int) -> Any:
        if kind in (BYTE,):
            return self.byte()
        if kind in (I16, I32, I64):
            return self.zigzag()
        if kind == DOUBLE:
            value = struct.unpack_from("<d", self.data, self.pos)[0]
            self.pos += 8
            return value
        if kind == BINARY:
            n = self.varint()
            value = bytes(self.data[self.pos:self.pos + n])
            self.pos += n
            return value
        if kind in (LIST, SET):
            header = self.byte()
            size, element = header >> 4, header & 0x0F
            if size == 15:
                size = self.varint()
            if element in (TRUE, FALSE):  # a bool element is one byte of its own
                return element, [self.byte() == TRUE for _ in range(size)]
            return element, [self.value(element) for _ in range(size)]
        if kind == MAP:
            size = self.varint()
            if not size:
                return 0, 0, []
            types = self.byte()
            key, val = types >> 4, types & 0x0F
            return key, val, [(self.value(key), self.value(val)) for _ in range(size)]
        if kind == STRUCT:
            return self.struct()
        raise ValueError(f"unknown compact-protocol type {kind}")


class Writer:
    """Encode values as `Reader` decodes them."""

    def __init__(self):
        self.out = bytearray()

    def varint(self, n: int) -> None:
        while n >= 0x80:
            self.out.append((n & 0x7F) | 0x80)
            n >>= 7
        self.out.append(n)

    def zigzag(self, n: int) -> None:
        self.varint((n << 1) ^ (n >> 63))

    def struct(self, fields: dict[int, tuple[int, Any]]) -> None:
        last = 0
        for fid, (kind, value) in fields.items():
            wire = (TRUE if value else FALSE) if kind in (TRUE, FALSE) else kind
            if 0 < fid - last <= 15:
                self.out.append((fid - last) << 4 | wire)
            else:
                self.out.append(wire)
                self.zigzag(fid)
            last = fid
            if kind not in (TRUE, FALSE):
                self.value(kind, value)
        self.out.append(STOP)

    def value(self, kind: int, value: Any) -> None:
        if kind == BYTE:
            self.out.append(value & 0xFF)
        elif kind in (I16, I32, I64):
            self.zigzag(value)
        elif kind == DOUBLE:
            self.out += struct.pack("<d", value)
        elif kind == BINARY:
            self.varint(len(value))
            self.out += value
        elif kind in (LIST, SET):
            element, items = value
            if len(items) < 15:
                self.out.append(len(items) << 4 | element)
            else:
                self.out.append(0xF0 | element)
                self.varint(len(items))
            for item in items:
                if element in (TRUE, FALSE):
                    self.out.append(TRUE if item else FALSE)
                else:
                    self.value(element, item)
        elif kind == MAP:
            key, val, items = value
            self.varint(len(items))
            if items:
                self.out.append(key << 4 | val)
                for k, v in items:
                    self.value(key, k)
                    self.value(val, v)
        elif kind == STRUCT:
            self.struct(value)
        else:
            raise ValueError(f"unknown compact-protocol type {kind}")


def decode_struct(data: bytes | memoryview) -> dict[int, tuple[int, Any]]:
    return Reader(data).struct()


def encode_struct(fields: dict[int, tuple[int, Any]]) -> bytes:
    writer = Writer()
    writer.struct(fields)
    return bytes(writer.out)
