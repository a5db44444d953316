"""Machine statistics sampled in a background thread while a task runs.

``MachineMonitor`` reads CPU, memory, disk, network and process memory with psutil and,
when NVML (the ``pynvml`` module of ``nvidia-ml-py``) imports and initialises, per-GPU
utilisation, memory and temperature.  Every ``interval`` seconds it passes one flat
``{name: float}`` dict to a callback; sending it anywhere is the caller's business.

Units: percentages are 0-100, sizes are GiB (2**30 bytes) and rates are MiB/s (2**20
bytes per second) averaged since the previous sample.  A statistic the platform cannot
provide is left out of the dict rather than reported as zero.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import psutil

__all__ = ["MachineMonitor"]

_GIB = float(1 << 30)
_MIB = float(1 << 20)


def _import_nvml() -> Any | None:
    try:
        import pynvml  # type: ignore[import-not-found, unused-ignore]
    except Exception:
        return None
    return pynvml


def _cpu_totals(times: Any) -> tuple[float, float]:
    """``(total, busy)`` CPU seconds from ``psutil.cpu_times()``."""
    fields: dict[str, float] = times._asdict()
    # guest time is already counted in user time on Linux
    total = sum(fields.values()) - fields.get("guest", 0.0) - fields.get("guest_nice", 0.0)
    idle = fields.get("idle", 0.0) + fields.get("iowait", 0.0)
    return total, total - idle


def _is_loopback(nic: str) -> bool:
    lowered = nic.lower()
    return lowered == "lo" or lowered.startswith("lo0") or "loopback" in lowered


class _Counters:
    """Cumulative counters read at one instant, for rate computations."""

    def __init__(self) -> None:
        self.at = time.monotonic()
        self.cpu: tuple[float, float] | None = None
        self.disk: tuple[int, int] | None = None
        self.net: tuple[int, int] | None = None
        try:
            self.cpu = _cpu_totals(psutil.cpu_times())
        except Exception:
            pass
        try:
            disk = psutil.disk_io_counters()
            if disk is not None:
                self.disk = (disk.read_bytes, disk.write_bytes)
        except Exception:
            pass
        try:
            nics = psutil.net_io_counters(pernic=True)
            received = sent = 0
            for nic, counters in nics.items():
                if not _is_loopback(nic):
                    received += counters.bytes_recv
                    sent += counters.bytes_sent
            self.net = (received, sent)
        except Exception:
            pass


def _rate(now: tuple[int, int] | None, before: tuple[int, int] | None, seconds: float) -> Any:
    if now is None or before is None or seconds <= 0:
        return None
    # counters can wrap or reset (a disk detached): never report a negative rate
    return tuple(max(0, a - b) / _MIB / seconds for a, b in zip(now, before, strict=True))


class MachineMonitor:
    """Sample machine statistics now (``sample()``) or periodically (``start()``).

    ``report`` is called from a daemon thread every ``interval`` seconds; its exceptions are
    swallowed.  ``nvml`` is the NVML module to use (default: ``import pynvml`` if available);
    ``gpu_indices`` restricts which NVML devices are reported (default: all);
    ``disk_path`` chooses the file system for ``disk_free_percent`` (default: the current
    working directory's).
    """

    def __init__(
        self,
        report: Callable[[dict[str, float]], None],
        interval: float = 30.0,
        *,
        nvml: Any | None = None,
        use_gpu: bool = True,
        gpu_indices: Sequence[int] | None = None,
        disk_path: str | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self._report = report
        self.interval = interval
        self._nvml: Any = nvml
        self._use_gpu = use_gpu
        self._gpu_indices = list(gpu_indices) if gpu_indices is not None else None
        self._disk_path = disk_path
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._gpus: list[tuple[int, Any]] | None = None  # None: NVML not tried yet
        self._nvml_ready = False
        self._process = psutil.Process(os.getpid())
        self._last = _Counters()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reporting thread (does nothing if it is running)."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run, args=(self._stop,), name="arno-machine-monitor", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread, wait at most ``timeout`` seconds for it, release NVML."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        with self._lock:
            if self._nvml_ready:
                try:
                    self._nvml.nvmlShutdown()
                except Exception:
                    pass
                self._nvml_ready = False
            self._gpus = None

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def __enter__(self) -> MachineMonitor:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.interval):
            try:
                stats = self.sample()
            except Exception:
                continue
            if stop.is_set():
                break
            try:
                self._report(stats)
            except Exception:
                pass

    # -- sampling ----------------------------------------------------------------------------

    def sample(self) -> dict[str, float]:
        """One reading now; rates cover the time since the previous reading."""
        with self._lock:
            stats: dict[str, float] = {}
            now = _Counters()
            before, self._last = self._last, now
            seconds = now.at - before.at
            self._sample_cpu(stats, now, before)
            self._sample_memory(stats)
            self._sample_disk(stats, now, before, seconds)
            self._sample_gpus(stats)
            return stats

    def _sample_cpu(self, stats: dict[str, float], now: _Counters, before: _Counters) -> None:
        if now.cpu is None or before.cpu is None:
            return
        total = now.cpu[0] - before.cpu[0]
        busy = now.cpu[1] - before.cpu[1]
        if total > 0:
            stats["cpu_usage"] = min(100.0, max(0.0, 100.0 * busy / total))
        else:  # sampled twice within one clock tick: fall back to psutil's own figure
            try:
                stats["cpu_usage"] = float(psutil.cpu_percent(interval=None))
            except Exception:
                pass

    def _sample_memory(self, stats: dict[str, float]) -> None:
        try:
            memory = psutil.virtual_memory()
            stats["memory_used_gb"] = (memory.total - memory.available) / _GIB
            stats["memory_usage"] = float(memory.percent)
        except Exception:
            pass
        try:
            rss = self._process.memory_info().rss
            for child in self._process.children(recursive=True):
                try:
                    rss += child.memory_info().rss
                except psutil.Error:
                    pass
            stats["process_memory_gb"] = rss / _GIB
        except Exception:
            pass

    def _sample_disk(
        self, stats: dict[str, float], now: _Counters, before: _Counters, seconds: float
    ) -> None:
        try:
            path = self._disk_path or os.getcwd()
        except OSError:  # the working directory was removed
            path = os.path.abspath(os.sep)
        try:
            usage = psutil.disk_usage(path)
            if usage.total:
                stats["disk_free_percent"] = 100.0 * usage.free / usage.total
        except Exception:
            pass
        disk = _rate(now.disk, before.disk, seconds)
        if disk is not None:
            stats["disk_read_mbs"], stats["disk_write_mbs"] = disk
        net = _rate(now.net, before.net, seconds)
        if net is not None:
            stats["network_rx_mbs"], stats["network_tx_mbs"] = net

    def _gpu_handles(self) -> list[tuple[int, Any]]:
        if self._gpus is not None:
            return self._gpus
        self._gpus = []
        if not self._use_gpu:
            return self._gpus
        if self._nvml is None:
            self._nvml = _import_nvml()
        nvml = self._nvml
        if nvml is None:
            return self._gpus
        try:
            nvml.nvmlInit()
            self._nvml_ready = True
            count = int(nvml.nvmlDeviceGetCount())
            indices = range(count) if self._gpu_indices is None else self._gpu_indices
            for index in indices:
                if 0 <= index < count:
                    self._gpus.append((index, nvml.nvmlDeviceGetHandleByIndex(index)))
        except Exception:  # no driver, no device, old library: no GPU statistics
            self._gpus = []
        return self._gpus

    def _sample_gpus(self, stats: dict[str, float]) -> None:
        handles = self._gpu_handles()
        if not handles:
            return
        nvml = self._nvml
        for index, handle in handles:
            prefix = f"gpu_{index}_"
            try:
                rates = nvml.nvmlDeviceGetUtilizationRates(handle)
                stats[prefix + "utilization"] = float(rates.gpu)
            except Exception:
                pass
            try:
                memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                stats[prefix + "mem_used_gb"] = float(memory.used) / _GIB
            except Exception:
                pass
            try:
                sensor = getattr(nvml, "NVML_TEMPERATURE_GPU", 0)
                stats[prefix + "temperature"] = float(nvml.nvmlDeviceGetTemperature(handle, sensor))
            except Exception:
                pass
