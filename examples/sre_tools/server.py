"""A small read-only SRE toolbox served over MCP stdio, used by the quickstart agent.

Every tool only reads: disk usage, load, memory, top processes (from /proc), and the tail of a log file under the
directories listed in SRE_LOG_DIRS (default: /var/log and ./logs). Run: `python examples/sre_tools/server.py`.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("sre-tools")

MAX_TAIL_LINES = 500


def _log_dirs() -> list[Path]:
    raw = os.environ.get("SRE_LOG_DIRS", "/var/log:./logs")
    return [Path(entry).resolve() for entry in raw.split(":") if entry]


def _existing(path: str) -> Path:
    """`path`, or its nearest parent that exists (the filesystem that would hold it)."""
    target = Path(path or "/").expanduser().absolute()
    while not target.exists() and target != target.parent:
        target = target.parent
    return target


@server.tool()
def disk_usage(path: str = "/") -> dict[str, object]:
    """Total, used and free space of the filesystem holding `path` (default "/", the root disk), in GiB and percent."""
    measured = _existing(path)
    usage = shutil.disk_usage(measured)
    gib = 1024**3
    return {
        "path": str(measured),
        "total_gib": round(usage.total / gib, 2),
        "used_gib": round(usage.used / gib, 2),
        "free_gib": round(usage.free / gib, 2),
        "used_percent": round(usage.used / usage.total * 100, 1) if usage.total else 0.0,
    }


@server.tool()
def load_average() -> dict[str, object]:
    """1, 5 and 15 minute load averages and the CPU count, to judge whether the host is saturated."""
    one, five, fifteen = (round(value, 2) for value in os.getloadavg())
    return {"one_minute": one, "five_minutes": five, "fifteen_minutes": fifteen, "cpu_count": os.cpu_count()}


@server.tool()
def memory_usage() -> dict[str, object]:
    """Memory and swap totals and availability from /proc/meminfo, in MiB."""
    fields: dict[str, int] = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, _, rest = line.partition(":")
        fields[key] = int(rest.split()[0]) if rest.split() else 0
    mib = 1024
    return {
        "total_mib": fields.get("MemTotal", 0) // mib,
        "available_mib": fields.get("MemAvailable", 0) // mib,
        "swap_total_mib": fields.get("SwapTotal", 0) // mib,
        "swap_free_mib": fields.get("SwapFree", 0) // mib,
    }


def _process_rows() -> list[dict[str, object]]:
    page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
    ticks = os.sysconf("SC_CLK_TCK")
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    rows: list[dict[str, object]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            name = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            cpu_seconds = (int(fields[11]) + int(fields[12])) / ticks
            age = max(uptime - int(fields[19]) / ticks, 1e-3)
            rss_mib = int(fields[21]) * page_kib / 1024
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
        rows.append(
            {
                "pid": int(entry.name),
                "name": name,
                "cpu_percent": round(cpu_seconds / age * 100, 1),
                "rss_mib": round(rss_mib, 1),
            }
        )
    return rows


@server.tool()
def top_processes(limit: int = 10, sort_by: str = "cpu") -> list[dict[str, object]]:
    """The busiest processes, by average CPU since start (`sort_by="cpu"`) or resident memory (`"memory"`)."""
    if sort_by not in ("cpu", "memory"):
        raise ToolError("sort_by must be 'cpu' or 'memory'")
    key = "cpu_percent" if sort_by == "cpu" else "rss_mib"
    rows = _process_rows()
    rows.sort(key=lambda row: float(row[key]), reverse=True)  # type: ignore[arg-type]
    return rows[: max(1, min(limit, 100))]


@server.tool()
def tail_log(path: str, lines: int = 50) -> str:
    """The last `lines` lines of a log file under one of the allowed log directories (SRE_LOG_DIRS)."""
    target = Path(path).resolve()
    allowed = _log_dirs()
    if not any(target.is_relative_to(base) for base in allowed):
        raise ToolError(f"{path} is outside the allowed log directories: {', '.join(map(str, allowed))}")
    if not target.is_file():
        raise ToolError(f"{path} is not a file")
    count = max(1, min(lines, MAX_TAIL_LINES))
    with target.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 256 * 1024))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-count:])


@server.tool()
def host_uptime() -> dict[str, object]:
    """Seconds since boot and the current time, to correlate incidents with restarts."""
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    return {"uptime_seconds": int(uptime), "now_unix": int(time.time())}


if __name__ == "__main__":
    server.run()
