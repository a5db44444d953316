"""What a worker's heartbeat says about its machine: CPU and memory (psutil), and per GPU its
utilisation and memory when NVML (``nvidia-ml-py``) and a driver are present."""

from __future__ import annotations

import threading
from typing import Any

import psutil

__all__ = ["MachineStats", "gpu_indices"]


class _Nvml:
    def __init__(self) -> None:
        self.lib: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            self.lib = pynvml
        except Exception:  # noqa: BLE001 - no package, no driver, no GPU: no GPU stats
            self.lib = None

    def count(self) -> int:
        if self.lib is None:
            return 0
        try:
            return int(self.lib.nvmlDeviceGetCount())
        except Exception:  # noqa: BLE001
            return 0

    def device(self, index: int) -> dict[str, Any] | None:
        nv = self.lib
        try:
            handle = nv.nvmlDeviceGetHandleByIndex(index)
            util = nv.nvmlDeviceGetUtilizationRates(handle)
            mem = nv.nvmlDeviceGetMemoryInfo(handle)
            out: dict[str, Any] = {
                "index": index,
                "utilization": float(util.gpu),
                "memory_used_mb": round(mem.used / 2**20, 1),
                "memory_total_mb": round(mem.total / 2**20, 1),
            }
            try:
                out["temperature"] = float(nv.nvmlDeviceGetTemperature(handle, 0))
            except Exception:  # noqa: BLE001
                pass
            return out
        except Exception:  # noqa: BLE001
            return None


_nvml: _Nvml | None = None
_nvml_lock = threading.Lock()


def _get_nvml() -> _Nvml:
    global _nvml
    with _nvml_lock:
        if _nvml is None:
            _nvml = _Nvml()
        return _nvml


def gpu_indices() -> list[str]:
    """The GPUs NVML sees, as strings ("0", "1" ...); empty without NVML."""
    return [str(i) for i in range(_get_nvml().count())]


class MachineStats:
    """Call ``sample()`` once per heartbeat; CPU percent is measured since the last call."""

    def __init__(self, gpus: list[str] | None = None) -> None:
        self.gpus = gpus
        psutil.cpu_percent(interval=None)  # start the measuring window

    def sample(self) -> dict[str, Any]:
        vm = psutil.virtual_memory()
        stats: dict[str, Any] = {
            "cpu_percent": psutil.cpu_percent(interval=None),
            "cpu_count": psutil.cpu_count() or 0,
            "memory_used_gb": round((vm.total - vm.available) / 2**30, 3),
            "memory_total_gb": round(vm.total / 2**30, 3),
            "memory_percent": vm.percent,
        }
        try:
            stats["load_1m"] = round(psutil.getloadavg()[0], 2)
        except (AttributeError, OSError):
            pass
        nvml = _get_nvml()
        if nvml.lib is not None:
            wanted = self.gpus if self.gpus is not None else gpu_indices()
            devices = [d for d in (nvml.device(int(g)) for g in wanted if g.isdigit()) if d]
            if devices:
                stats["gpus"] = devices
        return stats
