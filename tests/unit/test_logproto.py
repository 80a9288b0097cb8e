"""Loki's protobuf push encoding, checked against the documented wire format (no container)."""

from __future__ import annotations

import httpx
import pytest
import snappy
from google.protobuf import descriptor_pool, timestamp_pb2

from obsgate.clients import Endpoint, LokiAPI, logproto

NS = 1_000_000_000


def test_wire_bytes_match_push_proto_field_numbers_and_types() -> None:
    # PushRequest{streams=1: StreamAdapter{labels=1: '{a="b"}', entries=2: EntryAdapter{
    #   timestamp=1: Timestamp{seconds=1: 1, nanos=2: 2}, line=2: "x"}}}; hash (3) = 0 is omitted.
    entry = bytes([0x0A, 0x04, 0x08, 0x01, 0x10, 0x02, 0x12, 0x01]) + b"x"
    stream = bytes([0x0A, 0x07]) + b'{a="b"}' + bytes([0x12, len(entry)]) + entry
    expected = bytes([0x0A, len(stream)]) + stream
    assert logproto.push_request([({"a": "b"}, [(1 * NS + 2, "x")])]).SerializeToString() == expected


def test_stream_hash_is_field_3_uint64() -> None:
    stream = logproto.message_class("logproto.StreamAdapter")(labels='{a="b"}', hash=2**64 - 1)
    assert stream.SerializeToString() == bytes([0x0A, 0x07]) + b'{a="b"}' + b"\x18" + b"\xff" * 9 + b"\x01"


@pytest.mark.parametrize("ts_ns", [0, 1, NS - 1, NS, 1_700_000_000_123_456_789])
def test_timestamp_encodes_like_the_well_known_type(ts_ns: int) -> None:
    ours = logproto.message_class("google.protobuf.Timestamp")()
    ours.seconds, ours.nanos = divmod(ts_ns, NS)
    reference = timestamp_pb2.Timestamp()
    reference.FromNanoseconds(ts_ns)
    assert ours.SerializeToString() == reference.SerializeToString()


def test_body_is_snappy_block_format_not_framed() -> None:
    body = logproto.encode([({"job": "pos"}, [(5, "line")])])
    assert not body.startswith(b"\xff\x06\x00\x00sNaPpY")        # the framing format's stream identifier
    assert snappy.uncompress(body) == logproto.push_request([({"job": "pos"}, [(5, "line")])]).SerializeToString()


def test_round_trip_keeps_labels_lines_and_nanoseconds() -> None:
    streams = [({"service": "pos-backend", "location": "STORE_1"},
                [(1_700_000_000_000_000_001, "café ✓ 🍷\nsecond line"), (1_700_000_000_000_000_002, "x" * 70_000)]),
               ({"q": 'a"b\\c'}, [(7, "")])]
    decoded = logproto.decode(logproto.encode(streams))
    assert decoded == [('{location="STORE_1", service="pos-backend"}', streams[0][1]), ('{q="a\\"b\\\\c"}', [(7, "")])]


def test_selector_quotes_like_go_and_sorts_names() -> None:
    assert logproto.selector({"b": "x\ny", "a": "é"}) == '{a="é", b="x\\ny"}'
    with pytest.raises(ValueError, match="at least one label"):
        logproto.selector({})


def test_declarations_stay_out_of_the_default_pool() -> None:
    logproto.message_class("logproto.PushRequest")
    with pytest.raises(KeyError):
        descriptor_pool.Default().FindMessageTypeByName("logproto.PushRequest")


def test_push_protobuf_posts_snappy_protobuf(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def loki(request: httpx.Request) -> httpx.Response:
        seen.update(path=request.url.path, type=request.headers["content-type"], body=request.content)
        return httpx.Response(204)

    real = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kw: real(transport=httpx.MockTransport(loki), **kw))
    api = LokiAPI(Endpoint(lambda: "http://loki.test"))
    assert api.push_protobuf([({"job": "pos"}, [(9, "hi")])]).status_code == 204
    assert seen["path"] == "/loki/api/v1/push" and seen["type"] == "application/x-protobuf"
    assert logproto.decode(seen["body"]) == [('{job="pos"}', [(9, "hi")])]  # type: ignore[arg-type]
