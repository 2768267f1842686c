"""Every email the product sends is built and sent here, so its headers are always valid.

Incident titles, alert summaries, team and page names end up in subjects, and they come from
people and monitoring systems: an Alertmanager annotation often spans lines. A header may not
(Django refuses it with `BadHeaderError`, and a message that can never be built would otherwise
be retried in vain). So every header value is folded into one line here: control characters
(CR, LF, tabs, NUL, DEL, the C1 range, Unicode line and paragraph separators) become spaces,
runs of spaces become one, and a subject longer than `SUBJECT_MAX_LENGTH` is cut with an
ellipsis. Bodies keep their lines; only what no mail can carry (NUL, lone surrogates) is dropped.

A mail that can never be sent as addressed (an invalid address, a header that can't be built, a
mail server that refuses every recipient permanently) raises `MailRefused`, so a caller can fail
it at once instead of trying again; any other failure to reach the mail server stays an
`OSError` (smtplib's errors are), worth another attempt.
"""

import re
import smtplib
import unicodedata
from collections.abc import Mapping, Sequence
from email.mime.base import MIMEBase
from email.utils import make_msgid

from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.mail.utils import DNS_NAME
from django.core.validators import validate_email

# Long enough for "[P1] PAGE INC-1234: " and a full title; mail clients show less anyway.
SUBJECT_MAX_LENGTH = 200
ELLIPSIS = "…"

_SPACES = re.compile(r"\s+")


class MailRefused(ValueError):
    """The mail can never be sent as it is (address or header): sending it again can't help."""


def _one_line_char(char: str) -> str:
    category = unicodedata.category(char)
    if category in ("Cc", "Zl", "Zp"):
        return " "
    if category == "Cs":  # a lone surrogate: no encoding can carry it
        return "\ufffd"
    return char


def header_text(value: object, *, max_length: int | None = None) -> str:
    """Return the value as one header-safe line, cut to `max_length` characters with "…"."""
    text = "".join(_one_line_char(char) for char in str(value))
    text = _SPACES.sub(" ", text).strip()
    if max_length is not None and len(text) > max_length:
        text = text[: max_length - len(ELLIPSIS)].rstrip() + ELLIPSIS
    return text


def mail_subject(value: object) -> str:
    """Return a subject as one line of at most SUBJECT_MAX_LENGTH characters."""
    return header_text(value, max_length=SUBJECT_MAX_LENGTH)


def body_text(value: str) -> str:
    """Return a mail body without what no mail can carry (NUL, lone surrogates); lines stay."""
    return "".join(
        "\ufffd" if unicodedata.category(char) == "Cs" else char for char in value if char != "\x00"
    )


def mail_address_check(address: str) -> str:
    """Return the address if a mail can be sent to it; raise MailRefused otherwise."""
    try:
        validate_email(address)
    except ValidationError:
        raise MailRefused(f"not a valid email address: {header_text(address)!r}") from None
    return address


def mail_message(
    *,
    subject: object,
    body: str,
    to: Sequence[str],
    html: str | None = None,
    headers: Mapping[str, str] | None = None,
    from_email: str | None = None,
    attachments: Sequence[MIMEBase] = (),
) -> EmailMultiAlternatives:
    """Return a mail whose subject and headers are one line each and whose addresses are valid.

    Raises MailRefused when an address is not one a mail can be sent to.
    """
    if not to:
        raise MailRefused("no address to send the mail to")
    message = EmailMultiAlternatives(
        subject=mail_subject(subject),
        body=body_text(body),
        from_email=from_email,
        to=[mail_address_check(address) for address in to],
        headers={header_text(name): header_text(value) for name, value in (headers or {}).items()},
    )
    if html is not None:
        message.attach_alternative(body_text(html), "text/html")
    for attachment in attachments:
        message.attach(attachment)
    return message


def _refused_for_good(exc: smtplib.SMTPRecipientsRefused) -> bool:
    codes = [code for code, _ in exc.recipients.values()]
    return bool(codes) and all(500 <= code < 600 for code in codes)


def mail_deliver(message: EmailMultiAlternatives) -> str:
    """Send a mail built by `mail_message`; return its Message-ID.

    Raises MailRefused when it can never be sent (the message can't be built, or the mail
    server refuses every recipient with a permanent 5xx), OSError when the mail server could
    not be reached or refused it for now.
    """
    # Fixed before building, so the Message-ID returned is the one sent.
    message.extra_headers.setdefault("Message-ID", make_msgid(domain=DNS_NAME))
    try:
        message.message()
    except (ValueError, UnicodeError) as exc:  # BadHeaderError is a ValueError
        raise MailRefused(f"the mail can't be built: {exc}") from exc
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        if _refused_for_good(exc):
            raise MailRefused(f"the mail server refused the address: {exc.recipients}") from exc
        raise
    except (ValueError, UnicodeError) as exc:
        raise MailRefused(f"the mail can't be sent: {exc}") from exc
    return str(message.extra_headers["Message-ID"])


def mail_send(
    *,
    subject: object,
    body: str,
    to: Sequence[str],
    html: str | None = None,
    headers: Mapping[str, str] | None = None,
    from_email: str | None = None,
    attachments: Sequence[MIMEBase] = (),
) -> str:
    """Build a mail (see `mail_message`) and send it (see `mail_deliver`); return its Message-ID."""
    return mail_deliver(
        mail_message(
            subject=subject,
            body=body,
            to=to,
            html=html,
            headers=headers,
            from_email=from_email,
            attachments=attachments,
        )
    )
