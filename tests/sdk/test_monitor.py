"""MachineMonitor reading this machine with psutil; NVML through a stand-in."""

from __future__ import annotations

import importlib.util
import os
import threading
import time
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from arno.sdk._monitor import MachineMonitor

BASE_KEYS = {
    "cpu_usage",
    "memory_used_gb",
    "memory_usage",
    "disk_free_percent",
    "process_memory_gb",
    "network_rx_mbs",
    "network_tx_mbs",
}
DISK_IO_KEYS = {"disk_read_mbs", "disk_write_mbs"}


def expected_keys() -> set[str]:
    # Some containers expose no block-device counters; the monitor then omits the rates.
    return BASE_KEYS | (DISK_IO_KEYS if psutil.disk_io_counters() is not None else set())


def test_sample_has_sane_values(tmp_path: Any) -> None:
    monitor = MachineMonitor(lambda stats: None, use_gpu=False)
    # Make some work so the rates have something to measure.
    (tmp_path / "blob").write_bytes(os.urandom(1 << 20))
    sum(i * i for i in range(200_000))
    stats = monitor.sample()

    assert set(stats) == expected_keys()
    assert all(isinstance(value, float) for value in stats.values())
    assert 0.0 <= stats["cpu_usage"] <= 100.0
    assert 0.0 <= stats["memory_usage"] <= 100.0
    assert 0.0 <= stats["disk_free_percent"] <= 100.0
    total_gb = psutil.virtual_memory().total / 2**30
    assert 0.0 < stats["memory_used_gb"] <= total_gb
    assert 0.0 < stats["process_memory_gb"] <= total_gb
    for key in stats.keys() & (DISK_IO_KEYS | {"network_rx_mbs", "network_tx_mbs"}):
        assert stats[key] >= 0.0
    assert not any(key.startswith("gpu_") for key in stats)


def test_process_memory_includes_what_we_allocate() -> None:
    monitor = MachineMonitor(lambda stats: None, use_gpu=False)
    before = monitor.sample()["process_memory_gb"]
    ballast = bytearray(200 * 2**20)
    ballast[::4096] = b"\x01" * len(ballast[::4096])  # touch every page
    after = monitor.sample()["process_memory_gb"]
    assert after - before > 0.15
    del ballast


def test_thread_reports_periodically_and_stops_quickly() -> None:
    reports: list[dict[str, float]] = []
    enough = threading.Event()

    def report(stats: dict[str, float]) -> None:
        reports.append(stats)
        if len(reports) >= 2:
            enough.set()

    monitor = MachineMonitor(report, interval=0.1, use_gpu=False)
    monitor.start()
    monitor.start()  # second start is a no-op
    assert monitor.running
    assert enough.wait(5.0)
    thread = monitor._thread
    assert thread is not None
    monitor.stop(timeout=60)  # returns as soon as the thread has ended
    assert not thread.is_alive()  # the thread ended (it does not run out its interval)
    assert not monitor.running
    count = len(reports)
    time.sleep(0.3)
    assert len(reports) == count  # nothing after stop
    assert all(set(stats) == expected_keys() for stats in reports)
    monitor.stop()  # idempotent


def test_a_failing_report_does_not_kill_the_thread() -> None:
    calls = threading.Semaphore(0)

    def report(stats: dict[str, float]) -> None:
        calls.release()
        raise RuntimeError("server away")

    with MachineMonitor(report, interval=0.05, use_gpu=False) as monitor:
        assert calls.acquire(timeout=5.0) and calls.acquire(timeout=5.0)
        assert monitor.running
    assert not monitor.running


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        MachineMonitor(lambda stats: None, interval=0)


# -- GPUs ---------------------------------------------------------------------------------
# This machine has no GPU, so the tests below hand the monitor a small stand-in for the
# NVML module (the same function names pynvml exposes) instead of the real library.


def fake_nvml(*, fail_init: bool = False, broken_temperature: int | None = None) -> Any:
    state = {"init": 0, "shutdown": 0}
    devices = [
        {"util": 87, "used": 3 * 2**30, "temp": 65},
        {"util": 5, "used": 2**29, "temp": 41},
    ]

    def nvml_init() -> None:
        if fail_init:
            raise RuntimeError("NVML Shared Library Not Found")
        state["init"] += 1

    def temperature(handle: int, sensor: int) -> int:
        assert sensor == 0
        if handle == broken_temperature:
            raise RuntimeError("Not Supported")
        return int(devices[handle]["temp"])

    def shutdown() -> None:
        state["shutdown"] += 1

    return SimpleNamespace(
        state=state,
        NVML_TEMPERATURE_GPU=0,
        nvmlInit=nvml_init,
        nvmlShutdown=shutdown,
        nvmlDeviceGetCount=lambda: len(devices),
        nvmlDeviceGetHandleByIndex=lambda index: index,
        nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=devices[h]["util"], memory=0),
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(used=devices[h]["used"], total=2**34),
        nvmlDeviceGetTemperature=temperature,
    )


def test_gpu_statistics_from_nvml() -> None:
    nvml = fake_nvml()
    monitor = MachineMonitor(lambda stats: None, nvml=nvml)
    stats = monitor.sample()
    assert set(stats) == expected_keys() | {
        "gpu_0_utilization",
        "gpu_0_mem_used_gb",
        "gpu_0_temperature",
        "gpu_1_utilization",
        "gpu_1_mem_used_gb",
        "gpu_1_temperature",
    }
    assert stats["gpu_0_utilization"] == 87.0
    assert stats["gpu_0_mem_used_gb"] == 3.0
    assert stats["gpu_1_mem_used_gb"] == 0.5
    assert stats["gpu_1_temperature"] == 41.0
    monitor.sample()
    assert nvml.state["init"] == 1  # initialised once, not per sample
    monitor.stop()
    assert nvml.state["shutdown"] == 1


def test_gpu_subset_and_a_failing_sensor() -> None:
    monitor = MachineMonitor(
        lambda stats: None, nvml=fake_nvml(broken_temperature=1), gpu_indices=[1, 7]
    )
    gpu_keys = {key for key in monitor.sample() if key.startswith("gpu_")}
    assert gpu_keys == {"gpu_1_utilization", "gpu_1_mem_used_gb"}


def test_nvml_that_fails_to_initialise_is_ignored() -> None:
    monitor = MachineMonitor(lambda stats: None, nvml=fake_nvml(fail_init=True))
    assert set(monitor.sample()) == expected_keys()
    monitor.stop()


@pytest.mark.skipif(importlib.util.find_spec("pynvml") is not None, reason="pynvml installed")
def test_without_pynvml_installed_there_are_no_gpu_keys() -> None:
    # The real default path on a machine without NVML.
    stats = MachineMonitor(lambda stats: None).sample()
    assert not any(key.startswith("gpu_") for key in stats)
