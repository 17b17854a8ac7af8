import re
import time
import uuid

from odoo import api, models
from odoo.tools.misc import consteq, hmac

PAYMENT_LINK_SCOPE = "invoice_client_pay.payment_link"
# ``<issued>.<signature>``: ASCII digits only (no Unicode digits such as "²"),
# at most 12 of them, then the hex SHA-256 HMAC. Anything else is not a link.
PAYMENT_LINK_TOKEN_RE = re.compile(r"([0-9]{1,12})\.([0-9a-f]{64})")
# The portal chatter's visitor identity: a partner id and the hex HMAC of
# ``mail.thread._sign_token``.
CHATTER_PID_RE = re.compile(r"[0-9]{1,10}")
CHATTER_HASH_RE = re.compile(r"[0-9a-f]{64}")
# Context key: the issue time of the link a page was opened with, per document
# (``{"<model>,<id>": issued}``), which the links derived on that page keep.
PAYMENT_LINK_ISSUED_KEY = "payment_link_issued"


class PaymentLinkMixin(models.AbstractModel):
    """Signed, revocable, expiring payment links for portal documents (invoices
    and credit requests).

    A link carries ``access_token=<issued>.<signature>``: ``issued`` is the Unix
    time the link was made, ``signature`` an HMAC (keyed by the database secret)
    of the model, the id, the document's current portal ``access_token`` and
    ``issued``. So:

    - tampering with any part breaks the signature;
    - revoking = giving the document a new ``access_token``: every earlier link
      stops matching;
    - a link expires ``payment_link_validity_days`` after ``issued`` (read from
      the company when the link is checked, 0 = never).

    The document's raw ``access_token`` never leaves the server, and alone it
    opens nothing (the controllers' ``_document_check_access`` and the chatter's
    ``_get_thread_with_access`` refuse it): the portal links Odoo makes for the
    document (portal URL, share URL, the access button of notification emails)
    carry a signed token instead. A page opened through a link derives its links
    with that link's issue time (``_get_payment_link_token``), so no link ever
    outlives the one it came from.

    The mixin does not inherit ``portal.mixin`` but overrides its methods: a
    model using it lists it BEFORE ``portal.mixin`` and the mail models in its
    ``_inherit`` (``["invoice_client_pay.payment.link.mixin", "portal.mixin",
    ...]``, or ``["invoice_client_pay.payment.link.mixin", "account.move"]`` to
    extend an existing model), so that these methods come first in the class's
    MRO and their ``super()`` reaches Odoo's.
    """

    _name = "invoice_client_pay.payment.link.mixin"
    _description = "Signed Payment Link"

    # === ACTION METHODS === #

    def action_revoke_payment_link(self):
        """Make every payment link sent so far for these documents stop working:
        they get a new portal token, which no earlier signature matches."""
        self.check_access("write")
        for document in self:
            document.sudo().access_token = str(uuid.uuid4())
            document.message_post(
                body=self.env._(
                    "Payment links revoked: links sent before now no longer work."
                )
            )
        return True

    # === BUSINESS METHODS - PORTAL LINKS === #

    def get_secure_payment_url(self):
        """The absolute link, carried by emails, that opens this document's
        payment page without logging in."""
        self.ensure_one()
        return self.get_base_url() + self._get_payment_link_path()

    def get_portal_url(
        self,
        suffix=None,
        report_type=None,
        download=None,
        query_string=None,
        anchor=None,
    ):
        url = super().get_portal_url(
            suffix=suffix,
            report_type=report_type,
            download=download,
            query_string=query_string,
            anchor=anchor,
        )
        return self._replace_raw_token(url)

    def _get_share_url(
        self, redirect=False, signup_partner=False, pid=None, share_token=True
    ):
        # A direct signed link, not Odoo's /mail/view redirection: that one
        # checks the raw token, which never leaves the server.
        url = super()._get_share_url(
            redirect=redirect and not share_token,
            signup_partner=signup_partner,
            pid=pid,
            share_token=share_token,
        )
        return self._replace_raw_token(url)

    def _notify_get_recipients_groups(self, message, model_description, msg_vals=False):
        # Notification emails (sending, reminders) carry the signed, expiring link.
        groups = super()._notify_get_recipients_groups(
            message, model_description, msg_vals=msg_vals
        )
        if not self or not self._is_notified_with_payment_link():
            return groups
        return self._secure_notification_buttons(groups)

    @api.model
    def _get_thread_with_access(
        self, thread_id, *, hash=None, pid=None, token=None, **kwargs
    ):
        # Logged in: the user's own rights. Otherwise only a valid signed link
        # opens the chatter - never the raw portal token, nor a visitor identity
        # (``hash``/``pid``) alone, which would outlive the link. A malformed or
        # forged identity next to a link is refused too: a plain 404.
        thread = super()._get_thread_with_access(thread_id, **kwargs)
        if thread:
            return thread
        thread_sudo = self._get_thread_with_signed_link(thread_id, token)
        if thread_sudo and thread_sudo._check_chatter_identity(hash, pid):
            return thread_sudo
        return self.browse()

    # === BUSINESS METHODS - SIGNED TOKENS === #

    @api.model
    def _parse_payment_link_token(self, token):
        """The issue time of ``token`` if it has the shape of a signed link, else
        None. Safe on anything a request may carry (non-strings, non-ASCII,
        Unicode digits, empty parts, huge numbers)."""
        if not isinstance(token, str):
            return None
        match = PAYMENT_LINK_TOKEN_RE.fullmatch(token)
        return int(match.group(1)) if match else None

    @api.model
    def _is_payment_link_token(self, token):
        """Whether ``token`` has the shape of a signed link (vs a raw portal
        token, which is a UUID, or garbage)."""
        return self._parse_payment_link_token(token) is not None

    def _get_payment_link_signature(self, issued):
        self.ensure_one()
        return hmac(
            self.env(su=True),
            PAYMENT_LINK_SCOPE,
            (self._name, self.id, self.sudo().access_token or "", int(issued)),
        )

    def _get_payment_link_token(self, issued=None):
        """A signed token for this document (creates its portal token if it has
        none yet), issued at ``issued``; by default at the issue time of the
        link the current page was opened with (``_with_payment_link_issued``),
        else now."""
        self.ensure_one()
        self.sudo()._portal_ensure_token()
        if issued is None:
            issued = self.env.context.get(PAYMENT_LINK_ISSUED_KEY, {}).get(
                f"{self._name},{self.id}"
            )
        if issued is None:
            issued = int(time.time())
        return f"{issued}.{self._get_payment_link_signature(issued)}"

    def _with_payment_link_issued(self, token):
        """This document with the issue time of ``token`` (a checked link) in
        its context: every link derived from it keeps that issue time."""
        self.ensure_one()
        issued = self._parse_payment_link_token(token)
        links_issued = {
            **self.env.context.get(PAYMENT_LINK_ISSUED_KEY, {}),
            f"{self._name},{self.id}": issued,
        }
        return self.with_context(**{PAYMENT_LINK_ISSUED_KEY: links_issued})

    def _check_payment_link_token(self, token):
        """True only for a well-formed, untampered, unrevoked, unexpired link."""
        self.ensure_one()
        issued = self._parse_payment_link_token(token)
        if issued is None or not self.sudo().access_token:
            return False
        signature = token.partition(".")[2]
        if not consteq(signature, self._get_payment_link_signature(issued)):
            return False
        now = time.time()
        if issued > now + 300:  # Made in the future: not by us.
            return False
        days = self.sudo().company_id.payment_link_validity_days
        return not days or now < issued + days * 86400

    def _get_payment_link_path(self):
        self.ensure_one()
        return f"{self.access_url}?access_token={self._get_payment_link_token()}"

    def _replace_raw_token(self, url):
        """``url`` with the signed link token instead of the raw portal one."""
        self.ensure_one()
        raw = self.sudo().access_token
        if not raw or not url:
            return url
        return url.replace(
            f"access_token={raw}", f"access_token={self._get_payment_link_token()}", 1
        )

    def _secure_notification_buttons(self, groups):
        """Point the access buttons of notification emails at the signed link."""
        for __, __, group_data in groups:
            button = group_data.get("button_access")
            if button and "access_token=" in (button.get("url") or ""):
                button["url"] = self.get_secure_payment_url()
        return groups

    @api.model
    def _get_thread_with_signed_link(self, thread_id, token):
        """The document, sudoed, when ``token`` is a valid signed link for it
        (the portal chatter of a page opened through a payment link)."""
        if not self._is_payment_link_token(token):
            return self.browse()
        document_sudo = self.browse(thread_id).sudo().exists()
        if (
            document_sudo
            and document_sudo._is_payment_link_visible()
            and document_sudo._check_payment_link_token(token)
        ):
            return document_sudo
        return self.browse()

    def _check_chatter_identity(self, hash_, pid):
        """Whether the portal chatter's visitor identity is absent, or well
        formed and signed for this document (see ``mail.thread._sign_token``;
        revoking the links changes it). Safe on anything a request carries."""
        self.ensure_one()
        if not hash_ and not pid:
            return True
        if isinstance(pid, int) and not isinstance(pid, bool):
            pid = str(pid)
        if not (
            isinstance(pid, str)
            and isinstance(hash_, str)
            and CHATTER_PID_RE.fullmatch(pid)
            and CHATTER_HASH_RE.fullmatch(hash_)
        ):
            return False
        return consteq(hash_, self._sign_token(int(pid)))

    # === HOOKS === #

    def _is_payment_link_visible(self):
        """Whether a link may show this document at all (not a draft request)."""
        return True

    def _is_notified_with_payment_link(self):
        """Whether this document's notification emails carry its signed link
        (not a journal entry's)."""
        return True
