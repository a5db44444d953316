"""A small model registry made over the REST API, shared by the model CLI and UI tests: a
dataset version, a creating task that read it and a published base model, the model it
created (stored weights, labels, metadata, design), a draft without weights, and a task that
uses the model."""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from tests.conftest import LiveServer
from tests.services.dataset_helpers import build, publish, upload

API = "/api/v1"


@dataclass
class ModelWorld:
    project: str
    owner: str
    owner_key: str
    owner_secret: str
    other: str
    other_key: str
    other_secret: str
    dataset: dict[str, Any]
    task_id: str
    consumer_id: str
    base: dict[str, Any]
    model: dict[str, Any]
    draft: dict[str, Any]
    weights: dict[str, bytes] = field(default_factory=dict)

    def owner_client(self, server: LiveServer) -> httpx.Client:
        return server.client(self.owner_key, self.owner_secret)


def ok(resp: httpx.Response, status: int = 200) -> Any:
    assert resp.status_code == status, (resp.status_code, resp.text[:800])
    return resp.json() if resp.content else None


def make_task(c: httpx.Client, project: str, name: str, *, params: dict[str, str] | None = None,
              losses: list[float] | None = None, status: str | None = None) -> str:
    body = {"project": project, "name": name,
            "hyperparams": [{"section": k.split("/")[0], "name": k.split("/", 1)[1],
                             "value": v} for k, v in (params or {}).items()]}
    tid: str = ok(c.post(f"{API}/tasks", json=body), 201)["id"]
    if losses:
        batch = {"batch_id": uuid.uuid4().hex, "last_iteration": len(losses) - 1,
                 "scalars": [{"metric": "loss", "variant": "train",
                              "iterations": list(range(len(losses))), "values": losses,
                              "timestamps": [time.time()] * len(losses)}]}
        c.post(f"{API}/tasks/{tid}/events", json=batch).raise_for_status()
    if status:
        c.post(f"{API}/tasks/{tid}/status", json={"status": status}).raise_for_status()
    return tid


def create_model(c: httpx.Client, **body: Any) -> dict[str, Any]:
    return ok(c.post(f"{API}/models", json=body), 201)  # type: ignore[no-any-return]


def store_weights(c: httpx.Client, model_id: str, files: dict[str, bytes]) -> dict[str, Any]:
    """Weights stored in Arno: pieces packed and uploaded, then the manifest entries set."""
    content = build(files)
    upload(c, content.pack)
    ok(c.put(f"{API}/models/{model_id}/weights", json={"files": content.files}))
    return ok(c.get(f"{API}/models/{model_id}"))  # type: ignore[no-any-return]


def make_model_world(server: LiveServer) -> ModelWorld:
    tag = uuid.uuid4().hex[:6]
    project = f"registry-{tag}"
    owner, other = f"alice-{tag}", f"bob-{tag}"
    okey, osecret = server.user(owner)
    bkey, bsecret = server.user(other)
    weights = {"model.pt": os.urandom(3000) + b"weights"}
    with server.client(okey, osecret) as c:
        content = build({"train.csv": b"a,b\n1,2\n"})
        dataset = publish(c, f"images-{tag}", content.files, content.pack,
                          project=f"{project}/data")
        task_id = make_task(c, project, f"train-{tag}",
                            params={"Datasets/train": dataset["id"], "General/lr": "0.01"},
                            losses=[1.0, 0.6, 0.4, 0.3], status="completed")
        base = create_model(c, project=project, name=f"base-{tag}", framework="PyTorch",
                            tags=["base"])
        ok(c.put(f"{API}/models/{base['id']}/weights", json={"uri": "s3://bucket/base.pt"}))
        base = ok(c.post(f"{API}/models/{base['id']}/publish"))
        ok(c.put(f"{API}/tasks/{task_id}/models/input/base", json={"model_id": base["id"]}))
        model = create_model(
            c, project=project, name=f"resnet-{tag}", task_id=task_id, framework="PyTorch",
            tags=["best", "vision"], comment="the best one", labels={"cat": 0, "dog": 1},
            design=json.dumps({"layers": 18, "act": "relu"}),
            metadata={"accuracy": {"value": "0.91", "type": "float"}, "owner_note": "keep"},
            iteration=3)
        model = store_weights(c, model["id"], weights)
        draft = create_model(c, project=project, name=f"forest-{tag}", framework="ScikitLearn",
                             tags=["cheap"],
                             metadata={"accuracy": {"value": "0.8", "type": "float"}})
        consumer_id = make_task(c, project, f"serve-{tag}", status="completed")
        ok(c.put(f"{API}/tasks/{consumer_id}/models/input/pretrained",
                 json={"model_id": model["id"]}))
    return ModelWorld(project, owner, okey, osecret, other, bkey, bsecret, dataset, task_id,
                      consumer_id, base, model, draft, weights)
