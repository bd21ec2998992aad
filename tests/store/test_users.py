"""Console users on both engines: add, read, change, remove, and refuse duplicates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from console.core.model import Role, User
from console.core.passwords import hash_password, verify_password
from console.store import DuplicateUserError, Store, UnknownUserError
from tests.store.worlds import small_world

# One hash for the module: scrypt is deliberately slow.
HASH = hash_password("s3cret")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    yield opened
    opened.close()


def dispatcher(username: str = "zhang") -> User:
    return User(username, "张调度", Role.DISPATCHER, "org-city", HASH)


def test_add_get_list(store: Store) -> None:
    assert store.list_users() == []
    assert store.get_user("zhang") is None
    store.add_user(dispatcher("zhang"))
    store.add_user(User("admin", "管理员", Role.ADMIN, "org-city", HASH, active=False))
    assert store.get_user("zhang") == dispatcher("zhang")
    assert [u.username for u in store.list_users()] == ["admin", "zhang"]
    assert store.get_user("admin") is not None
    assert not store.get_user("admin").active  # type: ignore[union-attr]


def test_duplicate_username_is_refused(store: Store) -> None:
    store.add_user(dispatcher())
    with pytest.raises(DuplicateUserError, match="user 'zhang' already exists"):
        store.add_user(User("zhang", "另一个", Role.LEADER, "org-city", HASH))
    assert store.get_user("zhang") == dispatcher()


def test_password_and_active_changes(store: Store) -> None:
    store.add_user(dispatcher())
    store.set_password("zhang", hash_password("new-password"))
    stored = store.get_user("zhang")
    assert stored is not None
    assert verify_password("new-password", stored.password_hash)
    assert not verify_password("s3cret", stored.password_hash)
    store.set_active("zhang", False)
    assert store.get_user("zhang") == User(
        "zhang", "张调度", Role.DISPATCHER, "org-city", stored.password_hash, active=False
    )
    store.set_active("zhang", True)
    assert store.get_user("zhang").active  # type: ignore[union-attr]


def test_changing_an_unknown_user_fails(store: Store) -> None:
    with pytest.raises(UnknownUserError, match="no user 'ghost'"):
        store.set_password("ghost", HASH)
    with pytest.raises(UnknownUserError, match="no user 'ghost'"):
        store.set_active("ghost", False)


def test_delete(store: Store) -> None:
    store.add_user(dispatcher())
    assert store.delete_user("zhang") is True
    assert store.delete_user("zhang") is False
    assert store.get_user("zhang") is None


def test_users_survive_replacing_the_world(store: Store) -> None:
    store.save_world(small_world())
    store.add_user(dispatcher())
    store.save_world(small_world(city_name="重建"))
    assert store.get_user("zhang") == dispatcher()
