"""What Prometheus had scraped just before a crash, and whether its TSDB still has it after.

A scrape's samples all carry the scrape's timestamp, so "the series of job J that have a
sample at the last scrape's timestamp T" is a fingerprint of that scrape: counted before
the kill and again, at the same T, after the restart (the head block is rebuilt from the
WAL on the volume; samples still only in memory would be gone).
"""

from __future__ import annotations

from dataclasses import dataclass

from obsgate.clients import PrometheusAPI
from obsgate.core.wait import poll

FIRST_SCRAPE_TIMEOUT_S = 40.0   # scrape_interval 15s, first scrape offset up to one interval


@dataclass(frozen=True)
class Scrape:
    """One scrape of ``job``: its timestamp (s, ms precision as Prometheus keeps it) and its series count."""

    job: str
    at_s: float
    series: int


def series_at(api: PrometheusAPI, job: str, at_s: float) -> int:
    """How many series of ``job`` have a sample exactly at ``at_s`` (raw samples of the second up to it)."""
    result = api.query(f'{{job="{job}"}}[1s]', at_s)
    return len([series for series in result if any(round(ts, 3) == at_s for ts, _ in series.points)])


def last_scrape(api: PrometheusAPI, job: str) -> Scrape:
    """The latest completed scrape of ``job`` (waits for the first one)."""

    def probe() -> float | None:
        result = api.query(f'timestamp(up{{job="{job}"}})')
        return result[0].value if result else None

    at_s = poll(probe, timeout_s=FIRST_SCRAPE_TIMEOUT_S, what=f"a first scrape of job {job}", interval_s=0.5)
    return Scrape(job, round(at_s, 3), series_at(api, job, round(at_s, 3)))


def scrape_missing(api: PrometheusAPI, scrape: Scrape) -> str | None:
    """None while every series of ``scrape`` still has its sample; otherwise how many are left."""
    left = series_at(api, scrape.job, scrape.at_s)
    return None if left == scrape.series else f"{left} of {scrape.series} series of the scrape at {scrape.at_s} left"
