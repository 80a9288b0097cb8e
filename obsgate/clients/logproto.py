"""Loki's native push encoding: a ``logproto.PushRequest`` protobuf, snappy block-compressed.

The messages are declared here at runtime from Loki's documented wire format
(``pkg/push/push.proto``) with ``descriptor_pb2`` and built by ``message_factory`` in a
private descriptor pool; no protoc, no generated code::

    google.protobuf.Timestamp { int64 seconds = 1; int32 nanos = 2; }
    logproto.EntryAdapter     { google.protobuf.Timestamp timestamp = 1; string line = 2; }
    logproto.StreamAdapter    { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
    logproto.PushRequest      { repeated StreamAdapter streams = 1; }

Loki reads such a body on ``POST /loki/api/v1/push`` with ``Content-Type:
application/x-protobuf`` and snappy *block* format (not the framed stream format).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

import snappy
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

CONTENT_TYPE = "application/x-protobuf"
_NS = 1_000_000_000
_F = descriptor_pb2.FieldDescriptorProto

Labels = Mapping[str, str]
Entries = Sequence[tuple[int, str]]


def _field(name: str, number: int, kind: int, label: int = _F.LABEL_OPTIONAL,
           type_name: str | None = None) -> descriptor_pb2.FieldDescriptorProto:
    field = _F(name=name, number=number, type=kind, label=label)  # type: ignore[arg-type]  # enum values are ints
    if type_name is not None:
        field.type_name = type_name
    return field


def _files() -> list[descriptor_pb2.FileDescriptorProto]:
    timestamp = descriptor_pb2.FileDescriptorProto(
        name="google/protobuf/timestamp.proto", package="google.protobuf", syntax="proto3")
    timestamp.message_type.add(name="Timestamp", field=[
        _field("seconds", 1, _F.TYPE_INT64), _field("nanos", 2, _F.TYPE_INT32)])

    push = descriptor_pb2.FileDescriptorProto(
        name="pkg/push/push.proto", package="logproto", syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"])
    push.message_type.add(name="EntryAdapter", field=[
        _field("timestamp", 1, _F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp"),
        _field("line", 2, _F.TYPE_STRING)])
    push.message_type.add(name="StreamAdapter", field=[
        _field("labels", 1, _F.TYPE_STRING),
        _field("entries", 2, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, ".logproto.EntryAdapter"),
        _field("hash", 3, _F.TYPE_UINT64)])
    push.message_type.add(name="PushRequest", field=[
        _field("streams", 1, _F.TYPE_MESSAGE, _F.LABEL_REPEATED, ".logproto.StreamAdapter")])
    return [timestamp, push]


@cache
def _pool() -> descriptor_pool.DescriptorPool:
    """A private pool, so these declarations never clash with the library's own well-known types."""
    pool = descriptor_pool.DescriptorPool()
    for file in _files():
        pool.Add(file)
    return pool


def message_class(full_name: str) -> type[Message]:
    """The runtime class of one of the declared messages, e.g. ``logproto.PushRequest`` (its fields are made at
    runtime, so they are untyped: ``Any`` where the code reaches them)."""
    return message_factory.GetMessageClass(_pool().FindMessageTypeByName(full_name))


def quote(value: str) -> str:
    """A double-quoted string as Loki's label and LogQL parsers read it (Go escapes, UTF-8 kept)."""
    return json.dumps(value, ensure_ascii=False)


def selector(labels: Labels) -> str:
    """Labels as Loki's protobuf carries them and LogQL selects them: ``{a="1", b="x\\"y"}``, sorted."""
    if not labels:
        raise ValueError("a Loki stream needs at least one label")
    return "{" + ", ".join(f"{name}={quote(value)}" for name, value in sorted(labels.items())) + "}"


def push_request(streams: Sequence[tuple[Labels, Entries]]) -> Message:
    """A ``logproto.PushRequest``; each stream is (labels, [(unix_ns, line), ...])."""
    request: Any = message_class("logproto.PushRequest")()
    for labels, entries in streams:
        stream = request.streams.add(labels=selector(labels))
        for ts_ns, line in entries:
            seconds, nanos = divmod(ts_ns, _NS)
            entry = stream.entries.add(line=line)
            entry.timestamp.seconds, entry.timestamp.nanos = seconds, nanos
    return request


def encode(streams: Sequence[tuple[Labels, Entries]]) -> bytes:
    """The HTTP body Loki expects: the serialized PushRequest, snappy block-compressed."""
    return bytes(snappy.compress(push_request(streams).SerializeToString()))


def decode(body: bytes) -> list[tuple[str, list[tuple[int, str]]]]:
    """Inverse of ``encode`` (for self-tests): [(selector, [(unix_ns, line), ...]), ...]."""
    request: Any = message_class("logproto.PushRequest")()
    request.ParseFromString(snappy.uncompress(body))
    return [(s.labels, [(e.timestamp.seconds * _NS + e.timestamp.nanos, e.line) for e in s.entries])
            for s in request.streams]
