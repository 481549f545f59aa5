"""Add or edit one registry profile: fields, TLS, password storage, Docker
import and "Test connection". Each problem is shown next to its field, and
nothing is saved until every check passed (or the user saves anyway after a
failed connection test)."""

from __future__ import annotations

import logging
from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from core import errors
from core.dockerconfig import DockerLogin, DockerLogins
from core.probe import ConnectionReport
from core.profiles import (
    PasswordStore,
    Profile,
    ProfileFieldError,
    ProfileStore,
    TlsMode,
    keyring_usable,
    validate_profile,
)
from gui.prompts import Prompts
from gui.session import connection_test, docker_logins
from gui.tasks import Task, TaskOutcome
from gui.widgets import FieldMessage, Tone

log = logging.getLogger(__name__)

_INSECURE_WARNING = (
    "Certificates are not checked: anyone on the network path can read the "
    "password and impersonate the registry. Use only on a network you trust."
)
_FILE_WARNING = (
    "The password is written in plain text (not encrypted) to {path}, "
    "readable only by your user account."
)


def field_of(error: errors.RegsweepError) -> str:
    """Which field a failed connection test points at."""
    if isinstance(error, ProfileFieldError):
        return error.field
    if isinstance(error, errors.TLSError):
        return "tls"
    if isinstance(error, errors.ConfigError):
        return "ca_file"
    if isinstance(error, errors.AuthenticationError | errors.PermissionDeniedError):
        return "password"
    return "url"


class ProfileDialog(QDialog):
    """Edits a copy of a profile; ``profile_saved`` fires once it is stored."""

    profile_saved = Signal(object)  # the Profile as stored

    def __init__(
        self,
        store: ProfileStore,
        profile: Profile | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.store = store
        self.original = profile
        self.keyring_ok = keyring_usable()
        self._test: Task | None = None
        self._import: Task | None = None
        self._save_after_test = False
        self._tested_ok_for: Profile | None = None
        self.setWindowTitle("Edit profile" if profile else "New registry profile")
        self._build_widgets()
        self._build_layout()
        self._connect_signals()
        self._load(profile)

    # --- building ---------------------------------------------------------------

    def _build_widgets(self) -> None:
        self.name_edit = QLineEdit(placeholderText="e.g. Production")
        self.url_edit = QLineEdit(placeholderText="https://registry.example.com")
        self.username_edit = QLineEdit(placeholderText="empty for anonymous access")
        self.password_edit = QLineEdit(echoMode=QLineEdit.EchoMode.Password)
        self.messages = {
            key: FieldMessage()
            for key in ("name", "url", "username", "password", "tls", "ca_file")
        }
        self._build_tls_widgets()
        self._build_storage_widgets()
        self.import_button = QPushButton("Import Docker login…")
        self.import_button.setToolTip("Use a login from ~/.docker/config.json")
        self.test_button = QPushButton("Test connection")
        self.report_label = QLabel(wordWrap=True)
        self.report_label.setObjectName("report")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save
            | QDialogButtonBox.StandardButton.Cancel
        )
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)

    def _build_tls_widgets(self) -> None:
        self.tls_system = QRadioButton("Verify with the system's trusted CAs")
        self.tls_custom = QRadioButton("Verify with this CA file:")
        self.tls_insecure = QRadioButton("Do not verify certificates (insecure)")
        self.tls_group = QButtonGroup(self)
        for button in (self.tls_system, self.tls_custom, self.tls_insecure):
            self.tls_group.addButton(button)
        self.ca_edit = QLineEdit(placeholderText="/path/to/ca.pem")
        self.ca_browse = QPushButton("Browse…")
        self.insecure_warning = FieldMessage()

    def _build_storage_widgets(self) -> None:
        self.store_keyring = QRadioButton("In the system keyring")
        self.store_session = QRadioButton("Only for this session (asked again later)")
        self.store_file = QRadioButton("In a plain file (not encrypted)")
        self.store_group = QButtonGroup(self)
        for button in (self.store_keyring, self.store_session, self.store_file):
            self.store_group.addButton(button)
        self.store_keyring.setEnabled(self.keyring_ok)
        self.storage_note = FieldMessage()

    def _build_layout(self) -> None:
        layout = QVBoxLayout(self)
        form = QFormLayout()
        for label, edit, key in (
            ("Name", self.name_edit, "name"),
            ("Registry URL", self.url_edit, "url"),
            ("Username", self.username_edit, "username"),
            ("Password", self.password_edit, "password"),
        ):
            form.addRow(label, _stacked(edit, self.messages[key]))
        layout.addLayout(form)
        layout.addWidget(self._tls_box())
        layout.addWidget(self._storage_box())
        row = QHBoxLayout()
        row.addWidget(self.import_button)
        row.addStretch(1)
        row.addWidget(self.test_button)
        layout.addLayout(row)
        layout.addWidget(self.report_label)
        layout.addWidget(self.buttons)
        self.setMinimumWidth(600)

    def _tls_box(self) -> QGroupBox:
        box = QGroupBox("TLS")
        layout = QVBoxLayout(box)
        layout.addWidget(self.tls_system)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.tls_custom)
        ca_row.addWidget(self.ca_edit, 1)
        ca_row.addWidget(self.ca_browse)
        layout.addLayout(ca_row)
        layout.addWidget(self.messages["ca_file"])
        layout.addWidget(self.tls_insecure)
        layout.addWidget(self.insecure_warning)
        layout.addWidget(self.messages["tls"])
        return box

    def _storage_box(self) -> QGroupBox:
        self.storage_box = QGroupBox("Keep the password")
        layout = QVBoxLayout(self.storage_box)
        for button in (self.store_keyring, self.store_session, self.store_file):
            layout.addWidget(button)
        layout.addWidget(self.storage_note)
        return self.storage_box

    def _connect_signals(self) -> None:
        self.buttons.accepted.connect(self._on_save_clicked)
        self.buttons.rejected.connect(self.reject)
        self.test_button.clicked.connect(self._on_test_clicked)
        self.import_button.clicked.connect(self._on_import_clicked)
        self.ca_browse.clicked.connect(self._on_ca_browse_clicked)
        self.tls_group.buttonToggled.connect(self._on_tls_changed)
        self.store_group.buttonToggled.connect(self._on_storage_changed)
        self.username_edit.textChanged.connect(self._on_storage_changed)
        for key, edit in (
            ("name", self.name_edit),
            ("url", self.url_edit),
            ("username", self.username_edit),
            ("password", self.password_edit),
            ("ca_file", self.ca_edit),
        ):
            edit.textChanged.connect(self.messages[key].clear)
            edit.textChanged.connect(self._on_input_changed)

    def _load(self, profile: Profile | None) -> None:
        profile = profile or Profile("", "")
        self.name_edit.setText(profile.name)
        self.url_edit.setText(profile.url)
        self.username_edit.setText(profile.username)
        if self.original is not None:
            self.password_edit.setText(self.store.password(self.original) or "")
        self.ca_edit.setText(profile.ca_file)
        tls_button = {
            TlsMode.SYSTEM: self.tls_system,
            TlsMode.CUSTOM_CA: self.tls_custom,
            TlsMode.INSECURE: self.tls_insecure,
        }[profile.tls]
        tls_button.setChecked(True)
        self._storage_button(profile).setChecked(True)
        self._on_tls_changed()
        self._on_storage_changed()

    def _storage_button(self, profile: Profile) -> QRadioButton:
        store = profile.password_store
        if store is PasswordStore.KEYRING and not self.keyring_ok:
            store = PasswordStore.SESSION
        return {
            PasswordStore.KEYRING: self.store_keyring,
            PasswordStore.SESSION: self.store_session,
            PasswordStore.FILE: self.store_file,
        }[store]

    # --- reading the fields -----------------------------------------------------

    def profile(self) -> Profile:
        """The profile as the fields describe it (not validated)."""
        base = self.original or Profile("", "")
        return replace(
            base,
            name=self.name_edit.text(),
            url=self.url_edit.text(),
            username=self.username_edit.text(),
            tls=self._tls_mode(),
            ca_file=self.ca_edit.text().strip(),
            password_store=self._password_store(),
        )

    def _tls_mode(self) -> TlsMode:
        if self.tls_custom.isChecked():
            return TlsMode.CUSTOM_CA
        if self.tls_insecure.isChecked():
            return TlsMode.INSECURE
        return TlsMode.SYSTEM

    def _password_store(self) -> PasswordStore:
        if self.store_file.isChecked():
            return PasswordStore.FILE
        if self.store_session.isChecked():
            return PasswordStore.SESSION
        return PasswordStore.KEYRING

    def _validated(self, for_test: bool = False) -> Profile | None:
        """The profile, checked; None after showing what is wrong. A
        connection test needs no name, so then none is required."""
        self._clear_messages()
        profile = self.profile()
        if for_test and not profile.name.strip():
            profile = replace(profile, name="(connection test)")
        try:
            profile = validate_profile(profile, self.store.profiles)
        except ProfileFieldError as exc:
            self._show_field_error(exc.field, str(exc))
            return None
        if self.password_edit.text() and not profile.username:
            self._show_field_error("username", "Give the username for this password.")
            return None
        return profile

    # --- slots ------------------------------------------------------------------

    def _on_input_changed(self) -> None:
        self._tested_ok_for = None
        self.save_button.setText("Save")
        self._save_after_test = False

    def _on_tls_changed(self) -> None:
        custom = self.tls_custom.isChecked()
        self.ca_edit.setEnabled(custom)
        self.ca_browse.setEnabled(custom)
        if self.tls_insecure.isChecked():
            self.insecure_warning.show_warning(_INSECURE_WARNING)
        else:
            self.insecure_warning.clear()
        self._on_input_changed()

    def _on_storage_changed(self) -> None:
        self.storage_box.setEnabled(bool(self.username_edit.text().strip()))
        if not self.keyring_ok:
            note = "No system keyring is available, so the password is kept for "
            note += "this session only, unless you choose to store it in a file. "
        else:
            note = ""
        if self.store_file.isChecked():
            note += _FILE_WARNING.format(path=self.store.secrets.file_path)
        if note:
            self.storage_note.show_warning(note.strip())
        else:
            self.storage_note.clear()

    def _on_ca_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "CA certificate", "", "PEM certificates (*.pem *.crt);;All (*)"
        )
        if path:
            self.ca_edit.setText(path)

    def _on_test_clicked(self) -> None:
        self._save_after_test = False
        self._start_test()

    def _on_save_clicked(self) -> None:
        profile = self._validated()
        if profile is None:
            return
        if self.save_button.text() == "Save anyway" or self._tested_ok_for == profile:
            self._store(profile)
            return
        self._save_after_test = True
        self._start_test()

    # --- connection test --------------------------------------------------------

    def _start_test(self) -> None:
        profile = self._validated(for_test=not self._save_after_test)
        if profile is None or self._test is not None:
            return
        config = profile.registry_config(self.password_edit.text() or None)
        self.report_label.setText("Testing the connection…")
        self.test_button.setEnabled(False)
        self.save_button.setEnabled(False)
        self._tested_profile = profile
        self._test = connection_test(config, self)
        self._test.finished.connect(self._on_test_finished)
        self._test.start()

    def _on_test_finished(self, outcome: TaskOutcome) -> None:
        self._test = None
        self.test_button.setEnabled(True)
        self.save_button.setEnabled(True)
        if isinstance(outcome.error, errors.RegsweepError):
            self._show_test_failure(outcome.error)
            return
        if outcome.error is not None:
            raise outcome.error
        report: ConnectionReport = outcome.result
        self.report_label.setText(_report_html(report))
        self._tested_ok_for = self._tested_profile
        if self._save_after_test:
            self._store(self._tested_profile)

    def _show_test_failure(self, error: errors.RegsweepError) -> None:
        field = field_of(error)
        if field == "password" and not self.username_edit.text().strip():
            field = "username"
        self._show_field_error(field, str(error))
        self.report_label.setText(
            "<span style='color:#b3261e'><b>The connection test failed</b></span>"
            " (details next to the field)."
        )
        if self._save_after_test:
            self.save_button.setText("Save anyway")
        self._save_after_test = False

    def _store(self, profile: Profile) -> None:
        password = self.password_edit.text() or None
        try:
            if self.original is None:
                saved = self.store.add(profile, password)
            else:
                saved = self.store.update(profile, password)
        except ProfileFieldError as exc:
            self._show_field_error(exc.field, str(exc))
            return
        except errors.ConfigError as exc:
            self._show_field_error("name", str(exc))
            return
        self.profile_saved.emit(saved)
        self.accept()

    # --- Docker import ----------------------------------------------------------

    def _on_import_clicked(self) -> None:
        if self._import is not None:
            return
        self.import_button.setEnabled(False)
        self._import = docker_logins(self)
        self._import.finished.connect(self._on_import_finished)
        self._import.start()

    def _on_import_finished(self, outcome: TaskOutcome) -> None:
        self._import = None
        self.import_button.setEnabled(True)
        if outcome.error is not None:
            self._show_field_error("url", f"The Docker config: {outcome.error}")
            return
        found: DockerLogins = outcome.result
        match = found.for_url(self.url_edit.text()) if self.url_edit.text() else None
        if match is not None:
            self._use_login(match)
        elif found.logins:
            self._offer_logins(found.logins)
        else:
            problems = " ".join(f"{p.server}: {p.message}" for p in found.problems)
            self.messages["username"].show_message(
                f"No Docker logins found in {found.path}. {problems}".strip(),
                Tone.INFO,
            )

    def _offer_logins(self, logins: list[DockerLogin]) -> None:
        labels = [f"{login.host} ({login.username})" for login in logins]
        chosen = Prompts.choose(self, "Docker logins", "Use the login for:", labels)
        if chosen is not None:
            self._use_login(logins[chosen])

    def _use_login(self, login: DockerLogin) -> None:
        if not self.url_edit.text().strip():
            self.url_edit.setText(login.registry_url)
        self.username_edit.setText(login.username)
        self.password_edit.setText(login.password)
        self.messages["username"].show_message(
            f"Filled in from the Docker login for {login.host} ({login.source}).",
            Tone.GOOD,
        )

    # --- messages ---------------------------------------------------------------

    def _show_field_error(self, field: str, text: str) -> None:
        self.messages.get(field, self.messages["url"]).show_error(text)

    def _clear_messages(self) -> None:
        for message in self.messages.values():
            message.clear()


def _stacked(edit: QWidget, message: FieldMessage) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    layout.addWidget(edit)
    layout.addWidget(message)
    return box


def _report_html(report: ConnectionReport) -> str:
    def line(ok: bool | None, label: str, text: str) -> str:
        mark = {True: "✔", False: "✘", None: "?"}[ok]
        color = {True: "#1e7d32", False: "#b3261e", None: "#8a5a00"}[ok]
        return f"<span style='color:{color}'>{mark}</span> <b>{label}:</b> {text}"

    auth = {"none": "none (anonymous)", "basic": "Basic", "bearer": "Bearer token"}
    rows = [
        line(True, "Reachable", report.url),
        line(True, "API version", report.api_version or "not reported"),
        line(True, "Login", auth.get(report.auth_scheme, report.auth_scheme)),
        line(report.catalog_allowed, "Catalog", report.catalog_message),
        line(report.deletion_enabled, "Deletion", report.deletion_message),
    ]
    return "<br>".join(rows)
