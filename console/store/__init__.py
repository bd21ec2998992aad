"""The store: the hub's database, SQLite embedded or PostgreSQL+PostGIS for a shared centre.

:class:`Store` is a thin facade over an engine and a sessionmaker; the queries live in the
repository modules (``world_repo``, ``users_repo``). Opening a store upgrades its schema to the
newest migration shipped in the package, so a hub never runs against an old schema.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from console.core.model import User, World
from console.store import migrate, users_repo, world_repo
from console.store.engine import make_engine, normalise_url
from console.store.errors import DuplicateUserError, StoreError, UnknownUserError

__all__ = ["DuplicateUserError", "Store", "StoreError", "UnknownUserError"]

T = TypeVar("T")


class Store:
    """One database. Thread-safe like its engine: every call runs in its own session."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine
        self.dialect: str = engine.dialect.name
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str, *, upgrade: bool = True) -> Store:
        """Connect to ``url``; with ``upgrade`` bring the schema to the newest migration."""
        url = normalise_url(url)
        engine = make_engine(url)
        try:
            if upgrade:
                migrate.upgrade(engine)
            else:
                current, head = migrate.current_revision(engine), migrate.head_revision()
                if current != head:
                    raise StoreError(
                        f"database schema is at revision {current}, this program needs {head}: "
                        "open it with upgrade"
                    )
        except OperationalError as exc:
            engine.dispose()
            raise StoreError(f"cannot open database {engine.url!r}: {exc.orig}") from exc
        except BaseException:
            engine.dispose()
            raise
        return cls(url, engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- world -----------------------------------------------------------------------------

    def has_world(self) -> bool:
        return self._read(world_repo.has_world)

    def save_world(self, world: World) -> None:
        """Replace any stored world with ``world`` in one transaction (all or nothing)."""
        try:
            self._write(lambda session: world_repo.save_world(session, world))
        except IntegrityError as exc:
            raise StoreError(f"world rejected by the database: {exc.orig}") from exc

    def load_world(self) -> World:
        """The stored world; ``StoreError("no world: run seed")`` if there is none."""
        return self._read(world_repo.load_world)

    def world_revision(self) -> str | None:
        """Changes whenever the world is written (cheap: one row)."""
        return self._read(world_repo.world_revision)

    def has_organisation(self, org_id: str) -> bool:
        """Whether the stored world has this organisation (cheap: no world load)."""
        return self._read(lambda session: world_repo.has_organisation(session, org_id))

    # -- users -----------------------------------------------------------------------------

    def add_user(self, user: User) -> None:
        """Add a user; DuplicateUserError if the username is taken."""
        try:
            self._write(lambda session: users_repo.add_user(session, user))
        except IntegrityError as exc:  # a concurrent add of the same name
            raise DuplicateUserError(f"user {user.username!r} already exists") from exc

    def get_user(self, username: str) -> User | None:
        return self._read(lambda session: users_repo.get_user(session, username))

    def list_users(self) -> list[User]:
        return self._read(users_repo.list_users)

    def set_password(self, username: str, password_hash: str) -> None:
        """Store a new hash (from core.passwords); UnknownUserError if there is no such user."""
        self._write(lambda session: users_repo.set_password(session, username, password_hash))

    def set_active(self, username: str, active: bool) -> None:
        """Enable or disable login; UnknownUserError if there is no such user."""
        self._write(lambda session: users_repo.set_active(session, username, active))

    def delete_user(self, username: str) -> bool:
        """Remove a user; False if there was none."""
        return self._write(lambda session: users_repo.delete_user(session, username))

    # -- sessions --------------------------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction, committed on success, for repositories of other packages."""
        with self._sessions.begin() as session:
            yield session

    def _read(self, query: Callable[[Session], T]) -> T:
        with self._sessions() as session:
            return query(session)

    def _write(self, change: Callable[[Session], T]) -> T:
        with self._sessions.begin() as session:
            return change(session)

    def __repr__(self) -> str:
        return f"Store({self.engine.url!r})"
