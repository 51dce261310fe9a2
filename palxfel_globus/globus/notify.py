"""The mail server login the Globus notification action provider needs to send the flow's e-mail.

The provider does not send mail itself: each request carries SMTP (or AWS SES) credentials
(docs.globus.org/api/flows/hosted-action-providers/ap-notification-notify). Deploy reads the
password from a file only its owner can read and puts it in the timer's flow input under a
``_private`` key, which the flow passes on as a ``__Private_Parameters`` parameter: the two ways the
Flows "Protecting Secrets" page gives to keep a value out of what a run shows. It is never printed,
and the deployment file keeps no hash of it: only the file's path, size and change time, so a
new password replaces the timer on the next deploy.
"""

from __future__ import annotations

import os
import stat
from typing import Any, Optional

from palxfel_globus.config import Config
from palxfel_globus.errors import PalxfelError

NEEDED = ("sender", "smtp_host", "smtp_username", "smtp_password_file")


def send_credentials(config: Config) -> Optional[list[dict[str, Any]]]:
    """The ``send_credentials`` list for the notification action, or None when nobody is to be told."""
    notify = config.notify
    if not notify.email:
        return None
    missing = [key for key in NEEDED if getattr(notify, key) is None]
    if missing:
        raise PalxfelError(
            f"[notify] email is set, but the Globus notification action provider sends through your own mail "
            f"server: set [notify] {', '.join(missing)} (the password in a file only you can read), or remove "
            "[notify] email."
        )
    assert notify.smtp_password_file is not None
    value: dict[str, Any] = {
        "hostname": notify.smtp_host,
        "username": notify.smtp_username,
        "password": _read_password(notify.smtp_password_file),
    }
    if notify.smtp_port is not None:
        value["port"] = notify.smtp_port
    return [{"credential_type": "smtp", "credential_value": value}]


def _read_password(path: Any) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            password = handle.read().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise PalxfelError(f"[notify] smtp_password_file {path} cannot be read ({reason}).") from None
    if stat.S_IMODE(mode) & 0o077:
        raise PalxfelError(
            f"[notify] smtp_password_file {path} can be read by others (mode {stat.S_IMODE(mode):o}); "
            f"run 'chmod 600 {path}' and deploy again."
        )
    if not password:
        raise PalxfelError(f"[notify] smtp_password_file {path} is empty.")
    return password


def credentials_stamp(config: Config) -> Optional[list[Any]]:
    """What the timer's hash takes from the password file instead of the password."""
    path = config.notify.smtp_password_file
    if not config.notify.email or path is None:
        return None
    try:
        info = os.stat(path)
    except OSError:
        return [str(path)]
    return [str(path), info.st_size, info.st_mtime_ns]
