"""Push bodies laid out once and re-stamped per request: no per-line Python work on the hot path.

A load user owns a fixed set of streams (its labels) and a few body *templates* for them,
in Loki's JSON and protobuf+snappy formats. Everything in a template that changes from one
request to the next -- the request's time -- is cut out as one separator, so stamping a
request is a single C-level ``stamp.join(pieces)`` (plus one snappy call for protobuf).

Timestamps: line ``k`` (< ``MAX_LINES_PER_STREAM``) of a stream in a request is stamped
``base + k`` ns, where ``base`` is the request's *tick*: ``sec * 1e9 + m * TICK_NS`` with
``m`` in ``[TICK_MIN, TICK_MAX]``.

- JSON: ``base`` is a multiple of 1000, so the decimal timestamp is a 16-digit prefix shared by
  every line of the request (the separator) followed by the line's own 3 digits ``k``.
- protobuf: ``nanos = k + 2**14 * (125 * m)``: ``k`` fills the varint's first two 7-bit groups,
  the request's ``125 * m`` the last three (``m >= TICK_MIN`` keeps that 5-byte varint canonical).
  Each ``Timestamp`` is written nanos first, seconds second (protobuf fields may come in any
  order), so the request's bytes -- 3 nanos bytes and the whole seconds field -- are contiguous.

Ticks only grow (``TickClock``), so every stream's timestamps increase from request to
request and Loki never sees a line out of order. A tick can lead the wall clock by up to
``TICK_MIN * TICK_NS`` (0.27 s): far inside Loki's creation grace period.
"""

from __future__ import annotations

import itertools
import json
import random
import string
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import snappy

from obsgate.checks.logs import GATE_JOB, RUN_LABEL

Format = Literal["json", "protobuf"]
FORMATS: tuple[Format, ...] = ("json", "protobuf")
CONTENT_TYPES: dict[Format, str] = {"json": "application/json", "protobuf": "application/x-protobuf"}

NS = 1_000_000_000
TICK_NS = 2_048_000          # 125 * 2**14: a multiple of 1000 (JSON) and of 2**14 (protobuf)
TICK_MIN, TICK_MAX = 132, 488  # 125*132 >= 2**14 (5-byte nanos varint); 488 * TICK_NS + 16383 < 1e9
MAX_LINES_PER_STREAM = 1000  # k has three decimal digits in the JSON stamp
_SECONDS_MIN, _SECONDS_MAX = 1 << 28, 1 << 35  # a 5-byte seconds varint (years 1978..3058)

SERVICES = ("pos-backend", "pos-frontend")
LEVELS = ("info", "warn", "error", "debug")
ENVIRONMENT = "production"
LOADGEN_LABEL = "loadgen"


@dataclass(frozen=True, order=True)
class Tick:
    """A request's time: whole seconds and the 2.048 ms slot ``m`` inside that second."""

    sec: int
    m: int

    @classmethod
    def at(cls, now_ns: int) -> Tick:
        sec, frac = divmod(now_ns, NS)
        return cls(sec, max(TICK_MIN, frac // TICK_NS))

    @property
    def base_ns(self) -> int:
        return self.sec * NS + self.m * TICK_NS

    def next(self) -> Tick:
        return Tick(self.sec, self.m + 1) if self.m < TICK_MAX else Tick(self.sec + 1, TICK_MIN)


class TickClock:
    """Strictly increasing ticks for one owner of streams: never before the wall clock, never repeated."""

    def __init__(self) -> None:
        self.last: Tick | None = None

    def tick(self, now_ns: int) -> Tick:
        now = Tick.at(now_ns)
        tick = now if self.last is None or now > self.last else self.last.next()
        self.last = tick
        return tick


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def json_stamp(tick: Tick) -> bytes:
    """The 16 leading digits every JSON timestamp of a request shares."""
    prefix = str(tick.base_ns // 1000).encode()
    if len(prefix) != 16:
        raise ValueError(f"tick {tick} is outside the years the 19-digit JSON stamp covers")
    return prefix


def protobuf_stamp(tick: Tick) -> bytes:
    """The request's bytes inside every Timestamp: nanos' last 3 varint bytes, then the seconds field."""
    if not _SECONDS_MIN <= tick.sec < _SECONDS_MAX or not TICK_MIN <= tick.m <= TICK_MAX:
        raise ValueError(f"tick {tick} cannot be written with fixed-width varints")
    high = 125 * tick.m
    return bytes(((high & 0x7F) | 0x80, ((high >> 7) & 0x7F) | 0x80, high >> 14, 0x08)) + _varint(tick.sec)


def _k_bytes(k: int) -> bytes:
    """A line's own two (continued) low groups of the nanos varint."""
    return bytes(((k & 0x7F) | 0x80, ((k >> 7) & 0x7F) | 0x80))


# --- the streams: stores x terminals x service x level ----------------------------------------

@dataclass(frozen=True)
class Cardinality:
    """How many label values each dimension of the POS stream universe has."""

    stores: int = 100
    terminals: int = 4          # per store
    services: int = len(SERVICES)
    levels: int = len(LEVELS)

    def validate(self) -> None:
        for name, value, top in (("stores", self.stores, 9999), ("terminals", self.terminals, 99),
                                 ("services", self.services, len(SERVICES)), ("levels", self.levels, len(LEVELS))):
            if not 1 <= value <= top:
                raise ValueError(f"{name} must be between 1 and {top}, got {value}")

    @property
    def streams(self) -> int:
        return self.stores * self.terminals * self.services * self.levels


def stream_labels(cardinality: Cardinality, index: int) -> dict[str, str]:
    """The labels of stream ``index`` of the universe (wrapping around), in a spread-out order."""
    cardinality.validate()
    total = cardinality.streams
    # A fixed stride coprime with the total walks every stream once before repeating, mixing
    # stores, services and levels instead of filling one store first.
    stride = next(s for s in itertools.count(7919) if _gcd(s, total) == 1)
    i = (index * stride) % total
    i, level = divmod(i, cardinality.levels)
    i, service = divmod(i, cardinality.services)
    store, terminal = divmod(i, cardinality.terminals)
    return {"service": SERVICES[service], "location": f"STORE_{store + 1:03d}",
            "terminal": f"T-{store + 1:03d}-{terminal + 1:02d}", "level": LEVELS[level],
            "environment": ENVIRONMENT}


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def owned_streams(cardinality: Cardinality, owner: int, count: int, process_tag: str,
                  run_tag: str) -> list[dict[str, str]]:
    """The ``count`` streams owner number ``owner`` of a process pushes to, and nobody else does.

    Owners take consecutive slices of the universe; once it is used up, the ``loadgen`` label
    (process tag and lap) keeps later owners' streams apart, so no two owners share a stream.
    """
    first = owner * count
    streams = []
    for index in range(first, first + count):
        labels = stream_labels(cardinality, index)
        labels[LOADGEN_LABEL] = f"{process_tag}.{index // cardinality.streams}"
        labels.update(GATE_JOB)
        labels[RUN_LABEL] = run_tag
        streams.append(labels)
    return streams


# --- the lines: POS backend/frontend JSON, now and then a raw multi-line stack trace ----------

@dataclass(frozen=True)
class LineSizes:
    """Line sizes in bytes: a triangular distribution over [low, high] with the given mean."""

    low: int = 200
    high: int = 2048
    mean: int = 1024

    def validate(self) -> None:
        if not 0 < self.low <= self.mean <= self.high:
            raise ValueError(f"line sizes need 0 < min <= mean <= max, got min {self.low}, mean {self.mean}, "
                             f"max {self.high}")
        mode = 3 * self.mean - self.low - self.high
        if not self.low <= mode <= self.high:
            lo, hi = -(-(2 * self.low + self.high) // 3), (self.low + 2 * self.high) // 3
            raise ValueError(f"a mean of {self.mean} B is not reachable between {self.low} and {self.high} B "
                             f"(use a mean between {lo} and {hi})")

    def draw(self, rng: random.Random) -> int:
        return round(rng.triangular(self.low, self.high, 3 * self.mean - self.low - self.high))


_MESSAGES = {
    "info": ("Sale completed", "Payment authorized", "Receipt printed", "Item scanned", "Shift opened"),
    "warn": ("Printer paper low", "Slow payment gateway response", "Retrying card reader", "Price override"),
    "error": ("Payment failed", "Card reader disconnected", "Sync to HQ failed", "Receipt printer jammed"),
    "debug": ("Cart recalculated", "Barcode parsed", "Tax table cached", "Session refreshed"),
}
_ERRORS = (("PaymentDeclinedError", "Card declined"), ("DeviceTimeoutError", "card reader did not answer in 5000ms"),
           ("SyncError", "HQ answered 503"), ("TypeError", "Cannot read properties of undefined (reading 'sku')"))
_FRAMES = ("PaymentService.charge (/app/dist/payment/payment.service.js:88:19)",
           "async TransactionsController.checkout (/app/dist/transactions.controller.js:41:7)",
           "CardReader.read (/app/dist/devices/card-reader.js:132:11)",
           "SyncQueue.flush (/app/dist/sync/sync-queue.js:57:23)",
           "process.processTicksAndRejections (node:internal/process/task_queues:95:5)")
_FILLER = string.ascii_letters + string.digits + " -_"
# Padding is cut from one block of random text made once: drawing every character anew would
# make laying out a user's bodies take most of a second.
_FILLER_TEXT = "".join(random.Random(0).choices(_FILLER, k=1 << 16))


def _pad(rng: random.Random, size: int) -> str:
    start = rng.randrange(len(_FILLER_TEXT) - size) if size < len(_FILLER_TEXT) else 0
    return (_FILLER_TEXT * (1 + size // len(_FILLER_TEXT)))[start:start + size]


def _stack_trace(rng: random.Random, target: int) -> str:
    """A raw Node.js stack trace as a crashing process writes it to stderr: a multi-line log line."""
    name, message = rng.choice(_ERRORS)
    lines = [f"{name}: {message}"]
    while sum(len(x) + 1 for x in lines) < target:
        lines.append(f"    at {rng.choice(_FRAMES)}")
    return "\n".join(lines)[:max(target, len(lines[0]))]


def pos_line(rng: random.Random, labels: Mapping[str, str], target: int, stack_trace_ratio: float) -> str:
    """One log line shaped like the seed's POS backend (NestJS) or frontend logger, about ``target`` bytes."""
    level, store, terminal = labels["level"], labels["location"], labels["terminal"]
    if level == "error" and rng.random() < stack_trace_ratio:
        return _stack_trace(rng, target)
    fields: dict[str, object] = {"level": level, "message": rng.choice(_MESSAGES[level]),
                                 "timestamp": "2024-05-01T12:00:00.000Z", "locationId": store,
                                 "terminalId": terminal, "userId": f"U-{rng.randrange(1, 10000):04d}",
                                 "correlationId": f"{rng.getrandbits(128):032x}"}
    if labels["service"] == "pos-backend":
        fields.update(service="pos-backend", version="1.4.2", environment=labels["environment"],
                      hostname=f"pos-api-{store.lower()}", pid=rng.randrange(100, 30000))
    if level == "error":
        name, message = rng.choice(_ERRORS)
        fields["error"] = message
        fields["stack"] = f"{name}: {message}\n    at " + "\n    at ".join(rng.sample(_FRAMES, 2))
    line = json.dumps(fields)
    room = target - len(line) - len(', "detail": ""')
    if room > 0:
        fields["detail"] = _pad(rng, room)
        line = json.dumps(fields)
    return line


# --- templates ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Template:
    """One push body with the request's time cut out: ``stamp.join(pieces)`` is the body."""

    fmt: Format
    pieces: tuple[bytes, ...]
    lines: int
    line_bytes: int          # what Loki counts: the lines' own bytes (no labels, no framing)

    def body(self, tick: Tick) -> bytes:
        if self.fmt == "json":
            return json_stamp(tick).join(self.pieces)
        return bytes(snappy.compress(protobuf_stamp(tick).join(self.pieces)))


Stream = tuple[Mapping[str, str], Sequence[str]]


def _check_streams(streams: Sequence[Stream]) -> None:
    if not streams:
        raise ValueError("a push needs at least one stream")
    for labels, lines in streams:
        if not 1 <= len(lines) <= MAX_LINES_PER_STREAM:
            raise ValueError(f"each stream needs 1..{MAX_LINES_PER_STREAM} lines per request, got {len(lines)}")
        if not labels:
            raise ValueError("a Loki stream needs at least one label")


def json_template(streams: Sequence[Stream]) -> Template:
    """``{"streams":[{"stream":{...},"values":[["<stamp>kkk","line"],...]},...]}`` cut at every stamp."""
    _check_streams(streams)
    pieces: list[bytes] = []
    current = b'{"streams":['
    for s, (labels, lines) in enumerate(streams):
        current += (b"," if s else b"") + b'{"stream":' + json.dumps(dict(labels), separators=(",", ":")).encode() \
            + b',"values":[["'
        for k, line in enumerate(lines):
            pieces.append(current)
            current = f'{k:03d}",'.encode() + json.dumps(line).encode() + (b'],["' if k < len(lines) - 1 else b"]]}")
    pieces.append(current + b"]}")
    return Template("json", tuple(pieces), sum(len(lines) for _, lines in streams),
                    sum(len(line.encode()) for _, lines in streams for line in lines))


def _selector(labels: Mapping[str, str]) -> str:
    return "{" + ", ".join(f"{name}={json.dumps(value)}" for name, value in sorted(labels.items())) + "}"


def protobuf_template(streams: Sequence[Stream]) -> Template:
    """A serialized ``logproto.PushRequest`` (before snappy) cut at every Timestamp's per-request bytes."""
    _check_streams(streams)
    stamp_len = len(protobuf_stamp(Tick(_SECONDS_MIN, TICK_MIN)))
    pieces: list[bytes] = []
    current = bytearray()
    for labels, lines in streams:
        selector = _selector(labels).encode()
        entries = []
        for k, line in enumerate(lines):
            raw = line.encode()
            line_field = b"\x12" + _varint(len(raw)) + raw
            timestamp = 3 + stamp_len                # 0x10 k0 k1, then the stamp: 3 nanos bytes, 0x08, 5 seconds bytes
            inner = 2 + timestamp + len(line_field)  # 0x0a <len> timestamp, then the line field
            entries.append((b"\x12" + _varint(inner) + b"\x0a" + _varint(timestamp) + b"\x10" + _k_bytes(k),
                            line_field, inner))
        stream_len = 1 + len(_varint(len(selector))) + len(selector) + sum(
            1 + len(_varint(inner)) + inner for _, _, inner in entries)
        current += b"\x0a" + _varint(stream_len) + b"\x0a" + _varint(len(selector)) + selector
        for head, line_field, _ in entries:
            current += head
            pieces.append(bytes(current))
            current = bytearray(line_field)
    pieces.append(bytes(current))
    return Template("protobuf", tuple(pieces), sum(len(lines) for _, lines in streams),
                    sum(len(line.encode()) for _, lines in streams for line in lines))


@dataclass(frozen=True)
class PayloadOptions:
    """What one push looks like: its size, its streams and lines, and the formats' mix."""

    lines_per_request: int = 1000
    streams_per_request: int = 10
    protobuf_ratio: float = 0.5
    cardinality: Cardinality = Cardinality()
    sizes: LineSizes = LineSizes()
    stack_trace_ratio: float = 0.02
    variants: int = 4                # templates per format and user, cycled

    def validate(self) -> None:
        self.cardinality.validate()
        self.sizes.validate()
        if self.streams_per_request < 1:
            raise ValueError(f"streams per request must be >= 1, got {self.streams_per_request}")
        if self.lines_per_request < self.streams_per_request:
            raise ValueError(f"lines per request ({self.lines_per_request}) must be at least the streams per "
                             f"request ({self.streams_per_request}): every stream gets one line or more")
        if self.lines_per_request > MAX_LINES_PER_STREAM * self.streams_per_request:
            raise ValueError(f"lines per request ({self.lines_per_request}) over {MAX_LINES_PER_STREAM} per stream: "
                             f"raise streams per request to at least "
                             f"{-(-self.lines_per_request // MAX_LINES_PER_STREAM)}")
        for name, ratio in (("protobuf ratio", self.protobuf_ratio), ("stack trace ratio", self.stack_trace_ratio)):
            if not 0.0 <= ratio <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {ratio}")
        if self.variants < 1:
            raise ValueError(f"variants must be >= 1, got {self.variants}")


@dataclass(frozen=True)
class UserPayloads:
    """Everything one load user pushes: its templates per format, cycled, and its own clock."""

    streams: tuple[Mapping[str, str], ...]
    templates: dict[Format, tuple[Template, ...]]

    def formats_needed(self) -> tuple[Format, ...]:
        return tuple(f for f in FORMATS if self.templates[f])


def build_user_payloads(options: PayloadOptions, owner: int, process_tag: str, run_tag: str,
                        seed: int | None = None, pause: Callable[[], None] = lambda: None) -> UserPayloads:
    """Lay out the templates of load user ``owner`` (the slow part: once per user, before it pushes).

    ``pause`` is called between the pieces of work, so a cooperative caller (a gevent user
    spawning while others push) can let the others run instead of stalling them.
    """
    options.validate()
    rng = random.Random(seed if seed is not None else owner)
    streams = owned_streams(options.cardinality, owner, options.streams_per_request, process_tag, run_tag)
    share, extra = divmod(options.lines_per_request, len(streams))
    counts = [share + (i < extra) for i in range(len(streams))]
    wanted: dict[Format, bool] = {"json": options.protobuf_ratio < 1, "protobuf": options.protobuf_ratio > 0}
    formats = [f for f in FORMATS if wanted[f]]
    templates: dict[Format, list[Template]] = {"json": [], "protobuf": []}
    for _ in range(options.variants):
        content = []
        for labels, n in zip(streams, counts, strict=True):
            content.append((labels, [pos_line(rng, labels, options.sizes.draw(rng), options.stack_trace_ratio)
                                     for _ in range(n)]))
            pause()
        for fmt in formats:
            templates[fmt].append(json_template(content) if fmt == "json" else protobuf_template(content))
            pause()
    return UserPayloads(tuple(streams), {f: tuple(t) for f, t in templates.items()})


class FormatMix:
    """Which format the next request uses: exactly ``ratio`` protobuf over any run of requests."""

    def __init__(self, protobuf_ratio: float) -> None:
        self.ratio, self.credit = protobuf_ratio, 0.0

    def next(self) -> Format:
        self.credit += self.ratio
        if self.credit >= 1.0 - 1e-9:
            self.credit -= 1.0
            return "protobuf"
        return "json"
