import time
import uuid

from odoo import api, models
from odoo.tools.misc import consteq, hmac

PAYMENT_LINK_SCOPE = "invoice_client_pay.payment_link"


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

    The document's raw ``access_token`` never leaves the server: the portal
    links Odoo makes for the document (portal URL, share URL, the access button
    of notification emails) carry a signed token instead.

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
        # The portal chatter of a document opened through a payment link reads
        # with the link's signed token (the raw token is never handed out).
        thread = super()._get_thread_with_access(
            thread_id, hash=hash, pid=pid, token=token, **kwargs
        )
        return thread or self._get_thread_with_signed_link(thread_id, token)

    # === BUSINESS METHODS - SIGNED TOKENS === #

    @api.model
    def _is_payment_link_token(self, token):
        """Whether ``token`` has the shape of a signed link (vs a raw portal
        token, which is a UUID)."""
        if not isinstance(token, str):
            return False
        issued, sep, signature = token.partition(".")
        return bool(sep and issued.isdigit() and len(issued) <= 12 and signature)

    def _get_payment_link_signature(self, issued):
        self.ensure_one()
        return hmac(
            self.env(su=True),
            PAYMENT_LINK_SCOPE,
            (self._name, self.id, self.sudo().access_token or "", int(issued)),
        )

    def _get_payment_link_token(self):
        """A fresh signed token for this document (creates its portal token if
        it has none yet)."""
        self.ensure_one()
        self.sudo()._portal_ensure_token()
        issued = int(time.time())
        return f"{issued}.{self._get_payment_link_signature(issued)}"

    def _check_payment_link_token(self, token):
        """True only for a well-formed, untampered, unrevoked, unexpired link."""
        self.ensure_one()
        if not self._is_payment_link_token(token) or not self.sudo().access_token:
            return False
        issued_str, __, signature = token.partition(".")
        issued = int(issued_str)
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

    # === HOOKS === #

    def _is_payment_link_visible(self):
        """Whether a link may show this document at all (not a draft request)."""
        return True

    def _is_notified_with_payment_link(self):
        """Whether this document's notification emails carry its signed link
        (not a journal entry's)."""
        return True
