"""Console users: the hub authenticates against these rows."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.core.model import Role, User
from console.store.errors import DuplicateUserError, UnknownUserError
from console.store.schema import UserRow


def add_user(session: Session, user: User) -> None:
    if session.get(UserRow, user.username) is not None:
        raise DuplicateUserError(f"user {user.username!r} already exists")
    session.add(
        UserRow(
            username=user.username,
            display_name=user.display_name,
            role=user.role.value,
            org_id=user.org_id,
            password_hash=user.password_hash,
            active=user.active,
        )
    )


def get_user(session: Session, username: str) -> User | None:
    row = session.get(UserRow, username)
    return None if row is None else _to_user(row)


def list_users(session: Session) -> list[User]:
    return [_to_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.username))]


def set_password(session: Session, username: str, password_hash: str) -> None:
    _require(session, username).password_hash = password_hash


def set_active(session: Session, username: str, active: bool) -> None:
    _require(session, username).active = active


def delete_user(session: Session, username: str) -> bool:
    row = session.get(UserRow, username)
    if row is None:
        return False
    session.delete(row)
    return True


def _require(session: Session, username: str) -> UserRow:
    row = session.get(UserRow, username)
    if row is None:
        raise UnknownUserError(f"no user {username!r}")
    return row


def _to_user(row: UserRow) -> User:
    return User(
        username=row.username,
        display_name=row.display_name,
        role=Role(row.role),
        org_id=row.org_id,
        password_hash=row.password_hash,
        active=row.active,
    )
