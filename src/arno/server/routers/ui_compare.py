"""Comparing 2..N tasks: details and hyperparameters side by side, overlaid scalar charts, a
scalar table (with CSV export), parallel coordinates, debug samples at the same iteration."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from arno.core.errors import InvalidInput
from arno.core.floats import decode_float
from arno.server.deps import current_principal, get_services
from arno.server.ui.render import render
from arno.services.compare import Comparison, parse_ids
from arno.services.container import Services
from arno.services.principal import Principal

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]
Ids = Annotated[list[str], Query()]

TABS = [("details", "Details & hyperparameters"), ("scalars", "Scalars"),
        ("table", "Scalar table"), ("parallel", "Parallel coordinates"),
        ("samples", "Debug samples")]
COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
          "#7f7f7f", "#bcbd22", "#17becf"]


def _lower_is_better(metric: str, variant: str) -> bool:
    text = f"{metric} {variant}".lower()
    return any(w in text for w in ("loss", "err", "mae", "mse", "rmse", "time", "latency"))


def _best(cmp: Comparison) -> dict[tuple[str, str], int]:
    """Index of the task with the best last value of each series."""
    out = {}
    for metric, variant, values in cmp.metrics:
        if metric.startswith(":monitor:"):
            continue
        scored = [(decode_float(v["last"]), i) for i, v in enumerate(values) if v]
        scored = [(x, i) for x, i in scored if x == x]
        if len(scored) > 1:
            pick = min(scored) if _lower_is_better(metric, variant) else max(
                scored, key=lambda t: (t[0], -t[1]))
            out[(metric, variant)] = pick[1]
    return out


def _number(text: str | None) -> float | str | None:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _parallel(cmp: Comparison, params: list[str], metric: str) -> dict[str, Any]:
    dims = []
    for key in params:
        row = next((r for r in cmp.params if r.key == key), None)
        if row is None:
            continue
        dims.append({"label": key, "values": [_number(v) for v in row.values]})
    mvals: list[float | None] = []
    if metric:
        name, _, agg = metric.partition("|")
        m, _, v = name.rpartition("/")
        for vals in next((vals for mm, vv, vals in cmp.metrics if mm == m and vv == v),
                         [None] * len(cmp.tasks)):
            mvals.append(decode_float(vals[agg or "last"]) if vals else None)
    return {"dims": dims, "metric": metric, "metric_values": mvals,
            "names": [t.name for t in cmp.tasks]}


@router.get("/compare", response_class=HTMLResponse)
def compare_page(request: Request, svc: Svc, who: Who, ids: Ids = [],  # noqa: B006
                 tab: str = "details", p: Ids = [], m: str = "",  # noqa: B006
                 diff: str = "") -> Response:
    task_ids = parse_ids(ids)
    if not task_ids:
        raise InvalidInput("choose tasks to compare: select them in the experiment table")
    cmp = svc.compare.compare(task_ids)
    tabs = dict(TABS)
    tab = tab if tab in tabs else "details"
    ctx: dict[str, Any] = {
        "cmp": cmp, "ids": [t.id for t in cmp.tasks], "tab": tab, "tabs": TABS,
        "colors": COLORS, "only_diff": bool(diff), "section": "tasks",
        "task_refs": [{"id": t.id, "name": t.name, "color": COLORS[i % len(COLORS)]}
                      for i, t in enumerate(cmp.tasks)],
    }
    if tab == "table":
        ctx["best"] = _best(cmp)
    if tab == "parallel":
        param_keys = [r.key for r in cmp.params if not r.key.startswith("Configuration/")]
        metric_keys = [f"{mm}/{vv}|{agg}" for mm, vv, _ in cmp.metrics
                       for agg in ("last", "min", "max")]
        chosen = [k for k in p if k in param_keys] or [
            r.key for r in cmp.params if r.differs and not r.key.startswith("Configuration/")
        ][:6] or param_keys[:6]
        metric = m if m in metric_keys else (metric_keys[0] if metric_keys else "")
        ctx.update(param_keys=param_keys, metric_keys=metric_keys, chosen_params=chosen,
                   chosen_metric=metric, parallel=_parallel(cmp, chosen, metric))
    return render(request, "compare.html", **ctx)


@router.get("/compare/scalars.csv")
def compare_csv(svc: Svc, who: Who, ids: Ids = []) -> Response:  # noqa: B006
    text = svc.compare.scalars_csv(parse_ids(ids))
    return Response(text, media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": 'attachment; filename="scalars.csv"'})
