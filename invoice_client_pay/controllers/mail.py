from odoo.http import request, route

from odoo.addons.portal.controllers import mail as portal_mail
from odoo.addons.portal.controllers.portal_thread import PortalChatter

from .payment import ClientPayPaymentPortal


class ClientPayMailController(portal_mail.MailController):
    """`/mail/view` (the access point of notification emails) for invoices and
    credit requests: only a valid signed payment link opens them without
    logging in, and to that same link (same expiry). Odoo's would take the raw
    portal token (a link that never expires) and answer with a fresh link, and
    fail on a malformed one."""

    @classmethod
    def _redirect_to_record(cls, model, res_id, access_token=None, **kwargs):
        Document = request.env[model] if model and model in request.env else None
        if Document is None or not isinstance(
            Document, Document.pool["invoice_client_pay.payment.link.mixin"]
        ):
            return super()._redirect_to_record(
                model, res_id, access_token=access_token, **kwargs
            )
        res_id = ClientPayPaymentPortal._cast_as_record_id(res_id)
        document_sudo = Document.sudo().browse(res_id).exists() if res_id else None
        if (
            document_sudo
            and document_sudo._is_payment_link_visible()
            and document_sudo._check_payment_link_token(access_token)
        ):
            return request.redirect(
                f"{document_sudo.access_url}?access_token={access_token}"
            )
        return super()._redirect_to_record(
            model, res_id or False, access_token=None, **kwargs
        )


class ClientPayPortalChatter(PortalChatter):
    """The portal chatter's author avatars: a malformed visitor identity
    (``pid`` that is not a record id) is no identity, never an error."""

    @route()
    def portal_avatar(
        self, res_id=None, height=50, width=50, access_token=None, _hash=None, pid=None
    ):
        if pid is not None and not ClientPayPaymentPortal._cast_as_record_id(pid):
            pid = _hash = None
        return super().portal_avatar(
            res_id=res_id,
            height=height,
            width=width,
            access_token=access_token,
            _hash=_hash,
            pid=pid,
        )
