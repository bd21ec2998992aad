"""Every ``tr("literal")`` has a zh_CN translation; no UI text bypasses ``tr``."""

from __future__ import annotations

import ast
import json
import string
from pathlib import Path

import pytest
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication, QDialogButtonBox, QMenu
from pytestqt.qtbot import QtBot

import console
from console.app import install_features
from console.monitoring.authenticity.phrases import PHRASES
from console.shell import i18n
from console.shell.main_window import MainWindow
from console.shell.session import Session

CONSOLE_DIR = Path(console.__file__).parent
# Qt text setters whose first argument is user-facing text.
TEXT_SETTERS = {
    "setText",
    "setWindowTitle",
    "addAction",
    "addMenu",
    "setToolTip",
    "setStatusTip",
    "setPlaceholderText",
    "showMessage",
    "setTabText",
    "addTab",
    "setTitle",
    "setHorizontalHeaderLabels",
}
TEXT_CONSTRUCTORS = {"QLabel", "QPushButton", "QAction", "QCheckBox", "QGroupBox", "QDockWidget"}
MESSAGE_BOX_FUNCTIONS = {"about", "information", "warning", "critical", "question"}


def _python_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "assets" not in p.parts)


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _is_text_literal(node: ast.AST) -> bool:
    """A string literal with letters (or an f-string): text a user would read."""
    if isinstance(node, ast.JoinedStr):
        return True
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and any(ch.isalpha() for ch in node.value)
    )


def _tr_literals(root: Path = CONSOLE_DIR) -> list[tuple[str, str]]:
    found = []
    for path in _python_files(root):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and _called_name(node) == "tr"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            ):
                found.append((f"{path.relative_to(root)}:{node.lineno}", node.args[0].value))
    return found


def _bypasses(root: Path = CONSOLE_DIR) -> list[str]:
    """Calls that pass a literal straight to a Qt text setter instead of through tr()."""
    bad = []
    for path in _python_files(root):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = _called_name(node)
            args = list(node.args)
            if name in MESSAGE_BOX_FUNCTIONS and (
                isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "QMessageBox"
            ):
                args = args[1:]  # parent first, then title and text
            elif name not in TEXT_SETTERS | TEXT_CONSTRUCTORS:
                continue
            if any(_is_text_literal(arg) for arg in args):
                bad.append(f"{path.relative_to(root)}:{node.lineno} {name}(...)")
    return bad


def test_every_tr_literal_has_a_zh_cn_translation() -> None:
    literals = _tr_literals()
    assert len(literals) > 20, "the walker found too few tr() calls; is it broken?"
    catalogue = i18n.load_catalogue("zh_CN")
    missing = sorted({f"{where}: {text!r}" for where, text in literals if text not in catalogue})
    assert not missing, "add these to console/shell/translations/<feature>.zh_CN.json:\n" + (
        "\n".join(missing)
    )


def test_every_authenticity_phrase_has_a_zh_cn_translation() -> None:
    """The scorer's sentence templates are translated by the console (charts/findings.py)."""
    catalogue = i18n.load_catalogue("zh_CN")
    missing = sorted(text for text in PHRASES.values() if text and text not in catalogue)
    assert not missing, "add these to console/shell/translations/charts.zh_CN.json"


def test_translations_keep_the_placeholders() -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    catalogue = i18n.load_catalogue("zh_CN")
    wrong = [src for src, text in catalogue.items() if fields(src) != fields(text)]
    assert not wrong


def test_no_literal_text_bypasses_tr() -> None:
    assert _bypasses() == []


def test_tr_is_never_given_an_f_string() -> None:
    """``tr(f"...")`` can never match a catalogue key: use ``tr("... {name}", name=...)``."""
    bad = [
        f"{path.relative_to(CONSOLE_DIR)}:{node.lineno}"
        for path in _python_files(CONSOLE_DIR)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and _called_name(node) == "tr"
        and node.args
        and isinstance(node.args[0], ast.JoinedStr)
    ]
    assert bad == []


def test_walker_catches_a_bypass(tmp_path: Path) -> None:
    """The bypass check itself works: a planted setText("literal") is reported."""
    planted = tmp_path / "console"
    planted.mkdir()
    (planted / "bad.py").write_text(
        'label.setText("Hello")\nQMessageBox.warning(None, "Oops", "Broken")\n'
        'ok.setText(tr("Fine"))\n',
        encoding="utf-8",
    )
    assert [entry.split(" ")[1] for entry in _bypasses(planted)] == ["setText(...)", "warning(...)"]
    assert [text for _, text in _tr_literals(planted)] == ["Fine"]


def test_catalogue_files_are_valid() -> None:
    for path in i18n.TRANSLATIONS_DIR.glob("*.json"):
        entries = json.loads(path.read_text(encoding="utf-8"))
        assert all(isinstance(v, str) and v for v in entries.values()), path.name


def test_tr_switches_language_and_formats(qapp: QApplication) -> None:
    try:
        i18n.set_language("en")
        assert i18n.tr("Seats online: {count}", count=3) == "Seats online: 3"
        i18n.set_language("zh_CN")
        assert i18n.tr("Seats online: {count}", count=3) == "在线席位：3"
        assert i18n.tr("&File") == "文件(&F)"
    finally:
        i18n.set_language(i18n.DEFAULT_LANGUAGE)


def test_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        i18n.set_language("fr")


def test_qt_standard_buttons_are_chinese(qapp: QApplication) -> None:
    i18n.set_language("zh_CN")
    box = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
    try:
        assert QCoreApplication.translate("QPlatformTheme", "Cancel") == "取消"
        assert box.button(QDialogButtonBox.StandardButton.Cancel).text() == "取消"
    finally:
        box.deleteLater()


def _menu_texts(menu: QMenu) -> list[str]:
    """Every entry of a menu and its sub-menus (separators have no text)."""
    texts = []
    for action in menu.actions():
        if action.text():
            texts.append(action.text())
        if action.menu() is not None:
            texts += _menu_texts(action.menu())
    return texts


def _has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_main_window_menus_follow_the_language(qtbot: QtBot, language: str) -> None:
    """With every feature installed, English shows no Chinese menu text and zh_CN no English."""
    try:
        i18n.set_language(language)
        window = MainWindow(Session())
        qtbot.addWidget(window)
        install_features(window, Session())
        menus = [action.text() for action in window.menuBar().actions()]
        entries = [
            text for action in window.menuBar().actions() for text in _menu_texts(action.menu())
        ]
        if language == "en":
            assert menus[:1] == ["&File"]
            assert "&Help" in menus
            assert "&Settings…" in entries
            assert [text for text in menus + entries if _has_chinese(text)] == []
            assert not _has_chinese(window.windowTitle())
        else:
            assert menus[:1] == ["文件(&F)"]
            assert all(_has_chinese(text) for text in menus)
    finally:
        i18n.set_language(i18n.DEFAULT_LANGUAGE)
