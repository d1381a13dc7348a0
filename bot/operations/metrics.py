"""Prometheus metrics: counters kept by the code, gauges read from the database at scrape time.

Counters and the latency histogram count what this process did (events received and
processed, replies sent and failed per channel, provider errors by code, timers fired, upload
bytes and files, inspection failures, inbox sign-ins). With `intake-bot run --workers N` the
processes write them to files in one folder (`PROMETHEUS_MULTIPROC_DIR`, set by the command
line before the workers start) and a scrape of any process adds all of them up.

What is *waiting* (outbox rows pending or held per channel, timers due) is read from the
database when scraped: it is the same for every worker, so it is never summed twice.

`prometheus_client` chooses between in-process and multiprocess values when it is imported,
from `PROMETHEUS_MULTIPROC_DIR`; so it is imported on first use, after the command line has
set that variable, not when this module is imported.
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Metrics:
    """The process's counters (labelled; children are created on first use)."""

    inbound_received: Any
    inbound_processed: Any
    processing_seconds: Any
    outbox_sent: Any
    outbox_failed: Any
    provider_errors: Any
    timers_fired: Any
    upload_bytes: Any
    upload_files: Any
    inspection_failures: Any
    sign_ins: Any


@functools.cache
def metrics() -> Metrics:
    """The counters, created once, after `PROMETHEUS_MULTIPROC_DIR` is known."""
    from prometheus_client import Counter, Histogram

    return Metrics(
        inbound_received=Counter(
            "intake_inbound_received", "Inbound events stored, by channel and novelty",
            ["channel", "duplicate"]),
        inbound_processed=Counter(
            "intake_inbound_processed", "Inbound events processed, by outcome", ["outcome"]),
        processing_seconds=Histogram(
            "intake_inbound_processing_seconds",
            "Time from an event's receipt to its processing committed", ["channel"],
            buckets=LATENCY_BUCKETS),
        outbox_sent=Counter(
            "intake_outbox_sent", "Replies handed to the provider, by channel", ["channel"]),
        outbox_failed=Counter(
            "intake_outbox_failed", "Replies given up (permanent failure), by channel",
            ["channel"]),
        provider_errors=Counter(
            "intake_provider_errors", "Failed provider calls, by channel and error code",
            ["channel", "code"]),
        timers_fired=Counter("intake_timers_fired", "Reminders and alerts fired", ["kind"]),
        upload_bytes=Counter("intake_upload_bytes", "Bytes received for cases", ["source"]),
        upload_files=Counter("intake_upload_files", "Files stored for cases", ["source"]),
        inspection_failures=Counter(
            "intake_inspection_failures", "Files refused or reported by inspection",
            ["reason"]),
        sign_ins=Counter("intake_inbox_sign_ins", "Inbox sign-in attempts", ["outcome"]),
    )


def prepare_multiprocess(data_dir: Path) -> Path:
    """Before starting several workers: an empty folder for their metric files."""
    folder = Path(data_dir) / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, mode=0o700)
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder
