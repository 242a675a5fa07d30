"""What every benchmark report starts with (the machine) and how it is published (printed and
written to benchmarks/reports/)."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path


def cpu_model() -> str:
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown CPU"


def memory_gib() -> float:
    with open("/proc/meminfo") as info:
        for line in info:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    return 0.0


def machine() -> str:
    """One line naming the CPU, its cores, the RAM and the OS, for a report's header."""
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {memory_gib():.0f} GiB RAM, {platform.platform()}"
    )


def header(title: str) -> str:
    """The report's title, then the machine, the command that made it and when."""
    script = Path(sys.argv[0]).resolve().relative_to(Path(__file__).resolve().parents[1])
    command = " ".join(["python", str(script), *sys.argv[1:]])
    return (
        f"# {title}\n\n"
        f"- machine: {machine()}\n"
        f"- command: `{command}`\n"
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
    )


def publish(report: str, path: str | Path) -> None:
    print(report)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(report)
