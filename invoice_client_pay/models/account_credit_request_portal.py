from odoo import models

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

    def _replace_raw_token(self, url):
        raw = self.sudo().access_token
        if not raw:
            return url
        return url.replace(
            f"access_token={raw}", f"access_token={self._get_payment_link_token()}", 1
        )

    def get_portal_url(
        self, suffix=None, report_type=None, download=None, query_string=None, anchor=None
    ):
        url = super().get_portal_url(
            suffix=suffix,
            report_type=report_type,
            download=download,
            query_string=query_string,
            anchor=anchor,
        )
        return self._replace_raw_token(url)

    def _get_share_url(self, redirect=False, signup_partner=False, pid=None, share_token=True):
        url = super()._get_share_url(
            redirect=redirect, signup_partner=signup_partner, pid=pid, share_token=share_token
        )
        return self._replace_raw_token(url)

    def _notify_get_recipients_groups(self, message, model_description, msg_vals=False):
        groups = super()._notify_get_recipients_groups(
            message, model_description, msg_vals=msg_vals
        )
        if not self:
            return groups
        for __, __, group_data in groups:
            button = group_data.get("button_access")
            if button and "access_token=" in (button.get("url") or ""):
                button["url"] = self.get_secure_payment_url()
        return groups

    # ------------------------------------------------------------
    # BUSINESS
    # ------------------------------------------------------------

    def _is_payable_online(self):
        self.ensure_one()
        return self.state in PAYABLE_STATES and self.currency_id.compare_amounts(
            self.amount_residual, 0
        ) > 0
