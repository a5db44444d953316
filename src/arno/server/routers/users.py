"""Who am I, users (admins only) and API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from arno.core.errors import Forbidden
from arno.core.schemas import KeyCreate, KeyCreated, KeyOut, UserCreate, UserOut, WhoAmI
from arno.server.deps import current_principal, get_services
from arno.services.container import Services
from arno.services.principal import Principal

router = APIRouter(tags=["users"])
Svc = Annotated[Services, Depends(get_services)]
Who = Annotated[Principal, Depends(current_principal)]


class DisabledChange(BaseModel):
    disabled: bool


@router.get("/me", response_model=WhoAmI)
def whoami(who: Who) -> WhoAmI:
    return WhoAmI(user_id=who.user_id, username=who.username, role=who.role,  # type: ignore[arg-type]
                  run_task_id=who.run_task_id)


@router.get("/users", response_model=list[UserOut])
def list_users(svc: Svc, who: Who) -> list[UserOut]:
    who.require_admin()
    return svc.auth.list_users()


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserCreate, svc: Svc, who: Who) -> UserOut:
    who.require_admin()
    return svc.auth.create_user(body.username, password=body.password, role=body.role)


@router.patch("/users/{user}", response_model=UserOut)
def set_user_disabled(user: str, body: DisabledChange, svc: Svc, who: Who) -> UserOut:
    who.require_admin()
    if body.disabled and user in (who.user_id, who.username):
        raise Forbidden("you cannot disable yourself")
    return svc.auth.set_disabled(user, body.disabled)


@router.get("/keys", response_model=list[KeyOut])
def list_keys(svc: Svc, who: Who, all: bool = False) -> list[KeyOut]:
    """Your own keys; admins may pass ``all=true`` to see everyone's."""
    who.require_personal("list API keys")
    if all:
        who.require_admin()
        return svc.auth.list_keys()
    return svc.auth.list_keys(user_id=who.user_id)


@router.post("/keys", response_model=KeyCreated, status_code=201)
def create_key(body: KeyCreate, svc: Svc, who: Who) -> KeyCreated:
    """A key for yourself; only admins create keys for other users."""
    who.require_personal("create API keys")
    owner = body.user or who.user_id
    if owner not in (who.user_id, who.username):
        who.require_admin()
    return svc.auth.create_key(owner, label=body.label)


@router.delete("/keys/{key}", response_model=KeyOut)
def revoke_key(key: str, svc: Svc, who: Who) -> KeyOut:
    who.require_personal("revoke API keys")
    found = svc.auth.get_key(key)
    if found.user_id != who.user_id:
        who.require_admin()
    return svc.auth.revoke_key(key)
