"""Push bodies built once and re-stamped: what Loki decodes is what the template says (no container)."""

from __future__ import annotations

import json
import random
import statistics

import pytest

from obsgate.checks.logs import RUN_LABEL
from obsgate.clients.logproto import decode, selector
from obsgate.load.payloads import (
    MAX_LINES_PER_STREAM,
    NS,
    TICK_MAX,
    TICK_MIN,
    Cardinality,
    FormatMix,
    LineSizes,
    PayloadOptions,
    Tick,
    TickClock,
    build_user_payloads,
    json_template,
    owned_streams,
    pos_line,
    protobuf_stamp,
    protobuf_template,
)

NOW = 1_717_000_000_523_456_789
STREAMS = [({"service": "pos-backend", "gate_run": "r1"}, ["one", 'two "quoted"\nand a newline', "three"]),
           ({"service": "pos-frontend", "gate_run": "r1"}, ["ünïcode ✓"])]


def _json_entries(body: bytes) -> list[tuple[str, list[tuple[int, str]]]]:
    return [(selector(s["stream"]), [(int(ts), line) for ts, line in s["values"]])
            for s in json.loads(body)["streams"]]


def test_json_body_carries_every_line_at_base_plus_index() -> None:
    tick = Tick.at(NOW)
    entries = _json_entries(json_template(STREAMS).body(tick))
    assert entries == [(selector(labels), [(tick.base_ns + k, line) for k, line in enumerate(lines)])
                       for labels, lines in STREAMS]


def test_protobuf_body_decodes_to_the_same_streams_as_json() -> None:
    tick = Tick.at(NOW)
    assert decode(protobuf_template(STREAMS).body(tick)) == _json_entries(json_template(STREAMS).body(tick))


@pytest.mark.parametrize("m", [TICK_MIN, 200, TICK_MAX])
def test_protobuf_stamp_is_a_canonical_fixed_width_varint(m: int) -> None:
    stamp = protobuf_stamp(Tick(NOW // NS, m))
    assert len(stamp) == 9 and stamp[3] == 0x08
    assert stamp[2] != 0 and stamp[2] < 0x80          # last nanos byte: no continuation, not a padding zero
    assert stamp[-1] != 0 and stamp[-1] < 0x80        # same for seconds


def test_templates_count_lines_and_loki_bytes() -> None:
    for template in (json_template(STREAMS), protobuf_template(STREAMS)):
        assert template.lines == 4
        assert template.line_bytes == sum(len(line.encode()) for _, lines in STREAMS for line in lines)


def test_tick_clock_only_moves_forward_and_never_before_the_wall_clock() -> None:
    clock = TickClock()
    ticks = [clock.tick(NOW) for _ in range(3 * (TICK_MAX - TICK_MIN))]   # the same instant, again and again
    assert all(a < b for a, b in zip(ticks, ticks[1:], strict=False))
    assert ticks[-1].sec > NOW // NS                                       # carried into the next second
    assert ticks[0].base_ns <= NOW < ticks[0].base_ns + 2_048_000
    assert clock.tick(NOW - 10 * NS) > ticks[-1]                           # a clock step back changes nothing
    early = Tick.at(NOW // NS * NS + 1000)                                 # the first 270 ms map to TICK_MIN
    assert early.m == TICK_MIN and early.base_ns - (NOW // NS * NS) < 0.3 * NS


def test_consecutive_requests_of_a_user_are_in_order_per_stream() -> None:
    payloads = build_user_payloads(PayloadOptions(lines_per_request=60, streams_per_request=3, variants=2),
                                   owner=0, process_tag="p", run_tag="r")
    clock, last = TickClock(), {}
    for i in range(6):
        template = payloads.templates["protobuf" if i % 2 else "json"][i % 2]
        body = template.body(clock.tick(NOW))
        streams = decode(body) if template.fmt == "protobuf" else _json_entries(body)
        for name, entries in streams:
            stamps = [ts for ts, _ in entries]
            assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
            assert stamps[0] > last.get(name, 0)
            last[name] = stamps[-1]


def test_owners_never_share_a_stream_even_past_the_universe() -> None:
    cardinality = Cardinality(stores=2, terminals=2, services=2, levels=2)      # 16 streams
    seen: set[str] = set()
    for owner in range(5):                                                      # 5 x 7 = 35 > 16
        for labels in owned_streams(cardinality, owner, 7, "proc", "run"):
            assert labels[RUN_LABEL] == "run"
            key = selector(labels)
            assert key not in seen
            seen.add(key)
    assert len({selector({k: v for k, v in json.loads(json.dumps(lb)).items() if k != "loadgen"})
                for lb in owned_streams(cardinality, 0, 16, "p", "r")}) == 16   # one lap covers every stream


def test_line_sizes_follow_the_distribution() -> None:
    sizes, rng = LineSizes(200, 2048, 1024), random.Random(1)
    draws = [sizes.draw(rng) for _ in range(20000)]
    assert min(draws) >= 200 and max(draws) <= 2048
    assert abs(statistics.mean(draws) - 1024) < 15
    labels = {"service": "pos-backend", "location": "STORE_001", "terminal": "T-001-01", "level": "info",
              "environment": "production"}
    lines = [pos_line(rng, labels, size, 0.0) for size in draws[:500]]
    assert all(len(line) == size for line, size in zip(lines, draws, strict=False) if size >= 450)
    assert all(json.loads(line)["locationId"] == "STORE_001" for line in lines)


def test_error_streams_carry_raw_multi_line_stack_traces() -> None:
    labels = {"service": "pos-backend", "location": "STORE_001", "terminal": "T-001-01", "level": "error",
              "environment": "production"}
    line = pos_line(random.Random(2), labels, 600, stack_trace_ratio=1.0)
    assert "\n    at " in line and not line.startswith("{")


@pytest.mark.parametrize("sizes, problem", [
    (LineSizes(0, 100, 50), "0 < min <= mean <= max"),
    (LineSizes(200, 2048, 250), "not reachable"),
    (LineSizes(500, 400, 450), "0 < min <= mean <= max"),
])
def test_impossible_line_sizes_are_refused(sizes: LineSizes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        sizes.validate()


@pytest.mark.parametrize("options, problem", [
    (PayloadOptions(lines_per_request=5, streams_per_request=10), "at least the streams per request"),
    (PayloadOptions(lines_per_request=MAX_LINES_PER_STREAM * 2 + 1, streams_per_request=2), "raise streams per request"),
    (PayloadOptions(protobuf_ratio=1.5), "protobuf ratio must be between 0 and 1"),
    (PayloadOptions(cardinality=Cardinality(stores=0)), "stores must be between 1"),
])
def test_impossible_payloads_are_refused(options: PayloadOptions, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        options.validate()


@pytest.mark.parametrize("ratio", [0.0, 0.25, 0.5, 1.0])
def test_format_mix_hits_the_ratio_exactly(ratio: float) -> None:
    mix = FormatMix(ratio)
    formats = [mix.next() for _ in range(400)]
    assert formats.count("protobuf") == 400 * ratio


def test_only_the_formats_in_use_are_built() -> None:
    payloads = build_user_payloads(PayloadOptions(lines_per_request=10, streams_per_request=1, protobuf_ratio=0.0,
                                                  variants=1), 0, "p", "r")
    assert payloads.formats_needed() == ("json",)
