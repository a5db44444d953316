"""Arno's SDK offers every public name of ClearML's, with the same kind, parameter names and
defaults, or a written reason why not.

The table ``data/clearml_surface.json`` is extracted from ClearML's own signatures by
``tools/clearml_surface.py``; ``data/clearml_surface_reasons.toml`` holds the reasons, keyed
``"Task.get_by_name"`` (a member), ``"Task.init(deferred_init)"`` (a parameter Arno accepts through
``**kwargs`` and ignores), ``"UniformParameterRange.__init__(step_size)"`` (a constructor
parameter) or ``"Task.id (settable)"`` (a property Arno keeps read-only). A reason whose name now
exists in Arno is stale and fails too, so the file stays true.

Signatures only: no server, nothing but imports.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"
NOT_LITERAL = "<not a literal>"
POSITIONAL = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")


def load_table() -> dict[str, Any]:
    table: dict[str, Any] = json.loads((DATA / "clearml_surface.json").read_text())
    return table


def load_reasons() -> dict[str, str]:
    reasons: dict[str, str] = tomllib.loads((DATA / "clearml_surface_reasons.toml").read_text())
    return reasons


# ---- reading Arno's side ------------------------------------------------------------------------
def _raw(cls: type, name: str) -> Any:
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None


def kind_of(raw: Any) -> str:
    if isinstance(raw, classmethod):
        return "classmethod"
    if isinstance(raw, staticmethod):
        return "staticmethod"
    if isinstance(raw, property):
        return "property"
    if inspect.isroutine(raw):
        return "method"
    if inspect.isclass(raw):
        return "class"
    if hasattr(type(raw), "__get__") and not isinstance(raw, int | float | str | bytes | tuple):
        return "property"
    return "attribute"


def settable(raw: Any) -> bool:
    return raw.fset is not None if isinstance(raw, property) else hasattr(type(raw), "__set__")


def params_of(func: Any, drop_first: bool) -> list[inspect.Parameter] | None:
    try:
        params = list(inspect.signature(func).parameters.values())
    except (TypeError, ValueError):
        return None
    if drop_first and params and params[0].kind.name in POSITIONAL:
        params = params[1:]
    return params


def member_params(raw: Any) -> list[inspect.Parameter] | None:
    if isinstance(raw, classmethod):
        return params_of(raw.__func__, drop_first=True)
    if isinstance(raw, staticmethod):
        return params_of(raw.__func__, drop_first=False)
    return params_of(raw, drop_first=True)


# ---- the comparison -----------------------------------------------------------------------------
def _star(p: dict[str, Any]) -> str:
    return {"VAR_POSITIONAL": "*", "VAR_KEYWORD": "**"}.get(p["kind"], "") + p["name"]


def _same_default(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, bool) or isinstance(theirs, bool):
        return type(ours) is type(theirs) and ours == theirs
    try:
        return bool(ours == theirs) and type(ours) in (type(theirs), int, float)
    except Exception:
        return False


class Checker:
    """Collects the gaps between the table and Arno, grouped by object, and which reasons were
    used (the rest are stale)."""

    def __init__(self, reasons: dict[str, str]) -> None:
        self.reasons = reasons
        self.used: set[str] = set()
        self.stale: set[str] = set()
        self.gaps: dict[str, list[str]] = defaultdict(list)

    def excused(self, key: str) -> bool:
        if key in self.reasons:
            self.used.add(key)
            return True
        return False

    def gap(self, group: str, key: str, text: str) -> None:
        if not self.excused(key):
            self.gaps[group].append(f"{key}: {text}")

    def exists(self, key: str) -> None:
        """``key`` names something Arno has: a reason for it is stale."""
        if key in self.reasons:
            self.stale.add(key)

    def params(self, group: str, where: str, theirs: list[dict[str, Any]],
               ours: list[inspect.Parameter] | None) -> None:
        if ours is None:
            self.gap(group, where, "Arno's signature cannot be read")
            return
        by_name = {p.name: p for p in ours}
        var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ours)
        var_pos = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in ours)
        for p in theirs:
            key = f"{where}({_star(p)})"
            if p["kind"] == "VAR_KEYWORD":
                (self.exists(key) if var_kw else self.gap(group, key, "Arno takes no **kwargs"))
                continue
            if p["kind"] == "VAR_POSITIONAL":
                (self.exists(key) if var_pos else self.gap(group, key, "Arno takes no *args"))
                continue
            mine = by_name.get(p["name"])
            if mine is None or mine.kind in (inspect.Parameter.VAR_POSITIONAL,
                                             inspect.Parameter.VAR_KEYWORD):
                if key in self.reasons and not var_kw:
                    self.used.add(key)
                    self.gaps[group].append(
                        f"{key}: listed as accepted and ignored, but Arno takes no **kwargs, "
                        "so a call passing it fails")
                else:
                    self.gap(group, key, "missing parameter")
                continue
            self.exists(key)
            if "default" not in p:
                continue
            if mine.default is inspect.Parameter.empty:
                self.gaps[group].append(f"{key}: ClearML's default is {p['default']}, "
                                        "Arno's parameter has none")
            elif p["default"] != NOT_LITERAL:
                expected = ast.literal_eval(p["default"])
                if not _same_default(mine.default, expected):
                    self.gaps[group].append(f"{key}: default {mine.default!r}, ClearML's is "
                                            f"{p['default']}")
        # ClearML scripts pass leading arguments by position: the order must be the same.
        mine_pos = [p.name for p in ours if p.kind.name in POSITIONAL]
        for i, p in enumerate(x for x in theirs if x["kind"] in POSITIONAL):
            if p["name"] not in by_name:
                break
            if i >= len(mine_pos) or mine_pos[i] != p["name"]:
                got = mine_pos[i] if i < len(mine_pos) else "keyword-only or absent"
                self.gaps[group].append(
                    f"{where}: positional parameter {i + 1} is {p['name']!r} in ClearML, "
                    f"{got!r} in Arno")
                break

    def member(self, group: str, cls: type, name: str, theirs: dict[str, Any]) -> None:
        key = f"{group}.{name}"
        raw = _raw(cls, name)
        if raw is None:
            self.gap(group, key, f"missing {theirs['kind']}")
            return
        self.exists(key)
        kind = kind_of(raw)
        if theirs["kind"] == "attribute":
            return
        if kind != theirs["kind"]:
            self.gaps[group].append(f"{key}: a {kind} in Arno, a {theirs['kind']} in ClearML")
            return
        if kind == "property" and theirs.get("settable"):
            skey = f"{key} (settable)"
            (self.exists(skey) if settable(raw) else self.gap(group, skey, "read-only in Arno"))
        if theirs.get("params") is not None and kind not in ("property", "class"):
            self.params(group, key, theirs["params"], member_params(raw))

    def obj(self, group: str, ours: Any, theirs: dict[str, Any]) -> None:
        if theirs["kind"] == "function":
            if not callable(ours):
                self.gaps[group].append(f"{group}: not a function in Arno")
                return
            self.params(group, group, theirs["params"], params_of(ours, drop_first=False))
            return
        if not inspect.isclass(ours):
            self.gaps[group].append(f"{group}: not a class in Arno")
            return
        init = theirs.get("init") or []
        # Task(private=...), Logger(private_task=...), Dataset(_private=...): not for users.
        if init and "private" not in init[0]["name"]:
            self.params(group, f"{group}.__init__", init, params_of(ours.__init__, True))
        for name, member in sorted(theirs["members"].items()):
            self.member(group, ours, name, member)

    def report(self) -> str:
        lines = []
        for group in sorted(self.gaps):
            lines.append(f"{group} ({len(self.gaps[group])}):")
            lines.extend(f"  {g}" for g in self.gaps[group])
        stale = sorted(self.stale) + sorted(set(self.reasons) - self.used - self.stale)
        if stale:
            lines.append(f"stale or unknown reasons in clearml_surface_reasons.toml "
                         f"({len(stale)}): the name exists in Arno now, or names nothing in "
                         "the table; remove them:")
            lines.extend(f"  {k}" for k in stale)
        return "\n".join(lines)


def compare(table: dict[str, Any], reasons: dict[str, str]) -> Checker:
    check = Checker(reasons)
    found: dict[str, tuple[str, Any]] = {}
    for path, group in sorted(table["paths"].items()):
        module_name, _, attr = ("arno" + path.removeprefix("clearml")).rpartition(".")
        try:
            ours = getattr(importlib.import_module(module_name), attr)
        except ImportError as exc:
            check.gap(group, f"{module_name}.{attr}", f"cannot be imported ({exc})")
            continue
        except AttributeError:
            check.gap(group, f"{module_name}.{attr}", "missing")
            continue
        if group in found and found[group][1] is not ours:
            check.gaps[group].append(f"{module_name}.{attr} is not the same object as "
                                     f"{found[group][0]}")
            continue
        found.setdefault(group, (f"{module_name}.{attr}", ours))
    for group, (_, ours) in sorted(found.items()):
        check.obj(group, ours, table["objects"][group])
    return check


# ---- the tests ----------------------------------------------------------------------------------
def test_table_is_complete() -> None:
    table = load_table()
    assert table["clearml_version"]
    assert set(table["paths"]) >= {
        "clearml.Task", "clearml.Logger", "clearml.Dataset", "clearml.StorageManager",
        "clearml.task.Task", "clearml.logger.Logger", "clearml.datasets.Dataset",
        "clearml.storage.StorageManager", "clearml.task_parameters.TaskParameters",
        "clearml.task_parameters.param", "clearml.task_parameters.percent_param",
        "clearml.automation.UniformParameterRange", "clearml.automation.ParameterSet",
        "clearml.automation.UniformIntegerParameterRange",
        "clearml.automation.DiscreteParameterRange",
        "clearml.automation.LogUniformParameterRange"}
    assert {"init", "get_task", "current_task", "connect"} <= set(
        table["objects"]["Task"]["members"])


def test_reasons_are_sentences() -> None:
    for key, why in load_reasons().items():
        assert isinstance(why, str) and len(why.split()) >= 5 and why.rstrip().endswith("."), key


def test_arno_offers_the_clearml_surface() -> None:
    table = load_table()
    check = compare(table, load_reasons())
    report = check.report()
    assert not report, (f"Arno's SDK against ClearML {table['clearml_version']}: gaps without "
                        f"a written reason\n{report}")


# ---- the checker itself catches what it should ------------------------------------------------
class _Theirs:
    pass


class _Ours:
    def __init__(self, name: str, values: tuple[int, ...] = ()) -> None: ...

    @classmethod
    def get(cls, task_id: str | None = None, tags: list[str] | None = None) -> None: ...

    def report(self, title: str, value: float, iteration: int = 1) -> None: ...

    def quiet(self, a: int, **kwargs: Any) -> None: ...

    @property
    def name(self) -> str:
        return ""

    def status(self) -> str:
        return ""


def _fake_table() -> dict[str, Any]:
    def p(name: str, default: str | None = None, kind: str = "POSITIONAL_OR_KEYWORD"
          ) -> dict[str, Any]:
        return {"name": name, "kind": kind, **({} if default is None else {"default": default})}

    members = {
        "get": {"kind": "classmethod", "params": [p("task_id", "None"), p("project", "None"),
                                                 p("tags", "None")]},
        "report": {"kind": "method", "params": [p("title"), p("value"), p("iteration", "0")]},
        "quiet": {"kind": "method", "params": [p("a"), p("b", "False")]},
        "name": {"kind": "property", "settable": True},
        "status": {"kind": "property", "settable": False},
        "gone": {"kind": "method", "params": []},
        "also_gone": {"kind": "staticmethod", "params": []},
    }
    obj = {"kind": "class", "init": [p("name"), p("values", "()")], "members": members}
    return {"paths": {"arno_test.Thing": "Thing"}, "objects": {"Thing": obj}}


def test_checker_finds_each_kind_of_gap() -> None:
    check = Checker({"Thing.also_gone": "Arno has no use for it, as a test says here.",
                     "Thing.quiet(b)": "Accepted and ignored: nothing to do in Arno here.",
                     "Thing.name": "A stale reason: the property exists in Arno now."})
    check.obj("Thing", _Ours, _fake_table()["objects"]["Thing"])
    gaps = check.gaps["Thing"]
    assert "Thing.gone: missing method" in gaps
    assert "Thing.get(project): missing parameter" in gaps
    assert "Thing.report(iteration): default 1, ClearML's is 0" in gaps
    assert "Thing.status: a method in Arno, a property in ClearML" in gaps
    assert "Thing.name (settable): read-only in Arno" in gaps
    assert not any(g.startswith(("Thing.quiet", "Thing.also_gone", "Thing.__init__"))
                   for g in gaps)
    assert check.stale == {"Thing.name"}
    assert "Thing.name" in check.report()


def test_checker_wants_kwargs_for_an_ignored_parameter_and_positions_kept() -> None:
    def p(name: str) -> dict[str, Any]:
        return {"name": name, "kind": "POSITIONAL_OR_KEYWORD"}

    def f(series: str, title: str, extra: int = 0) -> None: ...

    check = Checker({"f(extra)": "Accepted and ignored: nothing to do in Arno here."})
    check.params("f", "f", [p("title"), p("series")], params_of(f, drop_first=False))
    assert check.gaps["f"] == [
        "f: positional parameter 1 is 'title' in ClearML, 'series' in Arno"]

    def g(a: int) -> None: ...

    check = Checker({"g(extra)": "Accepted and ignored: nothing to do in Arno here."})
    check.params("g", "g", [p("a"), p("extra")], params_of(g, drop_first=False))
    assert "accepted and ignored, but Arno takes no **kwargs" in check.gaps["g"][0]


if __name__ == "__main__":  # print the gap list: python tests/sdk/test_clearml_surface.py
    print(compare(load_table(), load_reasons()).report() or "no gaps")
    raise SystemExit(0)

