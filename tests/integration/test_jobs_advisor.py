"""daily_advisor against real Postgres and a tiny local SMTP server.

The server (socketserver on 127.0.0.1:0) speaks just enough SMTP for
smtplib: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
"""

from __future__ import annotations

import email
import email.policy
import smtplib
import socket
import socketserver
import threading
from collections.abc import Iterator
from datetime import date
from email.message import Message

import pytest

from tasks.jobs.advisor import daily_advisor
from tasks.jobs.settings import job_settings
from tests.integration.jobs_support import add_recipe, add_user, log_food, make_ctx, utc

DAY = date(2026, 3, 5)
EVENING_BERLIN = utc("2026-03-05 19:00")  # 20:00 CET


class SMTPHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        inbox: list[bytes] = self.server.inbox  # type: ignore[attr-defined]
        self.wfile.write(b"220 test ESMTP\r\n")
        data: list[bytes] | None = None
        while line := self.rfile.readline():
            if data is not None:
                if line in (b".\r\n", b".\n"):
                    inbox.append(b"".join(data))
                    data = None
                    self.wfile.write(b"250 queued\r\n")
                else:
                    data.append(line[1:] if line.startswith(b"..") else line)
                continue
            verb = line.strip().split(b" ", 1)[0].upper()
            self.server.verbs.append(verb)  # type: ignore[attr-defined]
            if verb == b"EHLO":
                self.wfile.write(b"250-test\r\n250 8BITMIME\r\n")
            elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                self.wfile.write(b"250 ok\r\n")
            elif verb == b"DATA":
                data = []
                self.wfile.write(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                reply = self.server.quit_reply  # type: ignore[attr-defined]
                self.wfile.write(reply)
                return
            else:
                self.wfile.write(b"502 not implemented\r\n")


class Mailbox(list[bytes]):
    url = ""
    server: socketserver.ThreadingTCPServer


@pytest.fixture
def smtp(monkeypatch) -> Iterator[Mailbox]:
    """A running SMTP server; TASKS_SMTP_URL points at it; the list fills with raw messages."""
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SMTPHandler)
    server.daemon_threads = True
    inbox = Mailbox()
    inbox.url = f"smtp://127.0.0.1:{server.server_address[1]}"
    server.inbox = inbox  # type: ignore[attr-defined]
    server.quit_reply = b"221 bye\r\n"  # type: ignore[attr-defined]
    server.verbs = []  # type: ignore[attr-defined]
    inbox.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("TASKS_SMTP_URL", inbox.url)
    monkeypatch.setenv("TASKS_SMTP_FROM", "advisor@meals.test")
    try:
        yield inbox
    finally:
        server.shutdown()
        server.server_close()


def parts(raw: bytes) -> tuple[Message, str, str]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    text = html = ""
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True).decode()
        elif part.get_content_type() == "text/html":
            html = part.get_payload(decode=True).decode()
    return msg, text, html


def known_day(db) -> int:
    """2,000 kcal target (macros derived: 100 g protein, 250 g carbs, 66.7 g fat)."""
    user = add_user(db, "ada@example.com", "Europe/Berlin", calorie_target=2000, advisor_email=True)
    log_food(db, user, DAY, "breakfast", 500, 15, 70, 20, "Pancakes")
    log_food(db, user, DAY, "lunch", 700, 25, 80, 40, "Pizza", recipe_id=None)
    log_food(db, user, DAY, "dinner", 300, 20, 50, 30, "Nachos")
    log_food(db, user, date(2026, 3, 4), "dinner", 900, 50, 50, 50, "yesterday, not counted")
    add_recipe(db, "protein-bowl", ["breakfast"], 450, 40, 45, 10, "Protein bowl")
    add_recipe(db, "pastry", ["breakfast"], 600, 6, 70, 35, "Pastry")
    add_recipe(db, "chicken-salad", ["lunch"], 600, 55, 40, 15, "Chicken salad")
    add_recipe(db, "fries", ["lunch"], 800, 8, 90, 45, "Fries")
    add_recipe(db, "salmon", ["dinner"], 700, 50, 55, 20, "Salmon and rice")
    add_recipe(db, "cake", ["dinner"], 750, 7, 100, 38, "Cake")
    return user


def test_numbers_on_a_known_day_and_a_useful_email(db, database, smtp):
    user = known_day(db)
    out = daily_advisor(make_ctx(database, "daily_advisor", user, EVENING_BERLIN))

    assert out["sent"] is True and out["day"] == "2026-03-05" and out["entries"] == 3
    n = out["nutrients"]
    assert n["calories"] == {
        "eaten": 1500.0,
        "target": 2000.0,
        "diff": -500.0,
        "pct": -25.0,
        "verdict": "under",
    }
    assert (n["protein_g"]["eaten"], n["protein_g"]["target"], n["protein_g"]["verdict"]) == (
        60.0,
        100.0,
        "under",
    )
    assert (n["carbs_g"]["eaten"], n["carbs_g"]["pct"], n["carbs_g"]["verdict"]) == (
        200.0,
        -20.0,
        "under",
    )
    assert (n["fat_g"]["eaten"], n["fat_g"]["target"], n["fat_g"]["verdict"]) == (
        90.0,
        66.7,
        "over",
    )
    # Short on protein, over on fat: the lean, protein-rich recipes, one per meal.
    assert [(r["meal_type"], r["recipe_id"]) for r in out["recommendations"]] == [
        ("breakfast", "protein-bowl"),
        ("lunch", "chicken-salad"),
        ("dinner", "salmon"),
    ]
    assert out["for_day"] == "2026-03-06"

    assert len(smtp) == 1
    msg, text, html = parts(smtp[0])
    assert msg["To"] == "ada@example.com" and msg["From"] == "advisor@meals.test"
    assert msg["Message-ID"] == f"<advisor.{user}.2026-03-05@meals.test>"
    assert msg["Subject"] == "Your day, Thu 5 Mar: under on calories, protein, carbs; over on fat"
    assert "1,500 kcal" in text and "of  2,000 kcal" in text and "-25%" in text
    assert "breakfast: Protein bowl" in text and "dinner: Salmon and rice" in text
    assert "<table" in html and "Chicken salad" in html and "<b>over</b>" in html
    row = db.execute("SELECT status, attempts, summary FROM advisor_emails").fetchone()
    assert row["status"] == "sent" and row["attempts"] == 1
    assert row["summary"]["nutrients"]["fat_g"]["verdict"] == "over"


def test_a_retry_after_a_successful_send_does_not_send_again(db, database, smtp):
    user = known_day(db)
    ctx = make_ctx(database, "daily_advisor", user, EVENING_BERLIN)
    assert daily_advisor(ctx)["sent"] is True
    again = daily_advisor(ctx)
    assert again["sent"] is False and again["reason"].startswith("already sent at ")
    assert len(smtp) == 1


def test_an_attempt_that_died_mid_send_is_not_repeated(db, database, smtp):
    user = known_day(db)
    db.execute(
        """INSERT INTO advisor_emails (user_id, day, status, message_id, recipient, subject)
                  VALUES (%s, %s, 'sending', '<x@y>', 'ada@example.com', 's')""",
        (user, DAY),
    )
    out = daily_advisor(make_ctx(database, "daily_advisor", user, EVENING_BERLIN))
    assert out["sent"] is False and "at most once" in out["reason"]
    assert smtp == []


def test_a_refused_send_fails_the_attempt_and_the_retry_sends(db, database, smtp, monkeypatch):
    user = known_day(db)
    ctx = make_ctx(database, "daily_advisor", user, EVENING_BERLIN)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    monkeypatch.setenv("TASKS_SMTP_URL", f"smtp://127.0.0.1:{port}")
    job_settings.cache_clear()  # a worker started with this setting
    with pytest.raises(OSError):
        daily_advisor(ctx)
    row = db.execute("SELECT status, error FROM advisor_emails").fetchone()
    assert row["status"] == "failed" and "Connection" in row["error"]

    monkeypatch.setenv("TASKS_SMTP_URL", smtp.url)
    job_settings.cache_clear()  # ...and one started after the fix
    out = daily_advisor(ctx)
    assert out["sent"] is True and out["attempt"] == 2
    assert len(smtp) == 1


def test_skips_say_why(db, database, monkeypatch):
    monkeypatch.delenv("TASKS_SMTP_URL", raising=False)
    quiet = add_user(db, "quiet@example.com")
    assert "not opted in" in daily_advisor(make_ctx(database, "daily_advisor", quiet))["reason"]
    user = known_day(db)
    nothing = daily_advisor(
        make_ctx(database, "daily_advisor", user, EVENING_BERLIN, parameters={"day": "2026-03-01"})
    )
    assert nothing == {
        "user_id": user,
        "day": "2026-03-01",
        "sent": False,
        "reason": "nothing logged for this day",
    }
    no_smtp = daily_advisor(make_ctx(database, "daily_advisor", user, EVENING_BERLIN))
    assert no_smtp["sent"] is False and "TASKS_SMTP_URL is not set" in no_smtp["reason"]
    assert no_smtp["nutrients"]["calories"]["eaten"] == 1500.0


def test_a_failing_quit_after_an_accepted_message_is_still_a_send(db, database, smtp):
    # 250 for the message, then 421 for QUIT: the email went out; a retry must
    # not send it again.
    smtp.server.quit_reply = b"421 closing\r\n"  # type: ignore[attr-defined]
    user = known_day(db)
    ctx = make_ctx(database, "daily_advisor", user, EVENING_BERLIN)
    assert daily_advisor(ctx)["sent"] is True
    assert daily_advisor(ctx)["sent"] is False
    assert len(smtp) == 1


def test_a_password_never_crosses_without_tls(smtp: Mailbox, monkeypatch) -> None:
    """Issue 12: smtp://user:pass@host logged in over plain text."""
    from tasks.errors import ConfigError
    from tasks.jobs.mail import build_message, send
    from tasks.jobs.settings import MailSettings

    host = smtp.url.removeprefix("smtp://")
    with pytest.raises(ConfigError, match="plain text"):
        MailSettings.from_env({"TASKS_SMTP_URL": f"smtp://me:secret@{host}"})
    # STARTTLS asked for, the server does not offer it: no fallback, no AUTH.
    settings = MailSettings.from_env({"TASKS_SMTP_URL": f"smtp://me:secret@{host}?starttls=true"})
    assert settings is not None
    msg = build_message("a@meals.test", "b@meals.test", "s", "t", "<p>t</p>", "<x@meals.test>")
    with pytest.raises(smtplib.SMTPNotSupportedError):
        send(settings, msg)
    assert b"AUTH" not in smtp.server.verbs  # type: ignore[attr-defined]
    assert list(smtp) == []
