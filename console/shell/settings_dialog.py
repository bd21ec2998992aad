"""设置… : edits every ``console.shell.settings.Settings`` field, validated as the user types.

Problems are shown next to the offending field (and OK/Apply are disabled until they are
fixed); problems found when the file was loaded are listed at the top, so a value that fell
back to its default is never a surprise. Language, hub and database changes take effect on
the next start (the window says so); the map reads its basemap when it is built.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from console.shell.i18n import tr
from console.shell.settings import (
    AlarmSoundSettings,
    BasemapSettings,
    Settings,
    SettingsProblem,
    SeveritySounds,
    VideoWallSettings,
    check,
    load_settings,
    save_settings,
)

_ERROR_STYLE = "border: 1px solid #b3261e;"
XYZ_EXAMPLE = "https://tiles.example.cn/{z}/{x}/{y}.png"  # a URL: nothing to translate


def _combo(items: list[tuple[str, str]], current: str) -> QComboBox:
    """A combo of (value, label) pairs with ``current`` selected."""
    box = QComboBox()
    for value, label in items:
        box.addItem(label, value)
    box.setCurrentIndex(max(0, box.findData(current)))
    return box


class SettingsDialog(QDialog):
    """Edits and saves the settings file; ``sig_applied`` carries what was saved."""

    sig_applied = Signal(object)
    """Settings were saved (a ``Settings``)."""

    def __init__(self, path: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(tr("Settings"))
        loaded = load_settings(path)
        self.path = loaded.path
        self.saved = loaded.settings
        self.restart_needed = False

        layout = QVBoxLayout(self)
        self.load_problems = QLabel()
        self.load_problems.setWordWrap(True)
        self.load_problems.setStyleSheet("color: #b3261e;")
        if loaded.problems:
            self.load_problems.setText(
                tr("Some saved settings could not be used and were reset to their defaults:")
                + "\n"
                + "\n".join(f"• {p}" for p in loaded.problems)
            )
        else:
            self.load_problems.hide()
        layout.addWidget(self.load_problems)

        tabs = QTabWidget()
        tabs.addTab(self._general_tab(loaded.settings), tr("General"))
        tabs.addTab(self._basemap_tab(loaded.settings.basemap), tr("Basemap"))
        tabs.addTab(self._alarm_tab(loaded.settings.alarm_sounds), tr("Alarm sounds"))
        tabs.addTab(self._wall_tab(loaded.settings.video_wall), tr("Video wall"))
        layout.addWidget(tabs)

        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #b3261e;")
        layout.addWidget(self.error_label)
        self.restart_label = QLabel(
            tr("Language, hub and database changes take effect when the console is restarted.")
        )
        self.restart_label.setWordWrap(True)
        self.restart_label.hide()
        layout.addWidget(self.restart_label)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Apply
            | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.clicked.connect(self._on_button)
        layout.addWidget(self.buttons)

        self._field_widgets: dict[str, QWidget] = {
            "hub_url": self.hub_url,
            "db_url": self.db_url,
            "basemap": self.basemap_url,
            "basemap.url": self.basemap_url,
            "basemap.path": self.basemap_path,
        }
        for edit in (self.hub_url, self.db_url, self.basemap_url, self.basemap_path):
            edit.textChanged.connect(self.revalidate)
        self.basemap_kind.currentIndexChanged.connect(self.revalidate)
        self.language.currentIndexChanged.connect(self.revalidate)
        self.revalidate()

    # ---- tabs ----------------------------------------------------------------------

    def _general_tab(self, settings: Settings) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.hub_url = QLineEdit(settings.hub_url)
        self.hub_url.setPlaceholderText(tr("empty: embedded hub on this computer"))
        form.addRow(tr("Hub URL"), self.hub_url)
        self.db_url = QLineEdit(settings.db_url)
        self.db_url.setPlaceholderText(tr("empty: SQLite file in the data folder"))
        form.addRow(tr("Database URL"), self.db_url)
        self.language = _combo([("zh_CN", "简体中文"), ("en", "English")], settings.language)
        form.addRow(tr("Language"), self.language)
        return page

    def _basemap_tab(self, basemap: BasemapSettings) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.basemap_kind = _combo(
            [
                ("vector", tr("Vector (no tiles)")),
                ("xyz", tr("Tile server (XYZ URL)")),
                ("folder", tr("Tile folder")),
                ("mbtiles", tr("MBTiles file")),
            ],
            basemap.kind,
        )
        form.addRow(tr("Kind"), self.basemap_kind)
        self.basemap_url = QLineEdit(basemap.url)
        self.basemap_url.setPlaceholderText(XYZ_EXAMPLE)
        form.addRow(tr("URL"), self.basemap_url)
        self.basemap_path = QLineEdit(basemap.path)
        form.addRow(tr("Path"), self.basemap_path)
        self.basemap_datum = _combo(
            [("wgs84", "WGS84"), ("cgcs2000", "CGCS2000"), ("gcj02", "GCJ-02")], basemap.datum
        )
        form.addRow(tr("Datum"), self.basemap_datum)
        self.basemap_attribution = QLineEdit(basemap.attribution)
        form.addRow(tr("Attribution"), self.basemap_attribution)
        self.basemap_max_zoom = QSpinBox()
        self.basemap_max_zoom.setRange(1, 22)
        self.basemap_max_zoom.setValue(basemap.max_zoom)
        form.addRow(tr("Maximum zoom"), self.basemap_max_zoom)
        return page

    def _alarm_tab(self, sounds: AlarmSoundSettings) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.sound_enabled = QCheckBox(tr("Play a sound for new alarms"))
        self.sound_enabled.setChecked(sounds.enabled)
        form.addRow(self.sound_enabled)
        self.sound_volume = QSpinBox()
        self.sound_volume.setRange(0, 100)
        self.sound_volume.setSuffix(" %")
        self.sound_volume.setValue(sounds.volume)
        form.addRow(tr("Volume"), self.sound_volume)
        group = QGroupBox(tr("Severities with a sound"))
        column = QVBoxLayout(group)
        self.sound_info = QCheckBox(tr("Info level"))
        self.sound_warning = QCheckBox(tr("Warning level"))
        self.sound_critical = QCheckBox(tr("Critical level"))
        for box, on in (
            (self.sound_info, sounds.severities.info),
            (self.sound_warning, sounds.severities.warning),
            (self.sound_critical, sounds.severities.critical),
        ):
            box.setChecked(on)
            column.addWidget(box)
        form.addRow(group)
        return page

    def _wall_tab(self, wall: VideoWallSettings) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.wall_screen = QSpinBox()
        self.wall_screen.setRange(0, 15)
        self.wall_screen.setValue(wall.screen)
        form.addRow(tr("Screen"), self.wall_screen)
        self.wall_layout = _combo([(n, f"{n}") for n in ("1", "4", "9", "16")], wall.layout)
        form.addRow(tr("Tiles per page"), self.wall_layout)
        self.wall_tour = QDoubleSpinBox()
        self.wall_tour.setRange(3, 3600)
        self.wall_tour.setDecimals(0)
        self.wall_tour.setSuffix(tr(" s"))
        self.wall_tour.setValue(wall.tour_seconds)
        form.addRow(tr("Tour interval"), self.wall_tour)
        return page

    # ---- state ---------------------------------------------------------------------

    def current(self) -> Settings:
        """The settings as currently entered (not yet validated)."""
        return Settings(
            hub_url=self.hub_url.text().strip(),
            db_url=self.db_url.text().strip(),
            language=self.language.currentData(),
            basemap=BasemapSettings(
                kind=self.basemap_kind.currentData(),
                url=self.basemap_url.text().strip(),
                path=self.basemap_path.text().strip(),
                datum=self.basemap_datum.currentData(),
                attribution=self.basemap_attribution.text(),
                max_zoom=self.basemap_max_zoom.value(),
            ),
            alarm_sounds=AlarmSoundSettings(
                enabled=self.sound_enabled.isChecked(),
                volume=self.sound_volume.value(),
                severities=SeveritySounds(
                    info=self.sound_info.isChecked(),
                    warning=self.sound_warning.isChecked(),
                    critical=self.sound_critical.isChecked(),
                ),
            ),
            video_wall=VideoWallSettings(
                screen=self.wall_screen.value(),
                layout=self.wall_layout.currentData(),
                tour_seconds=self.wall_tour.value(),
            ),
        )

    def revalidate(self) -> list[SettingsProblem]:
        """Mark the fields with problems and enable OK/Apply only when there are none."""
        settings = self.current()
        problems = check(settings)
        kind = settings.basemap.kind
        self.basemap_url.setEnabled(kind == "xyz")
        self.basemap_path.setEnabled(kind in ("folder", "mbtiles"))
        bad = {p.field for p in problems}
        for name, widget in self._field_widgets.items():
            widget.setStyleSheet(_ERROR_STYLE if name in bad else "")
        if "basemap" in bad:
            target = self.basemap_url if kind == "xyz" else self.basemap_path
            target.setStyleSheet(_ERROR_STYLE)
        self.error_label.setText("\n".join(str(p) for p in problems))
        self.error_label.setVisible(bool(problems))
        for which in (QDialogButtonBox.StandardButton.Ok, QDialogButtonBox.StandardButton.Apply):
            self.buttons.button(which).setEnabled(not problems)
        self.restart_label.setVisible(self.restart_needed or self._needs_restart(settings))
        return problems

    def apply(self) -> bool:
        """Save the entered settings if they are valid; True when saved."""
        if self.revalidate():
            return False
        settings = self.current()
        try:
            save_settings(settings, self.path)
        except OSError as exc:
            self.error_label.setText(tr("Could not save the settings: {error}", error=exc))
            self.error_label.show()
            return False
        self.restart_needed = self.restart_needed or self._needs_restart(settings)
        self.saved = settings
        self.load_problems.hide()
        self.sig_applied.emit(settings)
        self.revalidate()
        return True

    def _needs_restart(self, settings: Settings) -> bool:
        return (settings.language, settings.hub_url, settings.db_url) != (
            self.saved.language,
            self.saved.hub_url,
            self.saved.db_url,
        )

    def _on_button(self, button: QAbstractButton) -> None:
        role = self.buttons.standardButton(button)
        if role == QDialogButtonBox.StandardButton.Apply:
            self.apply()
        elif role == QDialogButtonBox.StandardButton.Ok:
            if self.apply():
                self.accept()
        else:
            self.reject()
