"""Sending one email over SMTP (smtplib), text + HTML, with a fixed Message-ID.

The Message-ID is derived from what the email is about (user and day), so
even the rare duplicate (a worker lost between the SMTP call and recording
it) carries the same id and mail clients fold it into one.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from tasks.jobs.settings import MailSettings

TIMEOUT_SECONDS = 30.0


def message_id(kind: str, key: str, sender: str) -> str:
    domain = sender.rsplit("@", 1)[-1].strip(">").strip() or "localhost"
    return f"<{kind}.{key}@{domain}>"


def build_message(
    sender: str, recipient: str, subject: str, text: str, html: str, msg_id: str
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = msg_id
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    return msg


def send(settings: MailSettings, msg: EmailMessage) -> None:
    """Deliver ``msg``; any refusal raises (smtplib.SMTPException or OSError)."""
    client: smtplib.SMTP
    if settings.use_tls:
        client = smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            timeout=TIMEOUT_SECONDS,
            context=ssl.create_default_context(),
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=TIMEOUT_SECONDS)
    try:
        if settings.starttls:
            # Raises SMTPNotSupportedError when the server does not offer
            # STARTTLS: never falls back to plain text.
            client.starttls(context=ssl.create_default_context())
        if settings.username:
            client.login(settings.username, settings.password or "")
        client.send_message(msg)
    except BaseException:
        client.close()
        raise
    # Accepted (250): the email is sent. A failing QUIT must not turn that into
    # a refusal, or the retry would send it again.
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()
