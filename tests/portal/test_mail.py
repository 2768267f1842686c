"""Every mail the product sends has one-line headers; what can never be sent says so at once."""

import smtplib

import pytest
from django.core import mail as outbox
from django.core.mail.backends.locmem import EmailBackend

from portal import mail


@pytest.mark.parametrize(
    ("title", "subject"),
    [
        ("Error rate high\non payments-api", "Error rate high on payments-api"),
        ("Checkout\r\n\r\nBcc: attacker@example.com", "Checkout Bcc: attacker@example.com"),
        ("tab\there, nul\x00 del\x7f c1\x85 ls\u2028ps\u2029.", "tab here, nul del c1 ls ps ."),
        ("  padded  ", "padded"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        ("🔥 emoji ‍ and ünïcödé stay", "🔥 emoji ‍ and ünïcödé stay"),
    ],
)
def test_a_subject_is_folded_into_one_line(title, subject):
    assert mail.mail_subject(title) == subject


def test_a_long_subject_is_cut_with_an_ellipsis():
    subject = mail.mail_subject("x" * 500)

    assert len(subject) == mail.SUBJECT_MAX_LENGTH
    assert subject.endswith("…")
    assert mail.mail_subject("x" * mail.SUBJECT_MAX_LENGTH) == "x" * mail.SUBJECT_MAX_LENGTH


def test_a_mail_with_a_title_on_two_lines_is_sent_with_headers_on_one():
    message_id = mail.mail_send(
        subject="[P1] INC-7: Error rate high\non payments-api",
        body="Error rate high\non payments-api\n",
        html="<p>Error rate high<br>on payments-api</p>",
        to=["olga@example.com"],
        headers={"List-Unsubscribe": "<https://x/u/1>\r\nBcc: attacker@example.com"},
    )

    (sent,) = outbox.outbox
    assert sent.subject == "[P1] INC-7: Error rate high on payments-api"
    assert sent.body == "Error rate high\non payments-api\n"  # the text keeps its lines
    assert sent.alternatives[0][0] == "<p>Error rate high<br>on payments-api</p>"
    built = sent.message()
    assert built["Message-ID"] == message_id
    assert built["List-Unsubscribe"] == "<https://x/u/1> Bcc: attacker@example.com"
    assert built["Bcc"] is None


@pytest.mark.parametrize("address", ["olga@@example.com", "olga", "olga@example.com\nBcc: x@y.z"])
def test_an_address_no_mail_can_reach_is_refused_before_sending(address):
    with pytest.raises(mail.MailRefused, match="not a valid email address"):
        mail.mail_send(subject="P1", body="down", to=[address])

    assert outbox.outbox == []


class _RefusingBackend(EmailBackend):
    code = 550

    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused({"olga@example.com": (self.code, b"no such user")})


class _BusyBackend(_RefusingBackend):
    code = 450


def test_a_mail_server_refusing_the_address_for_good_is_a_refusal(settings):
    settings.EMAIL_BACKEND = f"{__name__}._RefusingBackend"

    with pytest.raises(mail.MailRefused, match="refused the address"):
        mail.mail_send(subject="P1", body="down", to=["olga@example.com"])


def test_a_mail_server_refusing_for_now_is_an_error_worth_another_attempt(settings):
    settings.EMAIL_BACKEND = f"{__name__}._BusyBackend"

    with pytest.raises(smtplib.SMTPRecipientsRefused) as failed:
        mail.mail_send(subject="P1", body="down", to=["olga@example.com"])

    assert not isinstance(failed.value, mail.MailRefused)
