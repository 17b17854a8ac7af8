from odoo import api, models


class AccountMove(models.Model):
    _name = "account.move"
    _inherit = ["account.move", "invoice_client_pay.payment.link.mixin"]

    def get_secure_payment_url(self):
        """The absolute link, carried by invoice emails, that opens this invoice's
        payment page without logging in."""
        self.ensure_one()
        return self.get_base_url() + self._get_payment_link_path()

    # ------------------------------------------------------------
    # PORTAL LINKS: the signed link instead of the raw portal token
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
        # Invoice emails (sending, reminders) carry the signed, expiring link.
        groups = super()._notify_get_recipients_groups(
            message, model_description, msg_vals=msg_vals
        )
        if not self or self.move_type == "entry":
            return groups
        return self._secure_notification_buttons(groups)

    @api.model
    def _get_thread_with_access(
        self, thread_id, *, hash=None, pid=None, token=None, **kwargs
    ):
        thread = super()._get_thread_with_access(
            thread_id, hash=hash, pid=pid, token=token, **kwargs
        )
        return thread or self._get_thread_with_signed_link(thread_id, token)

    def _is_client_payable_invoice(self):
        """A posted customer invoice with something still to pay."""
        self.ensure_one()
        return (
            self.move_type == "out_invoice"
            and self.state == "posted"
            and self.payment_state not in ("paid", "in_payment", "reversed", "blocked")
            and self.currency_id.compare_amounts(self.amount_residual, 0) > 0
        )

    def _get_client_unpaid_invoice_domain(self, commercial_partner, company=None):
        domain = [
            ("move_type", "=", "out_invoice"),
            ("state", "=", "posted"),
            ("commercial_partner_id", "=", commercial_partner.id),
            ("payment_state", "not in", ("paid", "in_payment", "reversed", "blocked")),
            ("amount_residual", ">", 0),
        ]
        if company:
            domain.append(("company_id", "=", company.id))
        return domain
