"""Recordings written as a user's devices write them: Sensor Logger exports (a folder or a zip holding
``TotalAcceleration.csv``), zip bombs of one, and the ``device,timestamp,x,y,z`` lines ``flowfm-edge stream`` reads (with one endless line in them).

Shared by the hostile-input tests and the memory benchmark (``benchmarks.perf.hostile_memory``).

>>> csv_text(0.02).splitlines()[0]
'time,seconds_elapsed,z,y,x'
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

G = 9.80665
T0 = 1_700_000_000_000_000_000  # Sensor Logger's clock: UNIX ns


def csv_text(seconds: float = 21, rate: int = 100, amp: float = 2.0) -> str:
    """A Sensor Logger TotalAcceleration.csv in m/s^2: gravity on x, a 1 Hz swing of ``amp`` on y."""
    t = np.arange(int(seconds * rate)) / rate
    rows = [f"{T0 + int(round(s * 1e9))},{s:.4f},0.0,{amp * np.sin(2 * np.pi * s):.5f},{G:.5f}" for s in t]
    return "time,seconds_elapsed,z,y,x\n" + "\n".join(rows) + "\n"


def recording(folder: Path, text: str | None = None) -> Path:
    """A Sensor Logger export folder holding ``text`` (default :func:`csv_text`)."""
    folder.mkdir(parents=True)
    (folder / "TotalAcceleration.csv").write_text(text or csv_text())
    return folder


def zipped(path: Path, members: list[tuple[str, str]]) -> Path:
    """A zip of ``(name, text)`` members, deflated."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in members:
            z.writestr(name, text)
    return path


def bomb(path: Path, mb: int) -> Path:
    """A Sensor Logger zip whose CSV is one valid row repeated to ``mb`` MB: about 400:1."""
    row = f"{T0},0.0,0.0,0.0,{G}\n".encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("TotalAcceleration.csv", "w", force_zip64=True) as f:
            f.write(b"time,seconds_elapsed,z,y,x\n")
            block = row * ((1 << 20) // len(row))
            for _ in range(mb):
                f.write(block)
    return path


def sample_csv(X: np.ndarray, minutes: float = 1.0, devices: int = 4, t0: float = 1_700_000_000.0) -> str:
    """``device,timestamp,x,y,z`` lines at 30 Hz, each device replaying the windows ``X`` (N, 3, 300) in g."""
    lines = ["device,timestamp,x,y,z"]
    for i in range(int(minutes * 60 * 30)):
        for d in range(devices):
            w = X[(i // 300 + d) % len(X)][:, i % 300]
            lines.append(f"dev{d},{t0 + i / 30:.4f},{w[0]:.5f},{w[1]:.5f},{w[2]:.5f}")
    return "\n".join(lines) + "\n"


def with_long_line(base: Path, out: Path, mb: int) -> Path:
    """``base`` with one line of ``mb`` MB of digits inserted half-way."""
    raw = base.read_bytes()
    cut = raw.rfind(b"\n", 0, len(raw) // 2) + 1
    with open(out, "wb") as f:
        f.write(raw[:cut])
        for _ in range(mb):
            f.write(b"9" * (1 << 20))
        f.write(b"\n" + raw[cut:])
    return out
