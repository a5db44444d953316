"""TensorBoard's ``SummaryWriter`` (``torch.utils.tensorboard`` and ``tensorboardX``) mirrored
into the current task.

The writer keeps writing its own event files; each patched call then reports the same value
through the task's ``Logger`` (an in-memory queue). A tag ``"loss/train"`` becomes title
``"loss"``, series ``"train"``; a tag without ``/`` is both. ``global_step=None`` takes the
writer's own count of that tag's calls. ``add_scalar`` is the hot path: its wrapper does the
writer's work, three attribute reads, and one queue append.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from arno.sdk._frameworks import guarded, log
from arno.sdk._task import Task

HPARAMS_SECTION = "TB_hparams"
HISTOGRAM_BINS = 30

_quiet = 0
"""Above 0 while a patched call runs another patched one (add_hparams calls add_scalar)."""


def patch_torch_writer(module: Any) -> None:
    """``torch.utils.tensorboard.SummaryWriter``."""
    _patch_writer(module.SummaryWriter, "tensorboard")


def patch_tensorboardx(module: Any) -> None:
    """``tensorboardX.SummaryWriter``."""
    _patch_writer(module.SummaryWriter, "tensorboardx")


def split_tag(tag: str) -> tuple[str, str]:
    """``"loss/train"`` -> ("loss", "train"); ``"loss"`` -> ("loss", "loss")."""
    title, sep, series = str(tag).partition("/")
    if not sep or not title or not series:
        return str(tag), str(tag)
    return title, series


def _task_for(framework: str) -> Task | None:
    task = Task._current
    if task is None or task._closed or not task._frameworks.get(framework):
        return None
    return task


def _step(writer: Any, tag: str, global_step: Any) -> int:
    if global_step is not None:
        return int(global_step)
    counts: dict[str, int] | None = writer.__dict__.get("_arno_steps")
    if counts is None:
        counts = writer.__dict__["_arno_steps"] = {}
    step = counts.get(tag, -1) + 1
    counts[tag] = step
    return step


def _patch_writer(cls: type, framework: str) -> None:
    if getattr(cls, "_arno_patched", False):
        return
    cls._arno_patched = True  # type: ignore[attr-defined]
    cls.add_scalar = _wrap_scalar(cls.add_scalar, framework)  # type: ignore[attr-defined]
    for name, mirror in (("add_scalars", _scalars), ("add_histogram", _histogram),
                         ("add_image", _image), ("add_images", _images),
                         ("add_text", _text), ("add_hparams", _hparams)):
        original = getattr(cls, name, None)
        if original is not None:
            setattr(cls, name, _wrap_other(original, framework, name, mirror))


def _wrap_scalar(original: Callable[..., Any], framework: str) -> Callable[..., Any]:
    @functools.wraps(original)
    def add_scalar(self: Any, tag: str, scalar_value: Any, global_step: Any = None,
                   *args: Any, **kwargs: Any) -> Any:
        result = original(self, tag, scalar_value, global_step, *args, **kwargs)
        task = Task._current
        if (task is None or _quiet or task._closed or not task._frameworks.get(framework)
                or task._logger is None):
            return result
        try:
            title, sep, series = tag.partition("/")
            if not sep or not series or not title:
                title = series = tag
            task._logger.report_scalar(title, series, float(scalar_value),
                                       _step(self, tag, global_step))
        except Exception as exc:  # noqa: BLE001 - never the user's error
            log.warning("arno: a TensorBoard scalar was not recorded: %s", exc)
        return result

    return add_scalar


def _wrap_other(original: Callable[..., Any], framework: str, name: str,
                mirror: Callable[[Task, Any, dict[str, Any]], None]) -> Callable[..., Any]:
    signature = inspect.signature(original)

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        global _quiet
        _quiet += 1
        try:
            result = original(self, *args, **kwargs)
        finally:
            _quiet -= 1
        if _quiet:
            return result
        task = _task_for(framework)
        if task is not None and task._logger is not None:
            def record() -> None:
                bound = signature.bind(self, *args, **kwargs)
                bound.apply_defaults()
                mirror(task, self, dict(bound.arguments))

            guarded(f"TensorBoard's {name}", record)
        return result

    return wrapper


# ---- the mirrors --------------------------------------------------------------------------


def _numpy(value: Any) -> Any:
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    elif hasattr(value, "numpy") and not isinstance(value, np.ndarray):
        value = value.numpy()
    return np.asarray(value)


def _scalars(task: Task, writer: Any, a: dict[str, Any]) -> None:
    main = str(a["main_tag"])
    step = _step(writer, main, a.get("global_step"))
    values = {str(k): float(v) for k, v in dict(a["tag_scalar_dict"]).items()}
    task.get_logger().report_scalars(main, values, step)


def _histogram(task: Task, writer: Any, a: dict[str, Any]) -> None:
    import numpy as np

    tag = str(a["tag"])
    values = _numpy(a["values"]).astype(float).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
    centers = [float(x) for x in (edges[:-1] + edges[1:]) / 2]
    title, series = split_tag(tag)
    task.get_logger().report_histogram(title, series, [int(c) for c in counts],
                                       iteration=_step(writer, tag, a.get("global_step")),
                                       xlabels=[f"{c:.4g}" for c in centers])


def _hwc(array: Any, formats: str) -> Any:
    import numpy as np

    formats = formats.upper()
    if formats == "HW":
        return array
    if formats == "CHW":
        array = np.transpose(array, (1, 2, 0))
    elif formats != "HWC":
        raise ValueError(f"image data format {formats!r}")
    if array.shape[2] == 1:
        array = array[:, :, 0]
    return array


def _image(task: Task, writer: Any, a: dict[str, Any]) -> None:
    tag = str(a["tag"])
    array = _hwc(_numpy(a["img_tensor"]), str(a.get("dataformats") or "CHW"))
    title, series = split_tag(tag)
    task.get_logger().report_image(title, series, _step(writer, tag, a.get("global_step")),
                                   image=array)


def _images(task: Task, writer: Any, a: dict[str, Any]) -> None:
    import numpy as np

    tag = str(a["tag"])
    formats = str(a.get("dataformats") or "NCHW").upper()
    batch = _numpy(a["img_tensor"])
    if not formats.startswith("N") or batch.shape[0] == 0:
        raise ValueError(f"image batch data format {formats!r}")
    tiles = [_hwc(one, formats[1:]) for one in batch]
    title, series = split_tag(tag)
    task.get_logger().report_image(title, series, _step(writer, tag, a.get("global_step")),
                                   image=np.concatenate(tiles, axis=1))


def _text(task: Task, writer: Any, a: dict[str, Any]) -> None:
    tag = str(a["tag"])
    step = _step(writer, tag, a.get("global_step"))
    task.get_logger().report_text(f"{tag} [{step}]: {a['text_string']}", print_console=False)


def _hparams(task: Task, writer: Any, a: dict[str, Any]) -> None:
    hparams = dict(a.get("hparam_dict") or {})
    task.set_parameters({f"{HPARAMS_SECTION}/{k}":
                         (v if isinstance(v, str | int | float | bool) else str(v))
                         for k, v in hparams.items()})
    step = a.get("global_step")
    logger = task.get_logger()
    for tag, value in dict(a.get("metric_dict") or {}).items():
        title, series = split_tag(str(tag))
        logger.report_scalar(title, series, float(value), int(step or 0))
