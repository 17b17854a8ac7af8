from odoo import api, models

# States in which a client can pay a request online: sent, or pending (a bank
# transfer may never arrive; the client can still pay another way).
PAYABLE_STATES = ("sent", "pending")
# States a client sees on the portal: a draft is not yet the client's business.
PORTAL_STATES = ("sent", "pending", "paid", "cancel")


class AccountCreditRequest(models.Model):
    _name = "account.credit.request"
    _inherit = ["account.credit.request", "invoice_client_pay.payment.link.mixin"]

    # ------------------------------------------------------------
    # PORTAL LINKS: never hand out the raw portal token
    # ------------------------------------------------------------

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
        groups = super()._notify_get_recipients_groups(
            message, model_description, msg_vals=msg_vals
        )
        if not self:
            return groups
        return self._secure_notification_buttons(groups)

    @api.model
    def _get_thread_with_access(
        self, thread_id, *, hash=None, pid=None, token=None, **kwargs
    ):
        # The portal chatter of a request opened through a payment link reads
        # with the link's signed token (the raw token is never handed out).
        thread = super()._get_thread_with_access(
            thread_id, hash=hash, pid=pid, token=token, **kwargs
        )
        return thread or self._get_thread_with_signed_link(thread_id, token)

    def _is_payment_link_visible(self):
        self.ensure_one()
        return self.state != "draft"

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _is_payable_online(self):
        self.ensure_one()
        return (
            self.state in PAYABLE_STATES
            and self.currency_id.compare_amounts(self.amount_residual, 0) > 0
        )
